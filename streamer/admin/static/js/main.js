// The web admin's shell: session gate, navigation, and the page for the current URL.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onUnauthenticated, post } from './api.js';
import { closeEvents, useEventStatus } from './events.js';
import { html } from './html.js';
import Login from './pages/login.js';
import { match, navigate, usePath } from './router.js';
import { can, refreshSession, setSession, useSession } from './session.js';
import { ErrorMessage, Loading, problemText, Toasts, toast } from './ui.js';

// Pages load when first visited; each module's default export is the page component,
// called with the route's params and the signed-in user.
const ROUTES = [
  { path: '/admin/library', title: 'Library', load: () => import('./pages/library.js') },
  { path: '/admin/tracks/:id', title: 'Track', load: () => import('./pages/track.js') },
  { path: '/admin/libraries', title: 'Libraries', load: () => import('./pages/libraries.js') },
  { path: '/admin/playlists', title: 'Playlists', load: () => import('./pages/playlists.js') },
  { path: '/admin/playlists/:id', title: 'Playlist', load: () => import('./pages/playlist.js') },
  { path: '/admin/channels', title: 'Channels', load: () => import('./pages/channels.js') },
  { path: '/admin/channels/:id', title: 'Channel', load: () => import('./pages/channel.js') },
  { path: '/admin/dashboard', title: 'Dashboard', load: () => import('./pages/dashboard.js') },
  { path: '/admin/analytics', title: 'Analytics', load: () => import('./pages/analytics.js') },
  {
    path: '/admin/analytics/dashboards',
    title: 'Dashboards',
    load: () => import('./pages/analytics-dashboards.js'),
  },
  {
    path: '/admin/analytics/dashboards/:id',
    title: 'Dashboard',
    load: () => import('./pages/analytics-dashboards.js'),
  },
  { path: '/admin/ads', title: 'Ads', load: () => import('./pages/ads.js'), needs: 'write' },
  { path: '/admin/ads/:id', title: 'Campaign', load: () => import('./pages/ad-campaign.js'), needs: 'write' },
  { path: '/admin/users', title: 'Users', load: () => import('./pages/users.js'), needs: 'admin' },
  { path: '/admin/account', title: 'Account', load: () => import('./pages/account.js') },
];

const NAV = [
  { href: '/admin/library', label: 'Library', also: ['/admin/tracks'] },
  { href: '/admin/libraries', label: 'Libraries' },
  { href: '/admin/playlists', label: 'Playlists' },
  { href: '/admin/channels', label: 'Channels' },
  { href: '/admin/dashboard', label: 'Dashboard' },
  { href: '/admin/analytics', label: 'Analytics' },
  { href: '/admin/ads', label: 'Ads', needs: 'write' },
  { href: '/admin/users', label: 'Users', needs: 'admin' },
];

// Whether the nav item names the current page ('/admin/library' is not '/admin/libraries').
function current(path, item) {
  const pathname = path.split('?')[0];
  return [item.href, ...(item.also || [])].some((href) => pathname === href || pathname.startsWith(`${href}/`));
}

function LazyPage({ route, params, user }) {
  const [loaded, setLoaded] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    setLoaded(null);
    setError(null);
    route.load().then(
      (module) => live && setLoaded({ Page: module.default }),
      (err) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [route]);
  if (error) return html`<${ErrorMessage} error=${error} />`;
  if (!loaded) return html`<${Loading} />`;
  const { Page } = loaded;
  return html`<${Page} ...${params} user=${user} />`;
}

function LiveIndicator() {
  const status = useEventStatus();
  if (status === 'closed') return null;
  const label = status === 'live' ? 'Live' : 'Reconnecting…';
  return html`<span class=${`live live-${status}`} title="Live updates">${label}</span>`;
}

function Header({ user, path }) {
  const logout = async () => {
    try {
      await post('/auth/logout');
    } catch (error) {
      toast(problemText(error), 'error');
      return;
    }
    closeEvents();
    setSession(null);
    navigate('/admin/library');
  };
  return html`<header class="topbar">
    <a class="brand" href="/admin/library">Streamer</a>
    <nav aria-label="Main">
      <ul>
        ${NAV.filter((item) => !item.needs || can(user, item.needs)).map(
          (item) => html`<li key=${item.href}>
            <a href=${item.href} aria-current=${current(path, item) ? 'page' : undefined}>${item.label}</a>
          </li>`,
        )}
      </ul>
    </nav>
    <div class="account">
      <${LiveIndicator} />
      <a href="/admin/account" aria-current=${path.startsWith('/admin/account') ? 'page' : undefined}>
        ${user.name} <span class="role">${user.role}</span>
      </a>
      <button type="button" class="secondary" onClick=${logout}>Log out</button>
    </div>
  </header>`;
}

function App() {
  const session = useSession();
  const path = usePath();
  useEffect(() => {
    refreshSession();
    return onUnauthenticated(() => {
      closeEvents();
      setSession(null);
    });
  }, []);
  useEffect(() => {
    if (session.state === 'signed-in' && (path === '/admin' || path === '/admin/')) {
      navigate('/admin/library', { replace: true });
    }
  }, [session.state, path]);

  if (session.state === 'loading') return html`<main id="main"><${Loading} /></main><${Toasts} />`;
  if (session.state === 'error') {
    return html`<main id="main"><h1>Streamer admin</h1><${ErrorMessage} error=${session.error} />
      <button type="button" onClick=${refreshSession}>Try again</button></main>`;
  }
  if (session.state !== 'signed-in') return html`<${Login} session=${session} /><${Toasts} />`;

  const user = session.user;
  let found = match(ROUTES, path);
  if (user.must_enrol_totp) found = match(ROUTES, '/admin/account');
  let body;
  if (!found)
    body = html`<h1>Not found</h1><p>No page at this address. <a href="/admin/library">Go to the library</a>.</p>`;
  else if (found.route.needs && !can(user, found.route.needs))
    body = html`<h1>Not allowed</h1><p>Your role (${user.role}) cannot open this page.</p>`;
  else body = html`<${LazyPage} key=${found.route.path} route=${found.route} params=${found.params} user=${user} />`;
  return html`
    <a class="skip" href="#main">Skip to content</a>
    <${Header} user=${user} path=${path} />
    <main id="main" tabindex="-1">${body}</main>
    <${Toasts} />`;
}

render(html`<${App} />`, document.getElementById('app'));
