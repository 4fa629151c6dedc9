// #/compare?runs=A,B[,C]&metric=STEP.NAME: the runs' parameters, metrics and outputs side by side
// (rows that differ highlighted), and a plot of one metric across the runs of the pipeline, in
// the order they were created.

import {getJson} from './api.js';
import {h, s, clear, fmtTime, fmtValue, statusBadge, errorBox, section, runLink, shortDigest,
        replaceQuery} from './dom.js';
import {metricsOf, latestAttempts} from './run.js';

const PLOT_RUNS = 50;

// "step.metric" → value, from the latest attempt of each step that completed (or was cached).
export function runMetrics(run) {
  const out = {};
  for (const sr of latestAttempts(run.steps)) {
    if (sr.status !== 'completed' && sr.status !== 'cached') continue;
    for (const [k, v] of Object.entries(metricsOf(sr.metadata))) out[`${sr.step}.${k}`] = v;
  }
  return out;
}

function runOutputs(run) {
  const out = {};
  for (const sr of latestAttempts(run.steps))
    for (const [name, a] of Object.entries(sr.outputs || {})) out[`${sr.step}.${name}`] = a.digest;
  return out;
}

// A table with one row per key and one column per run; rows whose values differ get class diff.
function sideBySide(id, runs, values, fmt) {
  const keys = [...new Set(values.flatMap((v) => Object.keys(v)))].sort();
  if (!keys.length) return h('p', {class: 'muted', id}, 'None.');
  return h('table', {id, class: 'grid compare'},
    h('thead', null, h('tr', null, h('th', null, ''), runs.map((r) => h('th', null, runLink(r.id))))),
    h('tbody', null, keys.map((k) => {
      const cells = values.map((v) => (k in v ? JSON.stringify(v[k]) : undefined));
      const differs = cells.some((c) => c !== cells[0]);
      return h('tr', {class: differs ? 'diff' : null, dataset: {key: k}},
        h('th', null, k), values.map((v) => h('td', {class: k in v ? null : 'missing'}, k in v ? fmt(v[k]) : '—')));
    })));
}

// An SVG line plot of points [{x: index, y, label, highlight}].
function plot(points, metric) {
  const W = 760, H = 280, L = 64, R = 16, T = 16, B = 40;
  const svg = s('svg', {id: 'plot', class: 'plot', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img'},
    s('title', null, `${metric} across runs`));
  if (!points.length) {
    svg.append(s('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis'}, `No run has ${metric}.`));
    return svg;
  }
  const ys = points.map((p) => p.y);
  let lo = Math.min(...ys), hi = Math.max(...ys);
  if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
  const n = points.length;
  const x = (i) => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    svg.append(s('line', {x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'tick'}),
               s('text', {x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis'}, fmtValue(v)));
  }
  svg.append(s('text', {x: L, y: H - 8, class: 'axis'}, fmtTime(points[0].created)),
             s('text', {x: W - R, y: H - 8, 'text-anchor': 'end', class: 'axis'}, fmtTime(points[n - 1].created)),
             s('text', {x: (W + L) / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis'}, 'runs, oldest first'));
  svg.append(s('polyline', {class: 'line', points: points.map((p, i) => `${x(i)},${y(p.y)}`).join(' ')}));
  points.forEach((p, i) => {
    const c = s('circle', {cx: x(i), cy: y(p.y), r: p.highlight ? 6 : 4, class: p.highlight ? 'point hl' : 'point',
                           tabindex: 0, dataset: {run: p.label}},
      s('title', null, `${p.label}: ${fmtValue(p.y)}`));
    c.addEventListener('click', () => { location.hash = `#/runs/${encodeURIComponent(p.label)}`; });
    svg.append(c);
  });
  return svg;
}

// Runs `fn` over `items`, `width` at a time.
async function pool(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({length: Math.min(width, items.length)}, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

export async function renderCompare(el, query, {signal}) {
  const ids = (query.get('runs') || '').split(',').map((x) => x.trim()).filter(Boolean);
  const input = h('input', {id: 'compare-runs', name: 'runs', value: ids.join(','), size: 60,
                            placeholder: 'run ids, comma-separated'});
  const form = h('form', {class: 'filters'}, h('label', null, 'Runs ', input), h('button', {type: 'submit'}, 'Compare'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = `#/compare?runs=${input.value.split(',').map((x) => encodeURIComponent(x.trim())).filter(Boolean).join(',')}`;
  });
  clear(el).append(h('h1', null, 'Compare runs'), form);
  if (!ids.length) {
    el.append(h('p', {class: 'muted'}, 'Pick runs in the runs list (the boxes) and press “Compare selected”, or name them above.'));
    return;
  }
  const runs = await Promise.all(ids.map((id) => getJson(`/runs/${encodeURIComponent(id)}`, {signal})));
  const metrics = runs.map(runMetrics);
  el.append(
    h('table', {class: 'grid', id: 'compare-head'},
      h('thead', null, h('tr', null, ['Run', 'Pipeline', 'Status', 'Created'].map((t) => h('th', null, t)))),
      h('tbody', null, runs.map((r) => h('tr', null, h('td', null, runLink(r.id)), h('td', null, r.pipeline),
                                               h('td', null, statusBadge(r.status)), h('td', null, fmtTime(r.created_at)))))),
    section('Parameters', sideBySide('params', runs, runs.map((r) => r.parameters || {}), fmtValue)),
    section('Metrics', sideBySide('metrics', runs, metrics, fmtValue)),
    section('Outputs', sideBySide('outputs', runs, runs.map(runOutputs), shortDigest)));

  // The plot: one metric over the latest runs of the first run's pipeline.
  const names = [...new Set(metrics.flatMap((m) => Object.keys(m)))].sort();
  const plotBox = h('div', {id: 'plot-box'});
  const chooser = h('select', {id: 'plot-metric'}, names.map((n) => h('option', {value: n}, n)));
  const pipeline = runs[0].pipeline;
  el.append(section(`A metric across the runs of ${pipeline}`,
    names.length ? h('label', null, 'Metric ', chooser) : h('p', {class: 'muted'}, 'These runs have no metrics.'), plotBox));
  if (!names.length) return;
  // The metric asked for, else the first that differs between the runs compared.
  const differs = names.find((n) => metrics.some((m) => JSON.stringify(m[n]) !== JSON.stringify(metrics[0][n])));
  chooser.value = names.includes(query.get('metric')) ? query.get('metric') : differs || names[0];

  const list = await getJson(`/runs?pipeline=${encodeURIComponent(pipeline)}&limit=${PLOT_RUNS}`, {signal});
  const known = new Map(runs.map((r) => [r.id, r]));
  const full = await pool(list.runs, 4, async (r) => known.get(r.id) ||
    getJson(`/runs/${encodeURIComponent(r.id)}`, {signal}).catch(() => null));
  const series = full.filter(Boolean).sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0))
    .map((r) => ({run: r, m: runMetrics(r)}));
  const draw = () => {
    const metric = chooser.value;
    const q = new URLSearchParams({runs: ids.join(','), metric});
    replaceQuery(q);
    const points = series.filter(({m}) => typeof m[metric] === 'number')
      .map(({run, m}) => ({y: m[metric], label: run.id, created: run.created_at, highlight: ids.includes(run.id)}));
    plotBox.replaceChildren(plot(points, metric),
      h('p', {class: 'muted', id: 'plot-note'}, `${points.length} of the latest ${series.length} runs of ${pipeline} have ${metric}; the compared runs are the larger points.`));
  };
  chooser.addEventListener('change', draw);
  try {
    draw();
  } catch (e) {
    plotBox.replaceChildren(errorBox(e));
  }
}
