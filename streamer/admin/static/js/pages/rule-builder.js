// A smart playlist's rule, edited as rows (field, operator, value) in nested "all"/"any"
// groups, with a limit and an order, and a live preview of what the rule selects now
// (POST /api/v1/playlists/preview). The rule is kept in the API's JSON shape
// (docs/playlists.md, "Smart playlists"); the server validates it, and its messages show
// under the preview while a row is incomplete.
import { useEffect, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { html } from '../html.js';
import { formatDuration, problemText } from '../ui.js';

export const FIELDS = [
  ['title', 'Title', 'text'],
  ['artist', 'Artist', 'text'],
  ['album', 'Album', 'text'],
  ['album_artist', 'Album artist', 'text'],
  ['genre', 'Genre', 'text'],
  ['labels', 'Labels', 'list'],
  ['year', 'Year', 'number'],
  ['duration', 'Duration (seconds)', 'number'],
  ['added', 'Added', 'date'],
  ['loudness', 'Loudness (LUFS)', 'number'],
  ['play_count', 'Play count', 'number'],
  ['track_number', 'Track number', 'number'],
  ['disc_number', 'Disc number', 'number'],
  ['bitrate', 'Bit rate', 'number'],
  ['codec', 'Codec', 'text'],
  ['path', 'Path', 'text'],
  ['tag:', 'Other tag…', 'text'],
];

const OPERATORS = {
  text: [
    ['is', 'is'],
    ['is_not', 'is not'],
    ['contains', 'contains'],
    ['not_contains', 'does not contain'],
    ['starts_with', 'starts with'],
    ['ends_with', 'ends with'],
    ['in', 'is one of'],
    ['not_in', 'is none of'],
    ['is_empty', 'is empty'],
    ['is_not_empty', 'is not empty'],
  ],
  number: [
    ['is', '='],
    ['is_not', '≠'],
    ['lt', '<'],
    ['lte', '≤'],
    ['gt', '>'],
    ['gte', '≥'],
    ['between', 'between'],
    ['is_empty', 'is empty'],
    ['is_not_empty', 'is not empty'],
  ],
  date: [
    ['in_the_last', 'in the last (days)'],
    ['not_in_the_last', 'not in the last (days)'],
    ['before', 'before'],
    ['after', 'after'],
    ['between', 'between'],
  ],
  list: [
    ['contains', 'has'],
    ['not_contains', 'does not have'],
    ['in', 'has one of'],
    ['not_in', 'has none of'],
    ['is_empty', 'has none'],
    ['is_not_empty', 'has some'],
  ],
};

const ORDERS = FIELDS.filter(([name, , type]) => type !== 'list' && name !== 'tag:');

export const EMPTY_RULE = { match: { all: [] }, order: [] };

function typeOf(field) {
  if (field.startsWith('tag:')) return 'text';
  return (FIELDS.find(([name]) => name === field) || [])[2] || 'text';
}

// What kind of value an operator takes: none, one, a [low, high] pair, or a list.
function shape(op) {
  if (op === 'between') return 'pair';
  if (op === 'in' || op === 'not_in') return 'list';
  if (op === 'is_empty' || op === 'is_not_empty') return 'none';
  return 'one';
}
const EMPTY_VALUE = { none: null, one: '', pair: ['', ''], list: [] };

function blank(field = 'genre') {
  return { field, op: OPERATORS[typeOf(field)][0][0], value: '' };
}

// The value an input holds, as the rule's JSON wants it.
function parsed(type, raw) {
  if (type === 'number' || raw === '') return raw === '' ? '' : Number(raw);
  return raw;
}

function ValueInput({ condition, label, disabled, onChange }) {
  const type = typeOf(condition.field);
  const { op, value } = condition;
  if (op === 'is_empty' || op === 'is_not_empty') return null;
  if (op === 'in_the_last' || op === 'not_in_the_last')
    return html`<input type="number" min="1" step="any" class="rb-value" aria-label=${`${label}: days`} disabled=${disabled}
      value=${value ?? ''} onInput=${(e) => onChange(parsed('number', e.currentTarget.value))} />`;
  const kind = type === 'number' ? 'number' : type === 'date' ? 'date' : 'text';
  if (op === 'between') {
    const [low, high] = Array.isArray(value) ? value : ['', ''];
    const set = (at) => (e) => {
      const next = [low, high];
      next[at] = parsed(type, e.currentTarget.value);
      onChange(next);
    };
    return html`<span class="rb-between">
      <input type=${kind} step="any" class="rb-value" aria-label=${`${label}: from`} disabled=${disabled} value=${low} onInput=${set(0)} />
      <span aria-hidden="true">and</span>
      <input type=${kind} step="any" class="rb-value" aria-label=${`${label}: to`} disabled=${disabled} value=${high} onInput=${set(1)} />
    </span>`;
  }
  if (op === 'in' || op === 'not_in') {
    const text = Array.isArray(value) ? value.join(', ') : '';
    const split = (e) =>
      onChange(
        e.currentTarget.value
          .split(',')
          .map((part) => part.trim())
          .filter(Boolean),
      );
    return html`<input type="text" class="rb-value" aria-label=${`${label}: values, separated by commas`} disabled=${disabled}
      placeholder="one, two" value=${text} onChange=${split} />`;
  }
  return html`<input type=${kind} step="any" class="rb-value" aria-label=${`${label}: value`} disabled=${disabled}
    value=${value ?? ''} onInput=${(e) => onChange(parsed(type, e.currentTarget.value))} />`;
}

function ConditionRow({ condition, label, disabled, onChange, onRemove }) {
  const isTag = condition.field.startsWith('tag:');
  const type = typeOf(condition.field);
  const setField = (e) => {
    const field = e.currentTarget.value;
    const next = typeOf(field) === type ? { ...condition, field } : blank(field);
    onChange(next);
  };
  const setOp = (e) => {
    const op = e.currentTarget.value;
    // The value is kept when the new operator takes the same shape of value.
    const next = { ...condition, op };
    if (shape(op) !== shape(condition.op)) next.value = EMPTY_VALUE[shape(op)];
    if (shape(op) === 'none') delete next.value;
    onChange(next);
  };
  return html`<li class="rb-condition">
    <select aria-label=${`${label}: field`} disabled=${disabled} value=${isTag ? 'tag:' : condition.field} onChange=${setField}>
      ${FIELDS.map(([name, text]) => html`<option key=${name} value=${name}>${text}</option>`)}
    </select>
    ${
      isTag &&
      html`<input type="text" class="rb-tag" aria-label=${`${label}: tag name`} placeholder="mood" disabled=${disabled}
      value=${condition.field.slice(4)} onInput=${(e) => onChange({ ...condition, field: `tag:${e.currentTarget.value.trim()}` })} />`
    }
    <select aria-label=${`${label}: operator`} disabled=${disabled} value=${condition.op} onChange=${setOp}>
      ${OPERATORS[type].map(([op, text]) => html`<option key=${op} value=${op}>${text}</option>`)}
    </select>
    <${ValueInput} condition=${condition} label=${label} disabled=${disabled} onChange=${(value) => onChange({ ...condition, value })} />
    <button type="button" class="secondary small" aria-label=${`Remove ${label}`} disabled=${disabled} onClick=${onRemove}>Remove</button>
  </li>`;
}

function Group({ group, label, depth, disabled, onChange, onRemove }) {
  const kind = 'any' in group ? 'any' : 'all';
  const children = group[kind];
  const set = (next) => onChange({ [kind]: next });
  const replace = (at) => (child) => set(children.map((c, n) => (n === at ? child : c)));
  const remove = (at) => () => set(children.filter((_, n) => n !== at));
  return html`<fieldset class=${`rb-group rb-depth-${depth}`}>
    <legend class="pl-sr-only">${label}</legend>
    <div class="row rb-group-head">
      <label>Tracks matching
        <select disabled=${disabled} value=${kind} onChange=${(e) => onChange({ [e.currentTarget.value]: children })}>
          <option value="all">all</option>
          <option value="any">any</option>
        </select>
        of these</label>
      ${onRemove && html`<button type="button" class="secondary small" aria-label=${`Remove group: ${label}`} disabled=${disabled} onClick=${onRemove}>Remove group</button>`}
    </div>
    <ul class="rb-list">
      ${children.map((child, n) => {
        const name = `${label}, ${'field' in child ? 'condition' : 'group'} ${n + 1}`;
        return 'field' in child
          ? html`<${ConditionRow} key=${n} condition=${child} label=${name} disabled=${disabled} onChange=${replace(n)} onRemove=${remove(n)} />`
          : html`<li key=${n}><${Group} group=${child} label=${name} depth=${depth + 1} disabled=${disabled} onChange=${replace(n)} onRemove=${remove(n)} /></li>`;
      })}
    </ul>
    <div class="row">
      <button type="button" class="secondary small" disabled=${disabled} onClick=${() => set([...children, blank()])}>Add condition</button>
      ${depth < 5 && html`<button type="button" class="secondary small" disabled=${disabled} onClick=${() => set([...children, { any: [blank()] }])}>Add group</button>`}
    </div>
  </fieldset>`;
}

function OrderEditor({ rule, disabled, onChange }) {
  const key = rule.order?.[0] || null;
  const field = key ? key.field : '';
  const set = (next) => onChange({ ...rule, order: next ? [next] : [] });
  return html`<div class="row rb-order">
    <label>Order
      <select disabled=${disabled} value=${field} onChange=${(e) => {
        const value = e.currentTarget.value;
        if (!value) set(null);
        else if (value === 'random') set({ field: 'random', seed: key?.seed || '' });
        else set({ field: value, direction: key?.direction || 'asc' });
      }}>
        <option value="">artist, album, track</option>
        <option value="random">random</option>
        ${ORDERS.map(([name, text]) => html`<option key=${name} value=${name}>${text}</option>`)}
      </select>
    </label>
    ${
      field === 'random'
        ? html`<label>Seed <input type="text" maxlength="64" disabled=${disabled} value=${key.seed || ''}
          onInput=${(e) => set({ field: 'random', seed: e.currentTarget.value })} /></label>`
        : field &&
          html`<label>Direction
          <select disabled=${disabled} value=${key.direction || 'asc'} onChange=${(e) => set({ field, direction: e.currentTarget.value })}>
            <option value="asc">ascending</option>
            <option value="desc">descending</option>
          </select></label>`
    }
    <label>Limit <input type="number" min="1" max="5000" class="rb-limit" disabled=${disabled} value=${rule.limit ?? ''}
      placeholder="none" onInput=${(e) => {
        const next = { ...rule };
        next.limit = e.currentTarget.value === '' ? null : Number(e.currentTarget.value);
        onChange(next);
      }} /></label>
  </div>`;
}

// Which libraries the rule draws from (shown when the user can read more than one); none
// chosen but the playlist's own means the default (the rule names no libraries).
function LibraryChoice({ rule, libraryId, disabled, onChange }) {
  const [libraries, setLibraries] = useState([]);
  useEffect(() => {
    get('/libraries').then(setLibraries, () => setLibraries([]));
  }, []);
  if (libraries.length < 2) return null;
  const chosen = rule.libraries || [libraryId];
  const toggle = (id) => (event) => {
    const next = event.currentTarget.checked ? [...chosen, id] : chosen.filter((one) => one !== id);
    const own = !next.length || (next.length === 1 && next[0] === libraryId);
    onChange({ ...rule, libraries: own ? null : next });
  };
  return html`<fieldset class="rb-libraries">
    <legend>Draw from the libraries</legend>
    ${libraries.map(
      (library) => html`<label key=${library.id} class="row"><input type="checkbox" disabled=${disabled}
        checked=${chosen.includes(library.id)} onChange=${toggle(library.id)} /> ${library.name}</label>`,
    )}
  </fieldset>`;
}

export function RuleBuilder({ rule, libraryId, disabled, onChange }) {
  return html`<div class="stack rb">
    <${Group} group=${rule.match || { all: [] }} label="Rule" depth=${0} disabled=${disabled} onChange=${(match) => onChange({ ...rule, match })} />
    <${OrderEditor} rule=${rule} disabled=${disabled} onChange=${onChange} />
    ${libraryId && html`<${LibraryChoice} rule=${rule} libraryId=${libraryId} disabled=${disabled} onChange=${onChange} />`}
  </div>`;
}

// What the rule selects now, refreshed (debounced) as it changes.
export function RulePreview({ rule, libraryId }) {
  const [state, setState] = useState({ kind: 'loading' });
  const text = JSON.stringify(rule);
  useEffect(() => {
    const controller = new AbortController();
    const timer = setTimeout(() => {
      const body = libraryId ? { rules: rule, library_id: libraryId } : { rules: rule };
      post('/playlists/preview', body, { signal: controller.signal }).then(
        (result) => setState({ kind: 'ok', result }),
        (error) => error.name !== 'AbortError' && setState({ kind: 'error', error }),
      );
    }, 300);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text, libraryId]);
  let body;
  if (state.kind === 'loading') body = html`<p class="muted">Evaluating the rule…</p>`;
  else if (state.kind === 'error') {
    const details = state.error.problem?.errors || [];
    body = html`<div class="error" role="alert"><p>The rule is not complete: ${details.length ? state.error.problem.detail : problemText(state.error)}</p>
      ${details.length > 0 && html`<ul>${details.map((d, n) => html`<li key=${n}>${d.msg.replace(/^Value error, /, '')}</li>`)}</ul>`}</div>`;
  } else {
    const { result } = state;
    body = html`<p class="rb-summary">${result.count} ${result.count === 1 ? 'track' : 'tracks'} · ${formatDuration(result.duration)}</p>
      <ol class="rb-preview-list">
        ${result.items.slice(0, 100).map((item) => html`<li key=${item.track_id}>${item.title || item.track_id}${item.artist && html` <span class="muted">— ${item.artist}</span>`}</li>`)}
      </ol>
      ${result.count > 100 && html`<p class="muted small">and ${result.count - 100} more</p>`}`;
  }
  return html`<section class="card stack rb-preview" aria-labelledby="rb-preview-heading" aria-live="polite">
    <h2 id="rb-preview-heading">Preview</h2>
    ${body}
  </section>`;
}
