// Small shared pieces of UI and formatting.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';

// --- toasts: visible feedback for saves and failures, announced to screen readers.
let toastId = 0;
let toasts = [];
const toastListeners = new Set();

export function toast(message, kind = 'info', { timeout = kind === 'error' ? 8000 : 3500 } = {}) {
  const id = ++toastId;
  toasts = [...toasts, { id, message, kind }];
  for (const listener of toastListeners) listener(toasts);
  setTimeout(() => dismissToast(id), timeout);
  return id;
}

export function dismissToast(id) {
  toasts = toasts.filter((t) => t.id !== id);
  for (const listener of toastListeners) listener(toasts);
}

export function Toasts() {
  const [items, setItems] = useState(toasts);
  useEffect(() => {
    toastListeners.add(setItems);
    return () => toastListeners.delete(setItems);
  }, []);
  return html`<div class="toasts" role="status" aria-live="polite">
    ${items.map(
      (t) => html`<div key=${t.id} class=${`toast toast-${t.kind}`}>
        <span>${t.message}</span>
        <button type="button" class="link" aria-label="Dismiss" onClick=${() => dismissToast(t.id)}>×</button>
      </div>`,
    )}
  </div>`;
}

// --- errors
export function problemText(error) {
  if (!error) return '';
  const problem = error.problem || {};
  let text = problem.detail || problem.title || error.message || String(error);
  if (Array.isArray(problem.errors) && problem.errors.length) {
    text += `: ${problem.errors.map((e) => e.msg || e.message || JSON.stringify(e)).join('; ')}`;
  }
  return text;
}

export function ErrorMessage({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${problemText(error)}</p>`;
}

export function Loading({ label = 'Loading…' }) {
  return html`<p class="muted" role="status"><span class="spinner" aria-hidden="true"></span> ${label}</p>`;
}

// --- a modal dialog on the native <dialog> element (focus trap and Escape for free).
export function Dialog({ open, title, onClose, children, wide = false }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return html`<dialog ref=${ref} class=${wide ? 'wide' : ''} aria-label=${title} onClose=${onClose} onCancel=${onClose}>
    <header class="dialog-header">
      <h2>${title}</h2>
      <button type="button" class="link" aria-label="Close" onClick=${onClose}>×</button>
    </header>
    ${open ? children : null}
  </dialog>`;
}

// --- paging with the API's cursors: {next, previous} are cursor strings or null.
export function Pager({ next, previous, onNext, onPrevious, label = 'Pages' }) {
  if (!next && !previous) return null;
  return html`<nav class="pager" aria-label=${label}>
    <button type="button" disabled=${!previous} onClick=${onPrevious}>← Previous</button>
    <button type="button" disabled=${!next} onClick=${onNext}>Next →</button>
  </nav>`;
}

export function ProgressBar({ value, label }) {
  const percent = Math.max(0, Math.min(100, Math.round((value || 0) * 100)));
  return html`<div class="progress" role="progressbar" aria-label=${label} aria-valuemin="0" aria-valuemax="100" aria-valuenow=${percent}>
    <div class="progress-fill" style=${{ width: `${percent}%` }}></div>
    <span class="progress-text">${percent}%</span>
  </div>`;
}

// --- formatting
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '–';
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 && unit ? 1 : 0)} ${units[unit]}`;
}

// A time of day to the second ("14:03:07" in the reader's locale) from ms since the epoch.
export function formatTime(t) {
  return new Date(t).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function formatDate(value) {
  if (!value) return '–';
  const date = new Date(value);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function useTitle(title) {
  useEffect(() => {
    document.title = title ? `${title} · Streamer admin` : 'Streamer admin';
  }, [title]);
}
