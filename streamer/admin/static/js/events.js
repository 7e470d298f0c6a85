// Live updates from /api/v1/events (server-sent events). One EventSource for the whole
// app; the browser reconnects by itself and sends Last-Event-ID, so the server replays
// what was missed. Event types: job, scan, upload, track, playlist, channel (each `data`
// is JSON).
// When what was missed is no longer kept, the server sends `reset` instead: every
// handler, whatever types it asked for, is called with {type: 'reset'} and should reload
// its data.
import { useEffect, useRef, useState } from 'preact/hooks';

const TYPES = ['job', 'scan', 'upload', 'track', 'playlist', 'channel'];
let source = null;
let status = 'closed';
let lastId = ''; // of the last event received: where a new EventSource resumes
let retryTimer = null;
let retryDelay = 5000;
const handlers = new Set();
const statusListeners = new Set();

function setStatus(next) {
  status = next;
  for (const listener of statusListeners) listener(next);
}

// Someone wants the stream: a handler, or a live indicator showing its state.
function wanted() {
  return handlers.size > 0 || statusListeners.size > 0;
}

function dispatch(event) {
  if (event.id) lastId = event.id;
  for (const handler of handlers) handler(event);
}

function open() {
  if (source) return;
  // The browser reconnects by itself after a dropped connection (sending Last-Event-ID);
  // after an HTTP error it gives up, and a new EventSource resumes from lastId instead.
  const url = lastId ? `/api/v1/events?last_event_id=${encodeURIComponent(lastId)}` : '/api/v1/events';
  source = new EventSource(url);
  source.onopen = () => {
    retryDelay = 5000;
    setStatus('live');
  };
  source.onerror = () => {
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      if (!wanted()) return setStatus('closed');
      setStatus('reconnecting');
      retryTimer = setTimeout(() => {
        retryTimer = null;
        if (wanted()) open();
      }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 60000);
    } else {
      setStatus('reconnecting');
    }
  };
  for (const type of TYPES) {
    source.addEventListener(type, (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      dispatch({ type, id: message.lastEventId, data });
    });
  }
  source.addEventListener('reset', (message) => {
    dispatch({ type: 'reset', id: message.lastEventId, data: null });
  });
}

export function closeEvents() {
  if (source) source.close();
  if (retryTimer) clearTimeout(retryTimer);
  source = null;
  retryTimer = null;
  lastId = '';
  setStatus('closed');
}

// useEvents(['job'], ({type, data}) => ...): the handler sees every event of those types
// while the component is mounted, and {type: 'reset'} when it should reload everything.
export function useEvents(types, handler) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const wanted = new Set([...types, 'reset']);
    const listener = (event) => wanted.has(event.type) && latest.current(event);
    handlers.add(listener);
    open();
    return () => handlers.delete(listener);
  }, [types.join(',')]);
}

// The stream's state ('live', 'reconnecting', 'closed'); showing it keeps the stream
// open (the header's indicator does, while someone is signed in).
export function useEventStatus() {
  const [value, setValue] = useState(status);
  useEffect(() => {
    statusListeners.add(setValue);
    open();
    setValue(status);
    return () => statusListeners.delete(setValue);
  }, []);
  return value;
}
