// Building the DOM without markup strings: every text a record holds goes in as a text node or an
// attribute value, never as HTML, so nothing a step, a user or an artifact wrote can run here.

const SVG_NS = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      for (const [dk, dv] of Object.entries(v)) el.dataset[dk] = String(dv);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (k === 'value' && 'value' in el) {
      el.value = String(v);
    } else if (k === 'checked' || k === 'selected' || k === 'disabled') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

// h('a', {href: '#/runs', class: 'x'}, 'text', child...): an HTML element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

// The same for SVG elements.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// Replaces the children of `el` (null, false and nested arrays allowed, as in h()).
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtTime(iso) {
  if (!iso || iso === '-') return '-';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
         `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '-';
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

// A value of a parameter or metric as one line of text.
export function fmtValue(v) {
  if (v === undefined) return '';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

export function statusBadge(status) {
  return h('span', {class: `badge st-${status}`, dataset: {status}}, status);
}

export function shortDigest(d) {
  return d ? d.replace(/^sha256:/, '').slice(0, 12) : '';
}

// A section with a heading.
export function section(title, ...children) {
  return h('section', {class: 'panel'}, h('h2', null, title), ...children);
}

// A two-column table of key/value rows (values are nodes or text).
export function kvTable(rows, attrs) {
  return h('table', {class: 'kv', ...attrs},
           h('tbody', null, rows.filter(Boolean).map(([k, v]) => h('tr', null, h('th', null, k), h('td', null, v)))));
}

export function errorBox(err) {
  const text = err && err.status ? `${err.status} ${err.code || ''}: ${err.message}` : String(err && err.message || err);
  return h('div', {class: 'error', role: 'alert'}, text);
}

// A route in the hash: "#/runs/ID?x=1" → {parts: ['runs', 'ID'], query: URLSearchParams}.
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return {parts, query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))};
}

// Changes the hash's query without a new page (no hashchange event, no history entry).
export function replaceQuery(query) {
  const {parts} = parseHash(location.hash);
  const qs = query.toString();
  const hash = '#/' + parts.map(encodeURIComponent).join('/') + (qs ? '?' + qs : '');
  history.replaceState(null, '', hash);
}

export function runLink(id) {
  return h('a', {href: `#/runs/${encodeURIComponent(id)}`, class: 'mono'}, id);
}

export function artifactLink(a) {
  return h('a', {href: `#/artifacts/${a.id}`, title: a.digest}, `${a.name} #${a.id}`);
}
