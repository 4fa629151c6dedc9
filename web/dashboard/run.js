// #/runs/ID: one run as it goes: its DAG (nodes coloured by status), a timeline of its step
// runs, every attempt of every step, the selected step run's log (followed while it runs), its
// metadata and metrics, where its outputs came from (the cache), the run's parameters, and Stop
// and Resume.

import {getJson, postJson, streamText, sleep} from './api.js';
import {follow} from './live.js';
import {h, s, clear, fill, fmtTime, fmtDuration, fmtValue, statusBadge, kvTable, errorBox, section,
        replaceQuery, runLink, artifactLink, shortDigest} from './dom.js';
import {drawGraph} from './graph.js';

const ENDED = new Set(['completed', 'failed', 'stopped', 'interrupted']);
const MAX_LOG_CHARS = 2 * 1024 * 1024;

const groupOf = (sr) => sr.group || sr.step.replace(/\[.*\]$/, '');
const startMs = (sr) => (sr.started_at && sr.started_at !== '-' ? Date.parse(sr.started_at) : NaN);

// The metrics of a step run: metadata.metrics when it is an object, else the metadata's numbers.
export function metricsOf(metadata) {
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) return {};
  const src = metadata.metrics && typeof metadata.metrics === 'object' && !Array.isArray(metadata.metrics)
    ? metadata.metrics : metadata;
  const out = {};
  for (const [k, v] of Object.entries(src)) if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
  return out;
}

// A step run's exit code as text ("" while it runs or when it has none).
const exitCode = (sr) =>
  sr.status === 'running' || sr.exit_code === null || sr.exit_code === undefined || sr.exit_code < 0 ? '' : String(sr.exit_code);

// The latest attempt of each step (or instance) of a run.
export function latestAttempts(steps) {
  const latest = new Map();
  for (const sr of steps || []) {
    const cur = latest.get(sr.step);
    if (!cur || sr.attempt > cur.attempt || (sr.attempt === cur.attempt && sr.id > cur.id)) latest.set(sr.step, sr);
  }
  return [...latest.values()];
}

// The status of a DAG node from its step runs (every instance's latest attempt).
function nodeStatus(runs, runEnded) {
  if (!runs.length) return runEnded ? 'notrun' : 'pending';
  const sts = latestAttempts(runs).map((r) => r.status);
  for (const st of ['running', 'failed', 'interrupted', 'stopped'])
    if (sts.includes(st)) return st;
  if (sts.every((x) => x === 'cached')) return 'cached';
  if (sts.every((x) => x === 'skipped')) return 'skipped';
  return 'completed';
}

// The DAG from the step runs alone (a server without /dag): a step needs the steps whose
// artifacts it read.
function dagFromSteps(steps) {
  const nodes = new Map();
  for (const sr of steps) {
    const g = groupOf(sr);
    if (!nodes.has(g)) nodes.set(g, {name: g, needs: new Set(), instances: Boolean(sr.group)});
    for (const a of Object.values(sr.inputs || {})) {
      const from = a.step.replace(/\[.*\]$/, '');
      if (from !== g) nodes.get(g).needs.add(from);
    }
  }
  return {steps: [...nodes.values()].map((n) => ({...n, needs: [...n.needs]})), derived: true};
}

export async function renderRun(el, id, query, {signal}) {
  const st = {run: null, dag: null, sel: query.get('step') || '', attempt: Number(query.get('attempt')) || 0,
              auto: !query.get('step')};

  const head = h('div', {id: 'run-head'});
  const actions = h('div', {id: 'run-actions', class: 'actions'});
  const actionError = h('div', {id: 'action-error'});
  const dagBox = h('div', {id: 'dag-box', class: 'scroll'});
  const gantt = h('div', {id: 'gantt-box', class: 'scroll'});
  const stepsBox = h('div', {id: 'steps-box'});
  const detail = h('div', {id: 'step-detail'});
  const metricsBox = h('div', {id: 'run-metrics'});
  const paramsBox = h('div', {id: 'run-params'});
  const logPre = h('pre', {id: 'log', class: 'log', tabindex: 0});
  const logState = h('span', {id: 'log-state', class: 'muted'});

  clear(el).append(
    head, h('div', {class: 'actions-row'}, actions, actionError),
    section('DAG', dagBox, h('p', {class: 'legend'}, ['pending', 'running', 'completed', 'cached', 'failed', 'stopped', 'skipped']
      .map((x) => h('span', {class: `dot st-${x}`}, x)))),
    section('Timeline', gantt),
    h('div', {class: 'two'}, section('Steps', stepsBox),
      h('div', null, section('Parameters', paramsBox), section('Metrics', metricsBox))),
    section('Step', detail, h('h3', null, 'Log ', logState), logPre));

  // ---- data
  async function loadRun() {
    st.run = await getJson(`/runs/${encodeURIComponent(id)}`, {signal});
  }
  async function loadDag() {
    try {
      st.dag = await getJson(`/runs/${encodeURIComponent(st.run.id)}/dag`, {signal});
    } catch (e) {
      if (e.status !== 404) throw e;
      st.dag = dagFromSteps(st.run.steps);
    }
  }
  const steps = () => st.run.steps || [];
  const ended = () => ENDED.has(st.run.status);

  // The selected step run: the named step (or instance) at the chosen attempt (0: the latest).
  function selected() {
    const same = steps().filter((sr) => sr.step === st.sel);
    if (!same.length) return null;
    if (st.attempt) return same.find((sr) => sr.attempt === st.attempt) || null;
    return latestAttempts(same)[0];
  }
  function select(step, attempt, byUser) {
    st.sel = step;
    st.attempt = attempt || 0;
    if (byUser) st.auto = false;
    const q = new URLSearchParams();
    if (!st.auto) q.set('step', step);
    if (!st.auto && attempt) q.set('attempt', String(attempt));
    replaceQuery(q);
    drawAll();
  }
  // Until the user picks one, the selection follows the step that started last.
  function autoSelect() {
    if (!st.auto) return;
    const all = steps();
    if (!all.length) return;
    const running = all.filter((sr) => sr.status === 'running');
    const pick = (running.length ? running : all).reduce((a, b) => (b.id > a.id ? b : a));
    st.sel = pick.step;
    st.attempt = 0;
  }

  // ---- drawing
  function drawHead() {
    const r = st.run;
    head.replaceChildren(
      h('h1', null, 'Run ', h('span', {class: 'mono', id: 'run-id'}, r.id), ' ', h('span', {id: 'run-status'}, statusBadge(r.status))),
      kvTable([
        ['Pipeline', h('a', {href: `#/runs?pipeline=${encodeURIComponent(r.pipeline)}`}, r.pipeline)],
        ['Created', fmtTime(r.created_at)],
        ['Ended', r.ended_at ? fmtTime(r.ended_at) : '-'],
        ['Duration', r.duration_s === null || r.duration_s === undefined ? (ended() ? '-' : 'running') : fmtDuration(r.duration_s)],
        ['Attempt', String(r.attempt)],
        ['Stack', `${r.stack || '-'} (${r.orchestrator || '-'})`],
        r.reason ? ['Reason', r.reason] : null,
        r.tags && r.tags.length ? ['Tags', r.tags.map((t) => h('span', {class: 'tag'}, t))] : null,
        r.note ? ['Note', r.note] : null,
        ['Cache', r.use_cache === false ? 'off' : 'on'],
        ['Snapshot', h('span', {class: 'mono'}, shortDigest(r.snapshot))],
      ], {id: 'run-info'}));
    actions.replaceChildren();
    if (r.status === 'running' || r.status === 'pending')
      actions.append(h('button', {id: 'stop', type: 'button', class: 'danger', onclick: () => act('stop')}, 'Stop'));
    if (r.status === 'failed' || r.status === 'stopped' || r.status === 'interrupted')
      actions.append(h('button', {id: 'resume', type: 'button', onclick: () => act('resume')}, 'Resume'));
    actions.append(h('a', {href: `#/compare?runs=${encodeURIComponent(r.id)}`, class: 'button'}, 'Compare…'));
  }

  function drawParams() {
    const p = st.run.parameters || {};
    const keys = Object.keys(p).sort();
    paramsBox.replaceChildren(keys.length ? kvTable(keys.map((k) => [k, fmtValue(p[k])]), {id: 'params'})
                                          : h('p', {class: 'muted'}, 'No parameters.'));
  }

  function drawDag() {
    const byGroup = new Map();
    for (const sr of steps()) {
      const g = groupOf(sr);
      (byGroup.get(g) || byGroup.set(g, []).get(g)).push(sr);
    }
    const cur = selected();
    const nodes = st.dag.steps.map((d) => {
      const runs = byGroup.get(d.name) || [];
      const status = nodeStatus(runs, ended());
      const latest = latestAttempts(runs);
      let sub = status;
      if (d.instances && latest.length) {
        const done = latest.filter((x) => ENDED.has(x.status) || x.status === 'cached' || x.status === 'skipped').length;
        sub = `${latest.length} instance${latest.length === 1 ? '' : 's'}, ${done} done`;
      } else if (latest[0]) {
        const a = latest[0];
        sub = `${status}${a.attempt > 1 ? ' · attempt ' + a.attempt : ''}${a.duration_s != null ? ' · ' + fmtDuration(a.duration_s) : ''}`;
      }
      return {id: d.name, needs: d.needs || [], label: d.name, sub, status,
              kind: d.instances ? 'group' : '', selected: cur && groupOf(cur) === d.name,
              title: `${d.name}: ${status}`,
              onClick: () => {
                const pick = latest.find((x) => x.status === 'running') || latest[0];
                if (pick) select(pick.step, 0, true);
              }};
    });
    dagBox.replaceChildren(drawGraph(nodes, {id: 'dag'}));
  }

  function drawGantt() {
    const all = steps().filter((sr) => !Number.isNaN(startMs(sr)));
    if (!all.length) {
      gantt.replaceChildren(h('p', {class: 'muted'}, 'No step has started yet.'));
      return;
    }
    all.sort((a, b) => startMs(a) - startMs(b) || a.id - b.id);
    const now = Date.now();
    const endMs = (sr) => (sr.duration_s != null ? startMs(sr) + sr.duration_s * 1000 : sr.status === 'running' ? now : startMs(sr));
    const created = Date.parse(st.run.created_at);
    const t0 = Math.min(...all.map(startMs), Number.isNaN(created) ? Infinity : created);
    const t1 = Math.max(...all.map(endMs), t0 + 1000);
    const labelW = 190;
    const plotW = 720;
    const rowH = 22;
    const top = 22;
    const width = labelW + plotW + 20;
    const height = top + all.length * rowH + 6;
    const x = (t) => labelW + ((t - t0) / (t1 - t0)) * plotW;
    const svg = s('svg', {id: 'gantt', class: 'gantt', width, height, viewBox: `0 0 ${width} ${height}`});
    const span = (t1 - t0) / 1000;
    for (let i = 0; i <= 5; i++) {
      const t = t0 + ((t1 - t0) * i) / 5;
      svg.append(s('line', {x1: x(t), x2: x(t), y1: top - 4, y2: height, class: 'tick'}),
                 s('text', {x: x(t), y: 14, class: 'axis', 'text-anchor': i === 0 ? 'start' : i === 5 ? 'end' : 'middle'},
                   `+${fmtDuration((span * i) / 5)}`));
    }
    const cur = selected();
    all.forEach((sr, i) => {
      const y = top + i * rowH;
      const bx = x(startMs(sr));
      const bw = Math.max(2, x(endMs(sr)) - bx);
      const label = sr.attempt > 1 ? `${sr.step} #${sr.attempt}` : sr.step;
      const row = s('g', {class: `bar st-${sr.status}${cur && cur.id === sr.id ? ' selected' : ''}`,
                          dataset: {step: sr.step, attempt: sr.attempt, status: sr.status}},
        s('title', null, `${sr.step}, attempt ${sr.attempt}: ${sr.status}, ${fmtDuration(sr.duration_s ?? (now - startMs(sr)) / 1000)}`),
        s('text', {x: 4, y: y + 15, class: 'rowlabel'}, label.length > 26 ? label.slice(0, 25) + '…' : label),
        s('rect', {x: bx, y: y + 3, width: bw, height: rowH - 6, rx: 3}));
      row.addEventListener('click', () => select(sr.step, sr.attempt, true));
      svg.append(row);
    });
    gantt.replaceChildren(svg);
  }

  function drawSteps() {
    const cur = selected();
    const rows = [...steps()].sort((a, b) => a.id - b.id).map((sr) => {
      const tr = h('tr', {class: cur && cur.id === sr.id ? 'selected clickable' : 'clickable',
                          dataset: {step: sr.step, attempt: sr.attempt, status: sr.status}},
        h('td', null, sr.step), h('td', null, String(sr.attempt)), h('td', null, statusBadge(sr.status)),
        h('td', null, fmtTime(sr.started_at)), h('td', null, sr.status === 'running' ? '…' : fmtDuration(sr.duration_s)),
        h('td', null, exitCode(sr)),
        h('td', null, sr.cached_from ? `from #${sr.cached_from}` : ''));
      tr.addEventListener('click', () => select(sr.step, sr.attempt, true));
      return tr;
    });
    stepsBox.replaceChildren(h('table', {id: 'steps', class: 'grid'},
      h('thead', null, h('tr', null, ['Step', 'Attempt', 'Status', 'Started', 'Duration', 'Exit', 'Cache'].map((t) => h('th', null, t)))),
      h('tbody', null, rows)));
  }

  function drawMetrics() {
    const rows = [];
    for (const sr of latestAttempts(steps()).sort((a, b) => a.id - b.id))
      for (const [k, v] of Object.entries(metricsOf(sr.metadata))) rows.push([`${sr.step}.${k}`, fmtValue(v)]);
    metricsBox.replaceChildren(rows.length ? kvTable(rows, {id: 'metrics'})
                                           : h('p', {class: 'muted'}, 'No metrics yet (a step writes them as JSON to $BATON_METADATA).'));
  }

  function drawDetail() {
    const sr = selected();
    if (!sr) {
      detail.replaceChildren(h('p', {class: 'muted'}, st.sel ? `${st.sel} has not started.` : 'Select a step in the DAG.'));
      return;
    }
    const siblings = steps().filter((x) => groupOf(x) === groupOf(sr));
    const instances = [...new Set(siblings.map((x) => x.step))];
    const attempts = steps().filter((x) => x.step === sr.step).sort((a, b) => a.attempt - b.attempt);
    const outs = Object.entries(sr.outputs || {});
    const ins = Object.entries(sr.inputs || {});
    const origin = sr.cached_from
      ? (() => {
          const fromRun = outs.map(([, a]) => a.run).find((r) => r && r !== st.run.id);
          return h('span', null, `step run #${sr.cached_from}`, fromRun ? [' of run ', runLink(fromRun)] : '');
        })()
      : 'executed';
    const metrics = metricsOf(sr.metadata);
    fill(detail,
      h('h3', {id: 'step-title'}, sr.step, ' ', statusBadge(sr.status)),
      instances.length > 1 ? h('div', {class: 'pills', id: 'instances'}, 'Instances: ', instances.map((name) =>
        h('button', {type: 'button', class: name === sr.step ? 'pill active' : 'pill', onclick: () => select(name, 0, true)}, name))) : null,
      h('div', {class: 'pills', id: 'attempts'}, 'Attempts: ', attempts.map((a) =>
        h('button', {type: 'button', class: `pill st-${a.status}${a.id === sr.id ? ' active' : ''}`, dataset: {attempt: a.attempt},
                     onclick: () => select(a.step, a.attempt, true)}, `${a.attempt}: ${a.status}`))),
      kvTable([
        ['Command', h('code', {class: 'cmd'}, sr.command || '-')],
        ['Started', fmtTime(sr.started_at)],
        ['Duration', sr.status === 'running' ? 'running' : fmtDuration(sr.duration_s)],
        ['Exit code', exitCode(sr) || '-'],
        sr.reason ? ['Reason', sr.reason] : null,
        ['Cache', h('span', {id: 'cache-origin'}, origin)],
        ['Cache key', h('span', {class: 'mono', title: sr.cache_key || ''}, sr.cache_key ? sr.cache_key.slice(0, 24) : '-')],
        ['Inputs', ins.length ? ins.map(([n, a]) => h('div', null, `${n}: `, artifactLink(a), ` (${a.step})`)) : '-'],
        ['Outputs', outs.length ? outs.map(([n, a]) => h('div', null, `${n}: `, artifactLink(a), ` ${shortDigest(a.digest)}`)) : '-'],
      ], {id: 'step-info'}),
      Object.keys(metrics).length ? [h('h3', null, 'Metrics'), kvTable(Object.entries(metrics).map(([k, v]) => [k, fmtValue(v)]), {id: 'step-metrics'})] : null,
      sr.metadata !== null && sr.metadata !== undefined
        ? [h('h3', null, 'Metadata'), h('pre', {class: 'json', id: 'step-metadata'}, JSON.stringify(sr.metadata, null, 2))]
        : null);
    startLog(sr);
  }

  function drawAll() {
    autoSelect();
    drawHead();
    drawParams();
    drawDag();
    drawGantt();
    drawSteps();
    drawMetrics();
    drawDetail();
  }

  // ---- the log of the selected step run, followed while it runs
  let log = {id: null, ctl: null};
  function startLog(sr) {
    if (log.id === sr.id) return;
    if (log.ctl) log.ctl.abort();
    log = {id: sr.id, ctl: new AbortController()};
    const ctl = log.ctl;
    signal.addEventListener('abort', () => ctl.abort(), {once: true});
    logPre.replaceChildren();
    followLog(sr, ctl.signal);
  }
  function appendLog(text) {
    const atBottom = logPre.scrollTop + logPre.clientHeight >= logPre.scrollHeight - 24;
    logPre.append(document.createTextNode(text));
    if (logPre.textContent.length > MAX_LOG_CHARS) {
      logPre.textContent = '…\n' + logPre.textContent.slice(-MAX_LOG_CHARS / 2);
    }
    if (atBottom) logPre.scrollTop = logPre.scrollHeight;
  }
  const statusNow = (srId) => (steps().find((x) => x.id === srId) || {}).status;
  async function followLog(sr, sig) {
    let offset = 0;
    const path = `/runs/${encodeURIComponent(st.run.id)}/steps/${encodeURIComponent(sr.step)}/log`;
    for (let round = 0; !sig.aborted; round++) {
      const running = statusNow(sr.id) === 'running';
      const q = new URLSearchParams({attempt: String(sr.attempt)});
      if (running) q.set('follow', '1');
      if (offset) q.set('offset', String(offset));
      logState.textContent = running ? '(following)' : '';
      logPre.dataset.following = running ? '1' : '0';
      try {
        offset += await streamText(`${path}?${q}`, {onText: appendLog, signal: sig});
      } catch (e) {
        if (sig.aborted) return;
        if (!running) {
          logState.textContent = e.status === 404 ? '(no log)' : '';
          // A cached step ran nothing (the server says whose log it is); other failures are errors.
          if (offset === 0) logPre.replaceChildren(e.status === 404 ? h('span', {class: 'muted'}, e.message) : errorBox(e));
          return;
        }
      }
      if (sig.aborted) return;
      if (!running) break;
      // The body ended while the step ran (the connection dropped, or a server that does not
      // follow): read on from where it stopped.
      if (statusNow(sr.id) !== 'running') {
        logState.textContent = '';
        logPre.dataset.following = '0';
        // What the step wrote between the last read and its end.
        try {
          const q2 = new URLSearchParams({attempt: String(sr.attempt), offset: String(offset)});
          offset += await streamText(`${path}?${q2}`, {onText: appendLog, signal: sig});
        } catch (e) {
          // the log as read so far stays
        }
        break;
      }
      await sleep(1000, sig);
    }
    if (!sig.aborted) {
      logState.textContent = '';
      logPre.dataset.following = '0';
      if (offset === 0 && !logPre.firstChild) logPre.append(h('span', {class: 'muted'}, '(empty)'));
    }
  }

  // ---- stop and resume
  async function act(what) {
    actionError.replaceChildren();
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    try {
      const j = await postJson(`/runs/${encodeURIComponent(st.run.id)}/${what}`, {}, {signal});
      if (j.run) st.run = {...st.run, ...j.run, steps: st.run.steps};
      drawHead();
      actionError.append(h('div', {class: 'notice'}, what === 'stop' ? 'Stopping the run…' : 'Resuming the run…'));
    } catch (e) {
      if (signal.aborted) return;
      actionError.append(errorBox(e));
      drawHead();
    }
  }

  // ---- live
  await loadRun();
  await loadDag();
  drawAll();
  let pendingReload = null;
  const reload = () => {
    if (pendingReload) return;
    pendingReload = setTimeout(async () => {
      pendingReload = null;
      try {
        await loadRun();
        const known = new Set(st.dag.steps.map((d) => d.name));
        if (st.dag.derived || steps().some((sr) => !known.has(groupOf(sr)))) await loadDag();
        drawAll();
      } catch (e) {
        // the next event or poll tries again
      }
    }, 300);
  };
  follow(`?run=${encodeURIComponent(st.run.id)}`, {
    signal,
    poll: async () => {
      await loadRun();
      if (st.dag.derived) st.dag = dagFromSteps(st.run.steps);
      drawAll();
    },
    onEvent: (type, data) => {
      if (type === 'run' && data.id === st.run.id) {
        const was = st.run.status;
        st.run = {...st.run, ...data, steps: st.run.steps};
        drawHead();
        drawDag();
        // At its end (or a resume) the run's records are read again whole.
        if (was !== data.status) reload();
      } else if (type === 'step' && data.run === st.run.id) {
        const list = st.run.steps || (st.run.steps = []);
        const i = list.findIndex((x) => x.id === data.id);
        if (i >= 0) list[i] = {...list[i], ...data};
        else list.push(data);
        if (!st.dag.steps.some((d) => d.name === groupOf(data))) {
          if (st.dag.derived) st.dag = dagFromSteps(list);
          else reload();
        }
        drawAll();
      }
    },
  });
  // Running bars grow with the clock.
  const tick = setInterval(() => {
    if (signal.aborted) clearInterval(tick);
    else if (!ended()) drawGantt();
  }, 1000);
}
