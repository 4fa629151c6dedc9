// #/runs: the runs, newest first, filtered by pipeline, status and tag (by the server) and by
// date (here, on created_at); rows come and change as runs start and end.

import {getJson} from './api.js';
import {follow} from './live.js';
import {h, clear, fmtTime, fmtDuration, statusBadge, replaceQuery, runLink} from './dom.js';

const STATUSES = ['', 'pending', 'running', 'completed', 'failed', 'stopped', 'interrupted'];
const LIMITS = ['50', '200', '1000'];

// Whether a run passes the filters (the server's as well, for runs that come as events).
function passes(run, f) {
  if (f.pipeline && run.pipeline !== f.pipeline) return false;
  if (f.status && run.status !== f.status) return false;
  if (f.tag && !(run.tags || []).includes(f.tag)) return false;
  const created = Date.parse(run.created_at);
  if (f.since && !(created >= Date.parse(f.since + 'T00:00:00'))) return false;
  if (f.until && !(created < Date.parse(f.until + 'T00:00:00') + 86400000)) return false;
  return true;
}

export async function renderRuns(el, query, {signal}) {
  const f = {
    pipeline: query.get('pipeline') || '',
    status: query.get('status') || '',
    tag: query.get('tag') || '',
    since: query.get('since') || '',
    until: query.get('until') || '',
    limit: query.get('limit') || '50',
  };
  let runs = [];
  const selected = new Set();
  const fresh = new Set();  // ids that came live, shown highlighted for a moment

  const input = (name, attrs) => h('input', {id: `f-${name}`, name, value: f[name], ...attrs});
  const statusSel = h('select', {id: 'f-status', name: 'status'},
    STATUSES.map((st) => h('option', {value: st, selected: st === f.status}, st || 'any')));
  const limitSel = h('select', {id: 'f-limit', name: 'limit'},
    LIMITS.map((n) => h('option', {value: n, selected: n === f.limit}, n)));
  const pipelines = h('datalist', {id: 'pipelines'});
  const form = h('form', {id: 'run-filters', class: 'filters'},
    h('label', null, 'Pipeline ', input('pipeline', {list: 'pipelines', placeholder: 'any', size: 14})), pipelines,
    h('label', null, 'Status ', statusSel),
    h('label', null, 'Tag ', input('tag', {placeholder: 'any', size: 10})),
    h('label', null, 'From ', input('since', {type: 'date'})),
    h('label', null, 'to ', input('until', {type: 'date'})),
    h('label', null, 'Show ', limitSel),
    h('button', {type: 'submit'}, 'Apply'));
  const compareBtn = h('button', {id: 'compare-selected', type: 'button', disabled: true}, 'Compare selected');
  const count = h('span', {id: 'run-count', class: 'muted'});
  const tbody = h('tbody');
  const table = h('table', {id: 'runs', class: 'grid'},
    h('thead', null, h('tr', null, h('th', null, ''), h('th', null, 'Run'), h('th', null, 'Pipeline'),
      h('th', null, 'Status'), h('th', null, 'Created'), h('th', null, 'Duration'), h('th', null, 'Attempt'),
      h('th', null, 'Tags'), h('th', null, 'Note'))),
    tbody);
  const err = h('div', {id: 'runs-error'});
  clear(el).append(h('h1', null, 'Runs'), form, h('div', {class: 'toolbar'}, compareBtn, count), err, table);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, String(v));
    if (q.get('limit') === '50') q.delete('limit');
    location.hash = '#/runs' + (q.toString() ? '?' + q : '');
  });
  // Date filters apply at once (they need no server round trip).
  for (const name of ['since', 'until']) {
    form.elements[name].addEventListener('change', () => {
      f[name] = form.elements[name].value;
      const q = new URLSearchParams(location.hash.split('?')[1] || '');
      if (f[name]) q.set(name, f[name]); else q.delete(name);
      replaceQuery(q);
      draw();
    });
  }
  compareBtn.addEventListener('click', () => {
    location.hash = '#/compare?runs=' + [...selected].map(encodeURIComponent).join(',');
  });

  function draw() {
    const shown = runs.filter((r) => passes(r, f));
    tbody.replaceChildren(...shown.map((r) => {
      const box = h('input', {type: 'checkbox', checked: selected.has(r.id), 'aria-label': `select ${r.id}`});
      box.addEventListener('change', () => {
        if (box.checked) selected.add(r.id); else selected.delete(r.id);
        compareBtn.disabled = selected.size < 2;
      });
      return h('tr', {dataset: {run: r.id, status: r.status}, class: fresh.has(r.id) ? 'fresh' : null},
        h('td', null, box),
        h('td', null, runLink(r.id)),
        h('td', null, r.pipeline),
        h('td', {class: 'status'}, statusBadge(r.status)),
        h('td', {title: r.created_at}, fmtTime(r.created_at)),
        h('td', null, r.status === 'running' ? '…' : fmtDuration(r.duration_s)),
        h('td', null, String(r.attempt)),
        h('td', null, (r.tags || []).map((t) => h('span', {class: 'tag'}, t))),
        h('td', {class: 'note'}, r.note || ''));
    }));
    count.textContent = `${shown.length} run${shown.length === 1 ? '' : 's'}`;
    const names = [...new Set(runs.map((r) => r.pipeline))].sort();
    pipelines.replaceChildren(...names.map((n) => h('option', {value: n})));
  }

  async function load() {
    const q = new URLSearchParams({limit: f.limit});
    for (const k of ['pipeline', 'status', 'tag']) if (f[k]) q.set(k, f[k]);
    const j = await getJson(`/runs?${q}`, {signal});
    runs = j.runs;
    err.replaceChildren();
    draw();
  }

  await load();
  follow('', {
    signal,
    poll: load,
    onEvent: (type, data) => {
      if (type !== 'run' || !data || !data.id) return;
      const i = runs.findIndex((r) => r.id === data.id);
      if (i >= 0) {
        runs[i] = {...runs[i], ...data};
      } else {
        runs.unshift(data);
        fresh.add(data.id);
        setTimeout(() => { fresh.delete(data.id); if (!signal.aborted) draw(); }, 3000);
        runs.sort((a, b) => (b.created_at > a.created_at ? 1 : b.created_at < a.created_at ? -1 : 0));
        if (runs.length > Number(f.limit)) runs.length = Number(f.limit);
      }
      draw();
    },
  });
}
