// A small History API router: routes are patterns like '/admin/tracks/:id'; links to
// /admin/... are followed without a page load.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

export function navigate(path, { replace = false } = {}) {
  if (path === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  for (const listener of listeners) listener();
}

export function usePath() {
  const [path, setPath] = useState(location.pathname + location.search);
  useEffect(() => {
    const update = () => setPath(location.pathname + location.search);
    listeners.add(update);
    addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      removeEventListener('popstate', update);
    };
  }, []);
  return path;
}

// Query parameters of the current URL as an object (the last value wins; use
// URLSearchParams directly for repeated keys).
export function queryParams() {
  return Object.fromEntries(new URLSearchParams(location.search));
}

// Replace the query string without adding a history entry (filters, paging).
export function setQuery(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '' || value === false) continue;
    for (const one of Array.isArray(value) ? value : [value]) search.append(key, one);
  }
  const query = search.toString();
  history.replaceState(null, '', location.pathname + (query ? `?${query}` : ''));
}

export function match(routes, path) {
  const pathname = path.split('?')[0].replace(/\/+$/, '') || '/';
  for (const route of routes) {
    const names = [];
    const pattern = new RegExp(
      `^${route.path.replace(/\/+$/, '').replace(/:(\w+)/g, (_, name) => {
        names.push(name);
        return '([^/]+)';
      })}$`,
    );
    const found = pattern.exec(pathname);
    if (found) {
      const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
      return { route, params };
    }
  }
  return null;
}

// Follow same-app links without reloading (ctrl/cmd/middle clicks keep their meaning).
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)
    return;
  const link = event.target.closest?.('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/admin')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});
