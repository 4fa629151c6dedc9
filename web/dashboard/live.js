// Live updates for the page on screen: the server's event stream, or polling where the server
// has none. The state shows in the header (and as <body data-live=...>).

import {streamEvents, sleep} from './api.js';

const LABELS = {
  off: '',
  connecting: 'connecting…',
  live: '● live',
  retrying: 'reconnecting…',
  polling: '● polling',
};

function show(state) {
  document.body.dataset.live = state;
  const el = document.getElementById('live');
  if (el) {
    el.textContent = state in LABELS ? LABELS[state] : state;
    el.className = `live-${state}`;
  }
}

// Follows events matching `query` ("" or "?run=ID") until `signal` aborts: onEvent(type, json).
// `poll()` reads the page's state again: when the server says it listens (`ready`), when it says
// events were missed (`reset`) and when the stream reconnects, since what changed meanwhile came
// as no event; and every `pollMs` when the server has no event stream.
export function follow(query, {onEvent, poll, pollMs = 2000, signal}) {
  const reread = () => {
    if (poll && !signal.aborted) poll().catch(() => {});
  };
  show('connecting');
  signal.addEventListener('abort', () => show('off'), {once: true});
  (async () => {
    let unsupported = false;
    let connections = 0;
    await streamEvents(query, {
      signal,
      onEvent: (type, data) => {
        // `ready`: the server listens, and what changes from here on comes as events; `reset`:
        // events were missed. Either way what changed before came as no event.
        if (type === 'ready' || type === 'reset') reread();
        else onEvent(type, data);
      },
      onState: (st) => {
        if (signal.aborted) return;
        if (st === 'unsupported') unsupported = true;
        else show(st);
        // A reconnection may have missed events (a server that sends `ready` says so itself).
        if (st === 'live' && connections++ > 0) reread();
      },
    });
    if (!unsupported || !poll) return;
    show('polling');
    while (!signal.aborted) {
      await sleep(pollMs, signal);
      if (signal.aborted) break;
      try {
        await poll();
      } catch (err) {
        // the next round tries again; a 401 has already gone back to login
      }
    }
  })();
}
