// Who is signed in: the /auth/session answer, shared by every page.
import { useEffect, useState } from 'preact/hooks';
import { get, setCsrf } from './api.js';

let current = { state: 'loading', user: null };
const listeners = new Set();

function publish(next) {
  current = next;
  setCsrf(next.user ? next.user.csrf_token : null);
  for (const listener of listeners) listener(current);
}

export function setSession(user) {
  if (!user) publish({ state: 'signed-out', user: null });
  else if (user.second_factor_required) publish({ state: 'second-factor', user });
  else publish({ state: 'signed-in', user });
}

export async function refreshSession() {
  try {
    setSession(await get('/auth/session'));
  } catch (error) {
    if (error.status === 401) setSession(null);
    else publish({ state: 'error', user: null, error });
  }
}

export function useSession() {
  const [session, setState] = useState(current);
  useEffect(() => {
    listeners.add(setState);
    setState(current);
    return () => listeners.delete(setState);
  }, []);
  return session;
}

// What the signed-in user's role may do. The server checks every request (per library
// too); this only decides which controls to show.
export function can(user, action) {
  if (!user) return false;
  const role = user.role;
  switch (action) {
    case 'write': // edit tracks, upload, playlists, batch actions
      return role === 'admin' || role === 'editor';
    case 'admin': // users, API keys, libraries, audit
      return role === 'admin';
    default:
      return true; // reading
  }
}
