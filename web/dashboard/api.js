// The server's REST API from the browser: every request carries the token as a Bearer header
// (kept in sessionStorage: gone when the tab closes), and a 401 sends the user back to login.
// Live events and followed logs are fetch() bodies read as streams, since EventSource cannot
// send a header.

const TOKEN_KEY = 'baton.token';
const BASE = '/api/v1';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};

// `fn(message)` runs when the server refuses the token.
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

function headers(extra) {
  return {Authorization: `Bearer ${getToken()}`, ...(extra || {})};
}

async function failure(resp) {
  let code = 'error';
  let message = `HTTP ${resp.status}`;
  try {
    const j = await resp.json();
    if (j && j.error) {
      code = j.error.code || code;
      message = j.error.message || message;
    }
  } catch (e) {
    // not JSON: keep the status line
  }
  if (resp.status === 401) {
    setToken('');
    onUnauthorized(message);
  }
  return new ApiError(resp.status, code, message);
}

// A request to /api/v1 + path; the Response when it is 2xx, else throws ApiError.
export async function request(path, {method = 'GET', body, signal, accept} = {}) {
  const init = {method, signal, headers: headers(accept ? {Accept: accept} : null), cache: 'no-store'};
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const resp = await fetch(BASE + path, init);
  if (!resp.ok) throw await failure(resp);
  return resp;
}

export async function getJson(path, opts) {
  const resp = await request(path, opts);
  return resp.json();
}

export async function postJson(path, body, opts) {
  const resp = await request(path, {...opts, method: 'POST', body: body === undefined ? {} : body});
  const text = await resp.text();
  return text ? JSON.parse(text) : {};
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
  });
}

// Reads a text/event-stream body: calls onEvent({event, data, id}) for each event; comment
// lines (": keepalive") are skipped. Returns the last event id when the body ends.
async function readEvents(body, onEvent, lastId) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  let event = '';
  let data = [];
  let id = lastId;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buf += decoder.decode(value, {stream: true});
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
      if (line === '') {
        if (data.length) onEvent({event: event || 'message', data: data.join('\n'), id});
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'event') event = val;
      else if (field === 'data') data.push(val);
      else if (field === 'id') id = val;
    }
  }
  return id;
}

// Live events from GET /api/v1/events (`query` e.g. "?run=ID"), until `signal` aborts:
// onEvent(type, json) for each event (`run`, `step`; `reset` when the server says events were
// missed and the state should be read again); onState(state) with 'connecting',
// 'live', 'retrying' or 'unsupported' (a server without the route: the caller polls instead).
// Reconnects after errors, waiting longer each time (up to 10 s), and resumes from the last
// event id the server sent.
export async function streamEvents(query, {onEvent, onState, signal}) {
  let lastId = '';
  let delay = 500;
  while (!signal.aborted) {
    onState('connecting');
    try {
      const extra = {Accept: 'text/event-stream'};
      if (lastId) extra['Last-Event-ID'] = lastId;
      const resp = await fetch(`${BASE}/events${query || ''}`, {headers: headers(extra), signal, cache: 'no-store'});
      if (resp.status === 404 || resp.status === 405) {
        onState('unsupported');
        return;
      }
      if (!resp.ok) {
        const err = await failure(resp);
        if (resp.status === 401 || resp.status === 403) {
          onState('off');
          return;
        }
        throw err;
      }
      onState('live');
      delay = 500;
      lastId = await readEvents(resp.body, (e) => {
        let json = null;
        try {
          json = JSON.parse(e.data);
        } catch (err) {
          // an event without JSON (reset) comes with null
        }
        onEvent(e.event, json);
      }, lastId);
    } catch (err) {
      if (signal.aborted) return;
    }
    if (signal.aborted) return;
    onState('retrying');
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 10000);
  }
}

// A text body read as it arrives: onText(chunk) for each decoded piece. Returns the number of
// bytes read. Throws ApiError for an error status.
export async function streamText(path, {onText, signal}) {
  const resp = await request(path, {signal, accept: 'text/plain'});
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let bytes = 0;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    const text = decoder.decode(value, {stream: true});
    if (text) onText(text);
  }
  const rest = decoder.decode();
  if (rest) onText(rest);
  return bytes;
}

export {sleep};
