// The one way the admin talks to /api/v1: JSON in and out, the session cookie, the CSRF
// header on writes, and errors as ApiError carrying the problem+json body.

let csrfToken = null;
const listeners = new Set();

export function setCsrf(token) {
  csrfToken = token;
}

// Called with no argument when a request answers 401 (the session ended elsewhere).
export function onUnauthenticated(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export class ApiError extends Error {
  constructor(status, problem, response) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.response = response;
  }
}

export function apiUrl(path, query) {
  const url = new URL(path.startsWith('/api/') ? path : `/api/v1${path}`, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    for (const one of Array.isArray(value) ? value : [value]) url.searchParams.append(key, one);
  }
  return url;
}

// api('PATCH', '/tracks/ID', {body, headers, query, signal, raw}); raw returns the Response
// (for ETag and friends) once its status is known to be a success.
export async function api(method, path, options = {}) {
  const { body, headers = {}, query, signal, raw = false } = options;
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin', signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) init.headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(apiUrl(path, query), init);
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, {
      title: 'Network error',
      detail: 'The server could not be reached. Check the connection and try again.',
    });
  }
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = { title: response.statusText };
    }
    if (response.status === 401 && !path.startsWith('/auth/login') && !path.startsWith('/auth/second-factor')) {
      for (const listener of listeners) listener();
    }
    throw new ApiError(response.status, problem, response);
  }
  if (raw) return response;
  if (response.status === 204 || method === 'HEAD') return null;
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? response.json() : response.text();
}

export const get = (path, options) => api('GET', path, options);
export const post = (path, body, options = {}) => api('POST', path, { ...options, body });
export const patch = (path, body, options = {}) => api('PATCH', path, { ...options, body });
export const put = (path, body, options = {}) => api('PUT', path, { ...options, body });
export const del = (path, options) => api('DELETE', path, options);
