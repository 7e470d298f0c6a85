// The dialog of one schedule entry: which playlist, when (wall time in the channel's
// zone), how long, how it repeats (a small form for the common rules, the RRULE text
// shown), occurrences skipped (EXDATE), priority and order. It creates an entry (from a
// range selected in the calendar, or the "New entry" button: the keyboard way) and edits
// one (clicking or pressing Enter on an occurrence), so every drag has a typed equivalent.
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { buildRule, DAY_NAMES, DAYS, describeRule, parseRule } from '../recurrence.js';
import { Dialog, ErrorMessage } from '../ui.js';

const weekday = (iso) => DAYS[(new Date(`${iso.slice(0, 10)}T00:00:00Z`).getUTCDay() + 6) % 7];

// The form's fields (controlled: a re-render must not put the entry's values back).
function fieldsOf(entry) {
  return {
    playlist_id: entry.playlist_id || '',
    start: entry.start.slice(0, 16),
    minutes: String(Math.round((entry.duration_seconds || 3600) / 60)),
    priority: String(entry.priority ?? 0),
    order: entry.order || 'sequential',
  };
}

// {playlist_id, start, duration_seconds, rrule, exdates, priority, order} for the API.
export function entryBody(fields, rule, exdates) {
  const start = fields.start.length === 16 ? `${fields.start}:00` : fields.start;
  return {
    playlist_id: fields.playlist_id,
    start,
    duration_seconds: Math.round(Number.parseFloat(fields.minutes) * 60),
    rrule: buildRule(rule, weekday(start)),
    exdates,
    priority: Number.parseInt(fields.priority, 10) || 0,
    order: fields.order,
  };
}

function RecurrenceFields({ rule, setRule }) {
  const set = (key) => (event) => setRule({ ...rule, [key]: event.currentTarget.value });
  const toggleDay = (day) =>
    setRule({ ...rule, days: rule.days.includes(day) ? rule.days.filter((d) => d !== day) : [...rule.days, day] });
  return html`<fieldset class="ch-fieldset">
    <legend>Repeat</legend>
    <label>Repeats
      <select name="repeat" value=${rule.repeat} onChange=${set('repeat')}>
        <option value="none">Does not repeat</option>
        <option value="daily">Daily</option>
        <option value="weekdays">Every weekday (Mon–Fri)</option>
        <option value="weekly">Weekly on…</option>
        <option value="custom">Custom RRULE</option>
      </select>
    </label>
    ${
      (rule.repeat === 'daily' || rule.repeat === 'weekly') &&
      html`<label>Every <input name="interval" type="number" min="1" max="52" value=${rule.interval} onInput=${set('interval')} />
        ${rule.repeat === 'daily' ? 'days' : 'weeks'}</label>`
    }
    ${
      rule.repeat === 'weekly' &&
      html`<fieldset class="ch-days"><legend>On</legend>
        ${DAYS.map(
          (day) => html`<label key=${day} class="ch-day"><input type="checkbox" checked=${rule.days.includes(day)}
            onChange=${() => toggleDay(day)} /> ${DAY_NAMES[day]}</label>`,
        )}
      </fieldset>`
    }
    ${
      rule.repeat === 'custom' &&
      html`<label>RRULE <input name="rrule_text" value=${rule.text} onInput=${set('text')}
        placeholder="FREQ=MONTHLY;BYDAY=1MO" autocomplete="off" spellcheck="false" /></label>`
    }
    ${
      rule.repeat !== 'none' &&
      rule.repeat !== 'custom' &&
      html`<label>Ends
        <select name="ends" value=${rule.end} onChange=${set('end')}>
          <option value="never">Never</option>
          <option value="until">On a date</option>
          <option value="count">After a number of times</option>
        </select>
      </label>
      ${rule.end === 'until' && html`<label>Last day <input name="until" type="date" required value=${rule.until} onInput=${set('until')} /></label>`}
      ${rule.end === 'count' && html`<label>Times <input name="count" type="number" min="1" value=${rule.count} onInput=${set('count')} /></label>`}`
    }
  </fieldset>`;
}

// entry: the entry edited, or a new one's defaults {start, duration_seconds, ...}.
// skipping: the local wall time of the occurrence clicked (offered as an exception).
export function EntryDialog({
  open,
  entry,
  isNew,
  playlists,
  timezone,
  occurrence,
  writer,
  onSave,
  onDelete,
  onClose,
}) {
  const [rule, setRule] = useState(parseRule(null));
  const [fields, setFields] = useState(null);
  const [exdates, setExdates] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!open || !entry) return;
    setRule(parseRule(entry.rrule));
    setFields(fieldsOf(entry));
    setExdates(entry.exdates || []);
    setError(null);
  }, [open, entry]);
  if (!entry || !fields) return html`<${Dialog} open=${false} title="Schedule entry" onClose=${onClose} />`;
  const field = (key) => ({
    value: fields[key],
    onInput: (event) => setFields({ ...fields, [key]: event.currentTarget.value }),
  });
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onSave(entryBody(fields, rule, exdates));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    setBusy(true);
    try {
      await onDelete();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const text = buildRule(rule, weekday(fields.start));
  const skip = occurrence?.wall;
  return html`<${Dialog} open=${open} title=${isNew ? 'New schedule entry' : 'Schedule entry'} onClose=${onClose} wide>
    <form class="stack ch-entry-form" onSubmit=${submit}>
      <fieldset class="ch-fieldset" disabled=${!writer}>
        <legend>What and when <span class="muted">(times in ${timezone})</span></legend>
        <label>Playlist
          <select name="playlist_id" required ...${field('playlist_id')}>
            <option value="" disabled>Choose a playlist</option>
            ${playlists.map((p) => html`<option key=${p.id} value=${p.id}>${p.name}</option>`)}
          </select>
        </label>
        <div class="row ch-when">
          <label>Starts <input name="start" type="datetime-local" step="60" required ...${field('start')} /></label>
          <label>Minutes <input name="duration_minutes" type="number" min="1" step="1" required
            ...${field('minutes')} /></label>
          <label>Priority <input name="priority" type="number" step="1" ...${field('priority')} /></label>
          <label>Order
            <select name="order" ...${field('order')}>
              <option value="sequential">Sequential</option>
              <option value="shuffle">Shuffle</option>
            </select>
          </label>
        </div>
      </fieldset>
      ${writer && html`<${RecurrenceFields} rule=${rule} setRule=${setRule} />`}
      <p class="ch-rule">${describeRule(text)}. <span class="muted">RRULE:</span> <code data-testid="rrule">${text || '(none)'}</code></p>
      ${
        (exdates.length > 0 || (skip && entry.rrule)) &&
        html`<fieldset class="ch-fieldset"><legend>Skipped occurrences (EXDATE)</legend>
          <ul class="ch-exdates">
            ${exdates.map(
              (date) => html`<li key=${date}>${date.replace('T', ' ').slice(0, 16)}
                ${
                  writer &&
                  html`<button type="button" class="link" aria-label=${`Play on ${date} again`}
                  onClick=${() => setExdates(exdates.filter((d) => d !== date))}>Restore</button>`
                }</li>`,
            )}
          </ul>
          ${
            writer &&
            skip &&
            entry.rrule &&
            !exdates.includes(skip) &&
            html`<button type="button" class="secondary small" onClick=${() => setExdates([...exdates, skip].sort())}>
              Skip the occurrence of ${skip.replace('T', ' ').slice(0, 16)}</button>`
          }
        </fieldset>`
      }
      ${
        occurrence &&
        !occurrence.wins &&
        html`<p class="notice">This occurrence does not play: ${occurrence.reason || 'another entry wins'}.</p>`
      }
      <${ErrorMessage} error=${error} />
      ${
        writer &&
        html`<div class="row">
        <button type="submit" disabled=${busy}>${isNew ? 'Add to the schedule' : 'Save'}</button>
        ${!isNew && html`<button type="button" class="danger" disabled=${busy} onClick=${remove}>Delete entry</button>`}
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>`
      }
    </form>
  <//>`;
}
