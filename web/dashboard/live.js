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
    el.textContent = LABELS[state] || state;
    el.className = `live-${state}`;
  }
}

// Follows events matching `query` ("" or "?run=ID") until `signal` aborts: onEvent(type, json).
// When the server has no event stream, calls `poll()` every `pollMs` instead.
export function follow(query, {onEvent, poll, pollMs = 2000, signal}) {
  show('connecting');
  signal.addEventListener('abort', () => show('off'), {once: true});
  (async () => {
    let unsupported = false;
    await streamEvents(query, {
      signal,
      onEvent,
      onState: (st) => {
        if (signal.aborted) return;
        if (st === 'unsupported') unsupported = true;
        else show(st);
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
