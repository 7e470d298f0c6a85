// FullCalendar v6 and Luxon, loaded on demand (the channel pages only) as the classic
// scripts their packages ship for browsers without a build step (index.global.min.js).
// Those bundles carry their own copy of Preact 10 inside a closure: nothing of it leaks
// into the page, so it does not meet the admin's Preact 11 (an ES module). The Luxon 3
// plugin registers itself with FullCalendar's global plugins and gives named time zones.
//
// The files are copied into /admin/vendor by scripts/assets (versions in web/package.json).

const SCRIPTS = [
  '/admin/vendor/luxon.min.js',
  '/admin/vendor/fullcalendar.min.js',
  '/admin/vendor/fullcalendar-luxon3.min.js',
];

let loading = null;

function script(src) {
  return new Promise((resolve, reject) => {
    const element = document.createElement('script');
    element.src = src;
    element.async = false; // in order: the plugin needs both globals
    element.onload = resolve;
    element.onerror = () => reject(new Error(`Could not load ${src}.`));
    document.head.append(element);
  });
}

// -> {FullCalendar, luxon}; the scripts load once per page.
export function loadCalendar() {
  if (!loading) {
    loading = (async () => {
      for (const src of SCRIPTS) await script(src);
      return { FullCalendar: window.FullCalendar, luxon: window.luxon };
    })();
    loading.catch(() => {
      loading = null; // a later visit tries again
    });
  }
  return loading;
}

// Only Luxon (the preview and now-playing views convert between zones without a calendar).
export async function loadLuxon() {
  return (await loadCalendar()).luxon;
}

// The IANA zones this browser knows, the browser's own first among them.
export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export function timeZones() {
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  // Chromium leaves out UTC itself; a channel may well run on it.
  return zones.includes('UTC') ? zones : ['UTC', ...zones];
}
