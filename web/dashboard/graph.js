// Drawing graphs as SVG: a layered layout (a node's layer is the longest path to it from a
// root), nodes as labelled boxes, edges as curves from left to right.

import {s} from './dom.js';

export const NODE_W = 168;
export const NODE_H = 44;
const GAP_X = 64;
const GAP_Y = 18;
const PAD = 12;

// Layers of `nodes` ([{id, needs: [id]}]): Map id → layer. Needs that name no node are ignored;
// a cycle (which a pipeline cannot have) is broken where it is found.
export function layers(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const layer = new Map();
  const visiting = new Set();
  const depth = (id) => {
    if (layer.has(id)) return layer.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let d = 0;
    for (const p of byId.get(id).needs || [])
      if (byId.has(p)) d = Math.max(d, depth(p) + 1);
    visiting.delete(id);
    layer.set(id, d);
    return d;
  };
  for (const n of nodes) depth(n.id);
  return layer;
}

// Positions: Map id → {x, y}, the waypoints of each edge that spans layers (Map "from>to" →
// [{x, y}], one per layer it crosses, so that it passes beside the nodes in between rather
// than through them), and the size of the drawing. Within a layer, nodes are ordered by the
// mean position of what they need (fewer crossings), then by their order in `nodes`.
export function layout(nodes) {
  const layer = layers(nodes);
  const ids = new Set(nodes.map((n) => n.id));
  // Real nodes and the waypoints of long edges, each with what it hangs from.
  const items = nodes.map((n, i) => ({id: n.id, needs: (n.needs || []).filter((p) => ids.has(p)), i, h: NODE_H}));
  const longEdges = [];
  for (const n of nodes)
    for (const p of n.needs || []) {
      if (!ids.has(p) || layer.get(n.id) - layer.get(p) < 2) continue;
      const chain = [];
      let prev = p;
      for (let l = layer.get(p) + 1; l < layer.get(n.id); l++) {
        const id = `~${p}>${n.id}@${l}`;
        items.push({id, needs: [prev], i: items.length, h: 14, waypoint: true});
        layer.set(id, l);
        chain.push(id);
        prev = id;
      }
      longEdges.push({key: `${p}>${n.id}`, chain});
    }
  const columns = [];
  for (const it of items) (columns[layer.get(it.id)] = columns[layer.get(it.id)] || []).push(it);
  const pos = new Map();
  let height = 0;
  columns.forEach((col, l) => {
    if (!col) return;
    const key = (it) => {
      const ys = it.needs.filter((p) => pos.has(p)).map((p) => pos.get(p).y + pos.get(p).h / 2);
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : it.i * 1e-3;
    };
    col.sort((a, b) => key(a) - key(b) || a.i - b.i);
    let y = PAD;
    for (const it of col) {
      pos.set(it.id, {x: PAD + l * (NODE_W + GAP_X), y, h: it.h});
      y += it.h + GAP_Y;
    }
    height = Math.max(height, y - GAP_Y + PAD);
  });
  const routes = new Map(longEdges.map(({key, chain}) => [key, chain.map((id) => pos.get(id))]));
  const width = PAD * 2 + Math.max(1, columns.length) * (NODE_W + GAP_X) - GAP_X;
  return {pos, routes, width, height: Math.max(height, PAD * 2 + NODE_H)};
}

function clip(text, max) {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

// An SVG of the graph. nodes: [{id, needs, label, sub, status, href, selected, onClick, title}].
export function drawGraph(nodes, {id, className} = {}) {
  const {pos, routes, width, height} = layout(nodes);
  const svg = s('svg', {id, class: `graph ${className || ''}`, width, height, viewBox: `0 0 ${width} ${height}`,
                        role: 'img'});
  svg.append(s('defs', null, s('marker', {id: `${id || 'g'}-arrow`, viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'}, s('path', {d: 'M0,0 L10,5 L0,10 z', class: 'arrow'}))));
  const edges = s('g', {class: 'edges'});
  const curve = (x1, y1, x2, y2) => {
    const mid = (x1 + x2) / 2;
    return `C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
  };
  for (const n of nodes) {
    const to = pos.get(n.id);
    for (const p of n.needs || []) {
      const from = pos.get(p);
      if (!from) continue;
      // From the right side of `from`, along the waypoints, to the left side of `to`.
      let x = from.x + NODE_W;
      let y = from.y + NODE_H / 2;
      let d = `M${x},${y}`;
      for (const w of routes.get(`${p}>${n.id}`) || []) {
        const wy = w.y + w.h / 2;
        d += ` ${curve(x, y, w.x, wy)} L${w.x + NODE_W},${wy}`;
        x = w.x + NODE_W;
        y = wy;
      }
      d += ` ${curve(x, y, to.x - 2, to.y + NODE_H / 2)}`;
      edges.append(s('path', {class: 'edge', d, 'marker-end': `url(#${id || 'g'}-arrow)`, dataset: {from: p, to: n.id}}));
    }
  }
  svg.append(edges);
  for (const n of nodes) {
    const {x, y} = pos.get(n.id);
    const g = s('g', {class: `node${n.status ? ' st-' + n.status : ''}${n.selected ? ' selected' : ''}${n.kind ? ' ' + n.kind : ''}`,
                      transform: `translate(${x},${y})`, dataset: {node: n.id, status: n.status || ''},
                      tabindex: n.onClick || n.href ? 0 : null});
    g.append(s('title', null, n.title || n.label || n.id));
    g.append(s('rect', {width: NODE_W, height: NODE_H, rx: 6, ry: 6}));
    g.append(s('text', {x: 10, y: 18, class: 'label'}, clip(n.label || n.id, 22)));
    if (n.sub) g.append(s('text', {x: 10, y: 35, class: 'sub'}, clip(n.sub, 26)));
    if (n.onClick) {
      g.addEventListener('click', () => n.onClick(n));
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') n.onClick(n); });
    } else if (n.href) {
      const go = () => { location.hash = n.href; };
      g.addEventListener('click', go);
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter') go(); });
    }
    svg.append(g);
  }
  return svg;
}
