// #/stacks: the stacks (which one is active) and the components they are made of.

import {getJson} from './api.js';
import {h, clear, section} from './dom.js';

export async function renderStacks(el, {signal}) {
  const [stacks, components] = await Promise.all([
    getJson('/stacks', {signal}),
    getJson('/components', {signal}),
  ]);
  const stackTable = h('table', {id: 'stacks', class: 'grid'},
    h('thead', null, h('tr', null, ['Stack', 'Orchestrator', 'Artifact store', ''].map((t) => h('th', null, t)))),
    h('tbody', null, stacks.stacks.map((st) => h('tr', {dataset: {stack: st.name}, class: st.active ? 'active' : null},
      h('td', null, st.name), h('td', null, st.orchestrator || '-'), h('td', null, st.artifact_store || '-'),
      h('td', null, st.active ? h('span', {class: 'badge st-completed'}, 'active') : '')))));
  const compTable = h('table', {id: 'components', class: 'grid'},
    h('thead', null, h('tr', null, ['Type', 'Name', 'Flavor', 'Configuration'].map((t) => h('th', null, t)))),
    h('tbody', null, components.components.map((c) => h('tr', {dataset: {component: `${c.type}/${c.name}`}},
      h('td', null, c.type), h('td', null, c.name), h('td', null, c.flavor),
      h('td', null, c.config && typeof c.config === 'object' && Object.keys(c.config).length
        ? h('pre', {class: 'json small'}, JSON.stringify(c.config, null, 2))
        : h('span', {class: 'muted'}, typeof c.config === 'string' ? c.config : '—'))))));
  clear(el).append(h('h1', null, 'Stacks'),
    section('Stacks', stacks.stacks.length ? stackTable : h('p', {class: 'muted'}, 'No stack is registered; runs use the default local one.')),
    section('Components', components.components.length ? compTable : h('p', {class: 'muted'}, 'No component is registered.')));
}
