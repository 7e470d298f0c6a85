// Custom analytics dashboards: the list (create, delete) at /admin/analytics/dashboards and
// one dashboard at /admin/analytics/dashboards/{id}: saved views (metric, grouping,
// interval, filters, chart type) on a 12-column grid, added, edited, renamed, removed and
// arranged with buttons (move one step, wider/narrower, taller/shorter; every one a
// keyboard-operable button, the new place announced). Each change PUTs the whole
// dashboard at once, as the API asks.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  COLUMNS,
  freePlace,
  label,
  MAX_HEIGHT,
  MIN_WIDTH,
  moveView,
  newId,
  PRESETS,
  reading,
  resizeView,
  resolveRange,
} from '../analytics_model.js';
import { NEW_VIEW, VIEW_DAYS, ViewForm, ViewPanel } from '../analytics_views.js';
import { del, get, post, put } from '../api.js';
import { useLoad } from '../hooks.js';
import { html } from '../html.js';
import { navigate, queryParams, setQuery } from '../router.js';
import { Dialog, ErrorMessage, Loading, problemText, toast, useTitle } from '../ui.js';

const LOCAL_TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const DAY = 86400000;
// The dashboard shows each view over its own stored range, or all over one chosen here.
const PERIODS = [{ value: 'views', label: 'Each view’s own range' }, ...PRESETS.filter((p) => p.value !== 'custom')];

// The range a view is drawn over: the dashboard's when one is chosen, else the view's days.
function viewRange(view, chosen, now) {
  return chosen || { from: now - (view.days || 30) * DAY, to: now };
}

const listOf = (body) => (Array.isArray(body) ? body : body?.items || []);

// ---------------------------------------------------------------- the list

function DashboardList() {
  useTitle('Dashboards');
  const list = useLoad(() => get('/analytics/dashboards'));
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const create = async (event) => {
    event.preventDefault();
    if (!name.trim()) {
      setError(new Error('Give the dashboard a name.'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const made = await post('/analytics/dashboards', { name: name.trim(), views: [] });
      navigate(`/admin/analytics/dashboards/${encodeURIComponent(made.id)}`);
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    const dashboard = deleting;
    setDeleting(null);
    try {
      await del(`/analytics/dashboards/${encodeURIComponent(dashboard.id)}`);
      toast(`Deleted “${dashboard.name}”`);
      list.reload();
    } catch (failure) {
      toast(problemText(failure), 'error');
    }
  };
  const items = listOf(list.data);
  return html`<div class="an-dashboards">
    <nav class="breadcrumbs" aria-label="Breadcrumbs"><a href="/admin/analytics">Analytics</a></nav>
    <h1>Dashboards</h1>
    <form class="inline-form card" onSubmit=${create}>
      <label for="an-new-dashboard">New dashboard
        <input id="an-new-dashboard" value=${name} maxlength="120" onInput=${(e) => setName(e.currentTarget.value)} />
      </label>
      <button type="submit" disabled=${busy}>Create</button>
      <${ErrorMessage} error=${error} />
    </form>
    ${list.error ? html`<${ErrorMessage} error=${list.error} />` : null}
    ${
      list.loading && !list.data
        ? html`<${Loading} />`
        : items.length
          ? html`<ul class="an-dashboard-list">
              ${items.map(
                (dashboard) => html`<li key=${dashboard.id} class="card row">
                  <a href=${`/admin/analytics/dashboards/${encodeURIComponent(dashboard.id)}`}>${dashboard.name}</a>
                  <span class="muted">${(dashboard.views || []).length} views</span>
                  <span class="spacer"></span>
                  <button type="button" class="secondary small" aria-label=${`Delete ${dashboard.name}`}
                    onClick=${() => setDeleting(dashboard)}>Delete</button>
                </li>`,
              )}
            </ul>`
          : list.data
            ? html`<p class="muted">No dashboards yet: name one above to start.</p>`
            : null
    }
    <${Dialog} open=${Boolean(deleting)} title="Delete the dashboard?" onClose=${() => setDeleting(null)}>
      <p>“${deleting?.name}” and its views will be deleted. The figures stay.</p>
      <div class="row">
        <button type="button" class="danger" onClick=${remove}>Delete</button>
        <button type="button" class="secondary" onClick=${() => setDeleting(null)}>Cancel</button>
      </div>
    <//>
  </div>`;
}

// ---------------------------------------------------------------- one view on the grid

const ARRANGE = [
  { action: 'up', text: '↑', label: 'Move up' },
  { action: 'down', text: '↓', label: 'Move down' },
  { action: 'left', text: '←', label: 'Move left' },
  { action: 'right', text: '→', label: 'Move right' },
  { action: 'wider', text: '⇔+', label: 'Wider' },
  { action: 'narrower', text: '⇔−', label: 'Narrower' },
  { action: 'taller', text: '⇕+', label: 'Taller' },
  { action: 'shorter', text: '⇕−', label: 'Shorter' },
];

function disabled(action, p) {
  if (action === 'up') return p.y === 0;
  if (action === 'left') return p.x === 0;
  if (action === 'right') return p.x + p.w >= COLUMNS;
  if (action === 'wider') return p.w >= COLUMNS;
  if (action === 'narrower') return p.w <= MIN_WIDTH;
  if (action === 'taller') return p.h >= MAX_HEIGHT;
  if (action === 'shorter') return p.h <= 1;
  return false;
}

function GridView({ view, range, tz, arranging, onArrange, onEdit, onRemove }) {
  const p = view.position;
  const shown = viewRange(view, range.chosen, range.now);
  const days = range.chosen ? null : label(VIEW_DAYS, view.days || 30);
  const style = { '--col': p.x + 1, '--span': p.w, '--row': p.y + 1, '--rows': p.h };
  return html`<section class="card an-grid-view" style=${style} data-view=${view.id}
    aria-labelledby=${`an-view-${view.id}`}>
    <div class="row an-view-header">
      <h2 id=${`an-view-${view.id}`}>${view.title}</h2>
      ${days ? html`<span class="muted small">${typeof days === 'number' ? `Last ${days} days` : days}</span>` : null}
      <span class="spacer"></span>
      <button type="button" class="link small" aria-label=${`Edit ${view.title}`} onClick=${() => onEdit(view)}>Edit</button>
      <button type="button" class="link small" aria-label=${`Remove ${view.title}`} onClick=${() => onRemove(view)}>Remove</button>
    </div>
    ${
      arranging
        ? html`<div class="an-arrange" role="group" aria-label=${`Arrange ${view.title}`}>
            ${ARRANGE.map(
              ({ action, text, label: name }) => html`<button key=${action} type="button" class="secondary small"
                data-action=${action} aria-label=${`${name}: ${view.title}`} title=${name}
                disabled=${disabled(action, p)} onClick=${() => onArrange(view, action)}>${text}</button>`,
            )}
            <span class="muted small">column ${p.x + 1}, row ${p.y + 1}, ${p.w}×${p.h}</span>
          </div>`
        : null
    }
    <${ViewPanel} view=${view} range=${shown} tz=${tz} height=${null} />
  </section>`;
}

// ---------------------------------------------------------------- one dashboard

function DashboardPage({ id }) {
  const loaded = useLoad(() => get(`/analytics/dashboards/${encodeURIComponent(id)}`), [id]);
  const [dashboard, setDashboard] = useState(null);
  const [status, setStatus] = useState({ state: 'idle' });
  const [editing, setEditing] = useState(null); // a view (new: without id)
  const [renaming, setRenaming] = useState(null); // the name being typed
  const [arranging, setArranging] = useState(false);
  const [announce, setAnnounce] = useState('');
  const [period, setPeriod] = useState(() => {
    const params = queryParams();
    return {
      preset: PERIODS.some((p) => p.value === params.range) ? params.range : 'views',
      tz: params.tz || LOCAL_TZ,
    };
  });
  const saving = useRef(0);
  const focusAfter = useRef(null);
  useTitle(dashboard ? dashboard.name : 'Dashboard');
  // Once per choice of period (a relative range ends at the time it was chosen), so that
  // saving does not read every view again.
  const range = useMemo(() => {
    const now = Date.now();
    return { now, chosen: period.preset === 'views' ? null : resolveRange({ preset: period.preset }, period.tz, now) };
  }, [period]);

  useEffect(() => {
    if (loaded.data) setDashboard(loaded.data);
  }, [loaded.data]);
  useEffect(
    () =>
      setQuery({ range: period.preset === 'views' ? '' : period.preset, tz: period.tz === LOCAL_TZ ? '' : period.tz }),
    [period],
  );
  useEffect(() => {
    // After a move the view's button is another element in another place: focus it again.
    if (!focusAfter.current) return;
    const { view, action } = focusAfter.current;
    focusAfter.current = null;
    const button = document.querySelector(`[data-view="${view}"] button[data-action="${action}"]`);
    if (button && !button.disabled) button.focus();
    else document.querySelector(`[data-view="${view}"] .an-arrange button:not(:disabled)`)?.focus();
  });

  // Every change is saved at once, the whole dashboard in one PUT; the newest answer wins.
  const save = async (next, what) => {
    setDashboard(next);
    const mine = ++saving.current;
    setStatus({ state: 'saving' });
    try {
      const body = { name: next.name, views: next.views };
      const stored = await put(`/analytics/dashboards/${encodeURIComponent(id)}`, body);
      if (mine !== saving.current) return;
      if (stored && typeof stored === 'object' && Array.isArray(stored.views)) setDashboard(stored);
      setStatus({ state: 'saved', what });
    } catch (error) {
      if (mine !== saving.current) return;
      // What was changed stays on the screen; Save again retries it.
      setStatus({ state: 'failed', error, next, what });
    }
  };

  if (loaded.error)
    return html`<nav class="breadcrumbs" aria-label="Breadcrumbs"><a href="/admin/analytics/dashboards">Dashboards</a></nav>
    <${ErrorMessage} error=${loaded.error} />`;
  if (!dashboard) return html`<${Loading} />`;

  const views = dashboard.views || [];
  const arrange = (view, action) => {
    const next =
      action === 'wider'
        ? resizeView(views, view.id, 1, 0)
        : action === 'narrower'
          ? resizeView(views, view.id, -1, 0)
          : action === 'taller'
            ? resizeView(views, view.id, 0, 1)
            : action === 'shorter'
              ? resizeView(views, view.id, 0, -1)
              : moveView(views, view.id, action);
    const p = next.find((one) => one.id === view.id).position;
    focusAfter.current = { view: view.id, action };
    setAnnounce(`${view.title}: column ${p.x + 1}, row ${p.y + 1}, ${p.w} columns wide, ${p.h} rows high.`);
    save({ ...dashboard, views: next }, 'arranged');
  };
  const submitView = (draft) => {
    setEditing(null);
    if (draft.id) {
      save(
        { ...dashboard, views: views.map((one) => (one.id === draft.id ? { ...one, ...draft } : one)) },
        'view saved',
      );
    } else {
      const view = { ...draft, id: newId(views), position: freePlace(views) };
      save({ ...dashboard, views: [...views, view] }, 'view added');
    }
  };
  const removeView = (view) => save({ ...dashboard, views: views.filter((one) => one.id !== view.id) }, 'view removed');
  const rename = (event) => {
    event.preventDefault();
    const name = renaming.trim();
    if (!name) return;
    setRenaming(null);
    save({ ...dashboard, name }, 'renamed');
  };
  const rows = Math.max(1, ...views.map((view) => view.position.y + view.position.h));

  return html`<div class="an-dashboard">
    <nav class="breadcrumbs" aria-label="Breadcrumbs">
      <a href="/admin/analytics">Analytics</a> › <a href="/admin/analytics/dashboards">Dashboards</a>
    </nav>
    <div class="row an-header">
      ${
        renaming === null
          ? html`<h1>${dashboard.name}</h1>
              <button type="button" class="link small" onClick=${() => setRenaming(dashboard.name)}>Rename</button>`
          : html`<form class="inline-form" onSubmit=${rename}>
              <label for="an-rename">Name
                <input id="an-rename" value=${renaming} maxlength="120" required
                  onInput=${(e) => setRenaming(e.currentTarget.value)} />
              </label>
              <button type="submit">Save name</button>
              <button type="button" class="secondary" onClick=${() => setRenaming(null)}>Cancel</button>
            </form>`
      }
      <span class="spacer"></span>
      <p class="an-save-status" role="status">
        ${status.state === 'saving' ? 'Saving…' : status.state === 'saved' ? `Saved (${status.what})` : ''}
      </p>
    </div>
    ${
      status.state === 'failed'
        ? html`<div class="notice row" role="alert">
            <span>Not saved: ${problemText(status.error)}</span>
            <button type="button" class="small" onClick=${() => save(status.next, status.what)}>Save again</button>
          </div>`
        : null
    }
    <div class="row an-dashboard-tools">
      <label for="an-dash-range">Range
        <select id="an-dash-range" value=${period.preset} onChange=${(e) => setPeriod({ ...period, preset: e.currentTarget.value })}>
          ${PERIODS.map((p) => html`<option key=${p.value} value=${p.value}>${p.label}</option>`)}
        </select>
      </label>
      <span class="muted small">Time zone ${period.tz}</span>
      <span class="spacer"></span>
      <button type="button" onClick=${() => setEditing({ ...NEW_VIEW })}>Add view</button>
      <button type="button" class="secondary" aria-pressed=${arranging} onClick=${() => setArranging(!arranging)}>
        ${arranging ? 'Done arranging' : 'Arrange'}
      </button>
    </div>
    <p class="visually-hidden" aria-live="polite">${announce}</p>
    ${
      views.length
        ? html`<div class=${`an-grid${arranging ? ' an-grid-arranging' : ''}`} style=${{ '--rows-total': rows }}>
            ${reading(views).map(
              (view) => html`<${GridView} key=${view.id} view=${view} range=${range} tz=${period.tz}
                arranging=${arranging} onArrange=${arrange} onEdit=${setEditing} onRemove=${removeView} />`,
            )}
          </div>`
        : html`<p class="muted">No views yet. <button type="button" class="link" onClick=${() => setEditing({ ...NEW_VIEW })}>Add a view</button>
            of a metric, grouped and filtered as you like.</p>`
    }
    <${Dialog} open=${editing !== null} title=${editing?.id ? 'Edit view' : 'Add a view'} wide=${true}
      onClose=${() => setEditing(null)}>
      ${
        editing
          ? html`<${ViewForm} key=${editing.id || 'new'} view=${editing} onSubmit=${submitView}
        onCancel=${() => setEditing(null)} submitLabel=${editing.id ? 'Save view' : 'Add view'} />`
          : null
      }
    <//>

  </div>`;
}

export default function Dashboards({ id }) {
  return id ? html`<${DashboardPage} id=${id} />` : html`<${DashboardList} />`;
}
