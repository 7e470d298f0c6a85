// Hooks that pages share: reading data now and on a timer, debouncing, visibility of the
// tab, and the width of an element.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

// Calls `load` now and every `every` ms while the page is visible; a hidden tab stops
// polling and showing it again reads at once. Returns {data, error, at, reload}.
export function usePoll(load, every, { enabled = true } = {}) {
  const [state, setState] = useState({ data: null, error: null, at: null });
  const latest = useRef(load);
  latest.current = load;
  const busy = useRef(null);
  const reload = useCallback(() => {
    if (busy.current) return busy.current;
    busy.current = (async () => {
      try {
        const data = await latest.current();
        setState({ data, error: null, at: new Date() });
      } catch (error) {
        setState((previous) => ({ ...previous, error }));
      } finally {
        busy.current = null;
      }
    })();
    return busy.current;
  }, []);
  useEffect(() => {
    if (!enabled) return undefined;
    let active = true;
    let timer = null;
    const tick = async () => {
      clearTimeout(timer);
      timer = null;
      await reload();
      if (active && !document.hidden) timer = setTimeout(tick, every);
    };
    const visibility = () => {
      if (document.hidden) {
        clearTimeout(timer);
        timer = null;
      } else if (timer === null) {
        tick();
      }
    };
    document.addEventListener('visibilitychange', visibility);
    if (!document.hidden) tick();
    return () => {
      active = false;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', visibility);
    };
  }, [every, enabled, reload]);
  return { ...state, reload };
}

// Runs `fn` once, `wait` ms after the last call (events come in bursts).
export function useDebounced(fn, wait) {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef(null);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => latest.current(), wait);
  }, [wait]);
}

// Whether the tab is shown (false while it is hidden), kept up to date.
export function useVisible() {
  const [visible, setVisible] = useState(!document.hidden);
  useEffect(() => {
    const update = () => setVisible(!document.hidden);
    document.addEventListener('visibilitychange', update);
    return () => document.removeEventListener('visibilitychange', update);
  }, []);
  return visible;
}

// {data, error, loading, reload}: `load()` now, and again when `deps` change.
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const latest = useRef(load);
  latest.current = load;
  const reload = useCallback(async () => {
    setState((s) => ({ ...s, loading: true }));
    try {
      setState({ data: await latest.current(), error: null, loading: false });
    } catch (error) {
      setState((s) => ({ ...s, error, loading: false }));
    }
  }, []);
  useEffect(() => {
    reload();
  }, deps);
  return { ...state, reload };
}

// [ref, width]: the rendered width of the element `ref` is put on, in CSS pixels
// (`fallback` until it is measured, and where ResizeObserver is missing).
export function useWidth(fallback = 600) {
  const ref = useRef(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === 'undefined') return undefined;
    const observer = new ResizeObserver((entries) => {
      const measured = Math.round(entries[0].contentRect.width);
      if (measured > 0) setWidth(measured);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}
