// #/artifacts/ID: an artifact, its lineage (the inputs its producer read → the producing step →
// the artifact → the steps that read it) and a preview of its content: text, JSON (pretty), CSV
// (a table), images; a directory lists its files and previews one.

import {getJson, request} from './api.js';
import {h, clear, fill, fmtTime, fmtBytes, kvTable, errorBox, section, runLink, replaceQuery} from './dom.js';
import {drawGraph} from './graph.js';

const PREVIEW_LIMIT = 256 * 1024;
const MAX_ROWS = 500;

// CSV text → rows of fields (RFC 4180 quoting; a tab-separated file when `sep` is '\t').
export function parseCsv(text, sep = ',') {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
    } else if (c === sep) {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else {
      field += c;
    }
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function looksLikeCsv(text, name) {
  const sep = /\.tsv$/i.test(name) ? '\t' : ',';
  const lines = text.split(/\r?\n/).filter((l) => l.length).slice(0, 20);
  if (lines.length < 2) return null;
  const n = parseCsv(lines.join('\n'), sep).map((r) => r.length);
  if (n[0] < 2 || !n.every((x) => x === n[0])) return null;
  return sep;
}

function sniffImage(bytes) {
  const b = (i) => bytes[i];
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47) return 'image/png';
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'image/jpeg';
  if (b(0) === 0x47 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x38) return 'image/gif';
  if (b(0) === 0x52 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x46 &&
      b(8) === 0x57 && b(9) === 0x45 && b(10) === 0x42 && b(11) === 0x50) return 'image/webp';
  return '';
}

function textOf(bytes) {
  try {
    const t = new TextDecoder('utf-8', {fatal: true}).decode(bytes);
    return t.includes('\u0000') ? null : t;
  } catch (e) {
    return null;
  }
}

// The preview of one file's bytes; `name` and `type` (the Content-Type) help tell what it is.
// Returns {node, kind}; image blob URLs are revoked when `signal` aborts.
export function previewOf(bytes, name, type, signal, truncated) {
  const image = sniffImage(bytes) || (/^image\/(png|jpeg|gif|webp)/.test(type) ? type.split(';')[0] : '');
  if (image) {
    if (truncated) return {kind: 'image', node: h('p', {class: 'muted'}, 'An image larger than the preview limit.')};
    const url = URL.createObjectURL(new Blob([bytes], {type: image}));
    signal.addEventListener('abort', () => URL.revokeObjectURL(url), {once: true});
    return {kind: 'image', node: h('img', {src: url, alt: name, class: 'preview-image'})};
  }
  const text = textOf(bytes);
  if (text === null) return {kind: 'binary', node: h('p', {class: 'muted'}, `Binary content (${type || 'unknown type'}), not shown.`)};
  const trimmed = text.trim();
  if (/json/.test(type) || /\.json$/i.test(name) || /^[[{]/.test(trimmed)) {
    try {
      const j = JSON.parse(trimmed);
      return {kind: 'json', node: h('pre', {class: 'json preview-json'}, JSON.stringify(j, null, 2))};
    } catch (e) {
      // not JSON after all (or cut at the limit)
    }
  }
  const sep = /csv|tab-separated/.test(type) || /\.(csv|tsv)$/i.test(name) ? (/\.tsv$/i.test(name) ? '\t' : ',') : looksLikeCsv(text, name);
  if (sep) {
    const rows = parseCsv(text, sep);
    if (truncated && rows.length > 1) rows.pop();  // the last row may be cut
    const [head, ...body] = rows;
    const table = h('table', {class: 'grid csv'},
      h('thead', null, h('tr', null, (head || []).map((c) => h('th', null, c)))),
      h('tbody', null, body.slice(0, MAX_ROWS).map((r) => h('tr', null, r.map((c) => h('td', null, c))))));
    const more = body.length > MAX_ROWS ? h('p', {class: 'muted'}, `${body.length - MAX_ROWS} more rows not shown.`) : null;
    return {kind: 'csv', node: h('div', {class: 'scroll'}, table, more)};
  }
  return {kind: 'text', node: h('pre', {class: 'text preview-text'}, text)};
}

export async function renderArtifact(el, id, query, {signal}) {
  const a = await getJson(`/artifacts/${encodeURIComponent(id)}`, {signal});
  const lineage = h('div', {id: 'lineage-box', class: 'scroll'});
  const preview = h('div', {id: 'preview', class: 'preview'});
  clear(el).append(
    h('h1', null, 'Artifact ', h('span', {class: 'mono'}, `${a.name} #${a.id}`)),
    kvTable([
      ['Step', `${a.step} (${a.pipeline})`],
      ['Run', runLink(a.run)],
      ['Version', String(a.version)],
      ['Kind', a.kind],
      ['Size', fmtBytes(a.size)],
      ['Digest', h('span', {class: 'mono'}, a.digest)],
      ['URI', h('span', {class: 'mono'}, a.uri)],
      ['Created', fmtTime(a.created_at)],
      a.materializer ? ['Materializer', `${a.materializer} (${a.type})`] : null,
    ], {id: 'artifact-info'}),
    section('Lineage', lineage),
    section('Content', preview));

  // Lineage: inputs → producer → this artifact → consumers.
  const p = a.producer || {};
  const prodId = `step:${p.step_run}`;
  const nodes = [];
  for (const [name, inp] of Object.entries(p.inputs || {}))
    nodes.push({id: `a:${inp.id}`, needs: [], label: `${inp.name} #${inp.id}`, sub: `${name} ← ${inp.step}`,
                kind: 'artifact', href: `#/artifacts/${inp.id}`, title: `${inp.name} #${inp.id}, ${inp.digest}`});
  nodes.push({id: prodId, needs: nodes.map((n) => n.id), label: p.step || '?', sub: `step run #${p.step_run}`,
              kind: 'step', href: `#/runs/${encodeURIComponent(p.run)}?step=${encodeURIComponent(p.step)}`,
              title: `${p.step} in run ${p.run}`});
  nodes.push({id: `a:${a.id}`, needs: [prodId], label: `${a.name} #${a.id}`, sub: 'this artifact', kind: 'artifact self',
              title: a.digest});
  for (const c of a.consumers || [])
    nodes.push({id: `c:${c.step_run}`, needs: [`a:${a.id}`], label: c.step, sub: `run …${c.run.slice(-16)}`, kind: 'step',
                href: `#/runs/${encodeURIComponent(c.run)}?step=${encodeURIComponent(c.step)}`, title: `${c.step} in run ${c.run}`});
  lineage.append(drawGraph(nodes, {id: 'lineage', className: 'lineage'}));
  if (!(a.consumers || []).length) lineage.append(h('p', {class: 'muted'}, 'No step has read it yet.'));

  const base = `/artifacts/${encodeURIComponent(a.id)}/content`;
  async function showFile(rel, into) {
    into.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
    const q = new URLSearchParams({limit: String(PREVIEW_LIMIT)});
    if (rel) q.set('path', rel);
    try {
      const resp = await request(`${base}?${q}`, {signal});
      const type = resp.headers.get('Content-Type') || '';
      const truncated = resp.headers.get('X-Baton-Truncated') === '1';
      const bytes = new Uint8Array(await resp.arrayBuffer());
      const {node, kind} = previewOf(bytes, rel || a.name, type, signal, truncated);
      into.dataset.kind = kind;
      fill(into,
        truncated ? h('p', {class: 'notice'}, `The first ${fmtBytes(bytes.length)} of ${rel ? 'the file' : fmtBytes(a.size)}.`) : null,
        node);
    } catch (e) {
      if (!signal.aborted) into.replaceChildren(errorBox(e));
    }
  }

  if (a.kind !== 'dir') {
    await showFile('', preview);
    return;
  }
  // A directory: its entries, and the preview of one.
  let listing;
  try {
    listing = await getJson(base, {signal});
  } catch (e) {
    preview.replaceChildren(errorBox(e));
    return;
  }
  const files = (listing.entries || []).filter((e) => e.kind !== 'dir');
  const filePreview = h('div', {id: 'file-preview', class: 'preview'});
  const want = query.get('path') || (files.find((f) => /\.(json|csv|tsv|txt|md|png|jpe?g|gif|webp)$/i.test(f.path)) || files[0] || {}).path;
  const list = h('table', {id: 'entries', class: 'grid'},
    h('thead', null, h('tr', null, h('th', null, 'Path'), h('th', null, 'Kind'), h('th', null, 'Size'))),
    h('tbody', null, (listing.entries || []).map((e) => {
      const tr = h('tr', {class: e.kind === 'dir' ? '' : 'clickable', dataset: {path: e.path}},
        h('td', {class: 'mono'}, e.path), h('td', null, e.kind), h('td', null, e.kind === 'dir' ? '' : fmtBytes(e.size)));
      if (e.kind !== 'dir') tr.addEventListener('click', () => pick(e.path));
      return tr;
    })));
  function pick(path) {
    for (const tr of list.querySelectorAll('tbody tr')) tr.classList.toggle('selected', tr.dataset.path === path);
    replaceQuery(new URLSearchParams({path}));
    showFile(path, filePreview);
  }
  preview.replaceChildren(h('div', {class: 'two'}, list, filePreview));
  if (want) pick(want);
  else filePreview.append(h('p', {class: 'muted'}, 'An empty directory.'));
}
