// The dashboard's shell: login, the header, and the hash routes (#/runs, #/runs/ID,
// #/artifacts/ID, #/compare?runs=A,B, #/stacks). Each page renders into <main> and gets an
// AbortSignal that ends its requests and live updates when the user leaves it.

import {getJson, getToken, setToken, setUnauthorizedHandler} from './api.js';
import {h, clear, errorBox, parseHash} from './dom.js';
import {renderRuns} from './runs.js';
import {renderRun} from './run.js';
import {renderArtifact} from './artifact.js';
import {renderCompare} from './compare.js';
import {renderStacks} from './stacks.js';

const view = () => document.getElementById('view');
let current = null;  // the AbortController of the page on screen
let me = null;  // GET /whoami of the token

function leavePage() {
  if (current) current.abort();
  current = null;
}

function showUser() {
  const who = document.getElementById('who');
  const out = document.getElementById('logout');
  if (me) {
    who.textContent = `${me.user} (${me.role}${me.run ? ', run ' + me.run : ''})`;
    out.hidden = false;
  } else {
    who.textContent = '';
    out.hidden = true;
  }
}

function showLogin(message) {
  leavePage();
  me = null;
  showUser();
  document.body.dataset.page = 'login';
  const input = h('input', {id: 'token', type: 'password', name: 'token', autocomplete: 'off',
                            placeholder: 'baton_…', required: true, size: 48});
  const err = h('div', {id: 'login-error', class: 'error', role: 'alert', hidden: !message}, message || '');
  const form = h('form', {id: 'login-form', class: 'login'},
    h('h1', null, 'Sign in to baton'),
    h('p', {class: 'muted'}, 'Paste an API token (', h('code', null, 'baton server user add NAME'),
      ' or ', h('code', null, 'baton server token create NAME'), ' prints one). It is kept in this tab only.'),
    h('label', {for: 'token'}, 'Token'), input,
    h('button', {type: 'submit', id: 'login-submit'}, 'Sign in'), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setToken(input.value.trim());
    err.hidden = true;
    if (await checkToken()) route();
  });
  clear(view()).append(h('div', {id: 'login'}, form));
  input.focus();
}

// Asks the server who the token is; shows login with the reason when it is refused.
async function checkToken() {
  if (!getToken()) {
    showLogin('');
    return false;
  }
  try {
    me = await getJson('/whoami');
    showUser();
    return true;
  } catch (e) {
    if (e.status === 401) return false;  // the handler has shown login
    clear(view()).append(errorBox(e));
    return false;
  }
}

const routes = [
  {match: (p) => p.length === 1 && p[0] === 'runs', nav: 'runs', render: (el, r, ctx) => renderRuns(el, r.query, ctx)},
  {match: (p) => p.length === 2 && p[0] === 'runs', nav: 'runs', render: (el, r, ctx) => renderRun(el, r.parts[1], r.query, ctx)},
  {match: (p) => p.length === 2 && p[0] === 'artifacts', nav: 'runs', render: (el, r, ctx) => renderArtifact(el, r.parts[1], r.query, ctx)},
  {match: (p) => p.length === 1 && p[0] === 'compare', nav: 'compare', render: (el, r, ctx) => renderCompare(el, r.query, ctx)},
  {match: (p) => p.length === 1 && p[0] === 'stacks', nav: 'stacks', render: (el, r, ctx) => renderStacks(el, ctx)},
];

async function route() {
  if (!getToken()) {
    showLogin('');
    return;
  }
  if (!me && !(await checkToken())) return;
  const r = parseHash(location.hash);
  if (r.parts.length === 0) {
    location.replace('#/runs');
    return;
  }
  const found = routes.find((x) => x.match(r.parts));
  leavePage();
  current = new AbortController();
  const ctx = {signal: current.signal, me};
  const el = clear(view());
  for (const a of document.querySelectorAll('#nav a'))
    a.classList.toggle('active', found && a.dataset.nav === found.nav);
  if (!found) {
    document.body.dataset.page = 'missing';
    el.append(h('p', {class: 'error'}, 'No such page: ', location.hash));
    return;
  }
  document.body.dataset.page = found.nav;
  try {
    await found.render(el, r, ctx);
  } catch (e) {
    if (ctx.signal.aborted || e.name === 'AbortError') return;
    if (e.status === 401) return;
    el.append(errorBox(e));
  }
}

setUnauthorizedHandler((message) => showLogin(`The server refused the token: ${message}`));

window.addEventListener('hashchange', route);
document.getElementById('logout').addEventListener('click', () => {
  setToken('');
  showLogin('Signed out.');
});
route();
