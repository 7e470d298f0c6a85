// Live updates from /api/v1/events (server-sent events). One EventSource for the whole
// app; the browser reconnects by itself and sends Last-Event-ID, so the server replays
// what was missed. Event types: job, scan, upload, track, playlist (each `data` is JSON).
import { useEffect, useRef, useState } from 'preact/hooks';

const TYPES = ['job', 'scan', 'upload', 'track', 'playlist'];
let source = null;
let status = 'closed';
const handlers = new Set();
const statusListeners = new Set();

function setStatus(next) {
  status = next;
  for (const listener of statusListeners) listener(next);
}

function open() {
  if (source) return;
  source = new EventSource('/api/v1/events');
  source.onopen = () => setStatus('live');
  source.onerror = () => setStatus(source && source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  for (const type of TYPES) {
    source.addEventListener(type, (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      for (const handler of handlers) handler({ type, id: message.lastEventId, data });
    });
  }
}

export function closeEvents() {
  if (source) source.close();
  source = null;
  setStatus('closed');
}

// useEvents(['job'], ({type, data}) => ...): the handler sees every event of those types
// while the component is mounted.
export function useEvents(types, handler) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const wanted = new Set(types);
    const listener = (event) => wanted.has(event.type) && latest.current(event);
    handlers.add(listener);
    open();
    return () => handlers.delete(listener);
  }, [types.join(',')]);
}

export function useEventStatus() {
  const [value, setValue] = useState(status);
  useEffect(() => {
    statusListeners.add(setValue);
    setValue(status);
    return () => statusListeners.delete(setValue);
  }, []);
  return value;
}
