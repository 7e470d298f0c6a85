// /admin/channels: the radio channels (a schedule of playlists played live), listed with
// their zone and fill; writers create one in a dialog (name, time zone, what plays in the
// gaps, repetition rules) and delete one after confirming.
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { browserZone, timeZones } from '../calendar.js';
import { DeleteDialog } from '../delete_dialog.js';
import { html } from '../html.js';
import { navigate } from '../router.js';
import { can } from '../session.js';
import { Dialog, ErrorMessage, formatDate, Loading, problemText, toast, useTitle } from '../ui.js';

export const FILL_MODES = [
  ['loop', 'Loop: the fill playlist in order'],
  ['shuffle', 'Shuffle: the fill playlist shuffled'],
  ['fallback', 'Fallback'],
];

// Every playlist the user can read, for choosing (the API pages them by 500).
export async function allPlaylists() {
  const items = [];
  for (let offset = 0; offset < 5000; offset += 500) {
    const page = await get('/playlists', { query: { limit: 500, offset } });
    items.push(...page.items);
    if (items.length >= page.total || !page.items.length) break;
  }
  return items;
}

// GET /channels answers a list (or a page of one).
export function channelItems(answer) {
  return Array.isArray(answer) ? answer : answer?.items || [];
}

// A <select> of IANA zones; `extra` options (value, label) come first.
export function ZoneSelect({ value, onChange, name, id, extra = [] }) {
  const zones = timeZones();
  const listed = zones.includes(value) || extra.some(([v]) => v === value) ? zones : [value, ...zones];
  return html`<select id=${id} name=${name} value=${value} onChange=${(event) => onChange?.(event.currentTarget.value)}>
    ${extra.map(([v, label]) => html`<option key=${`x-${v}`} value=${v}>${label}</option>`)}
    ${listed.map((zone) => html`<option key=${zone} value=${zone}>${zone.replaceAll('_', ' ')}</option>`)}
  </select>`;
}

// The fields of a channel (create and settings): returns the body for POST/PATCH (a PATCH
// clears the loudness target with clear_loudness_target: null there means "unchanged").
export function channelBody(form) {
  const data = new FormData(form);
  const number = (key) => {
    const value = Number.parseFloat(data.get(key));
    return Number.isFinite(value) && value >= 0 ? value : 0;
  };
  const loudness = String(data.get('loudness_target') || '').trim();
  return {
    name: String(data.get('name')).trim(),
    timezone: String(data.get('timezone')),
    fill: { mode: String(data.get('fill_mode')), playlist_id: String(data.get('fill_playlist')) || null },
    rules: { track_minutes: number('track_minutes'), artist_minutes: number('artist_minutes') },
    loudness_target: loudness === '' ? null : Number.parseFloat(loudness),
  };
}

export function ChannelFields({ channel, playlists }) {
  const [zone, setZone] = useState(channel?.timezone || browserZone());
  const [mode, setMode] = useState(channel?.fill?.mode || 'loop');
  const [fill, setFill] = useState(channel?.fill?.playlist_id || '');
  return html`
    <label>Name <input name="name" required maxlength="200" autocomplete="off" defaultValue=${channel?.name || ''} /></label>
    <div class="ch-field">
      <label for="ch-channel-zone">Time zone <span class="muted">(the schedule's wall clock)</span></label>
      <${ZoneSelect} id="ch-channel-zone" name="timezone" value=${zone} onChange=${setZone} />
    </div>
    <fieldset class="ch-fieldset">
      <legend>Between scheduled entries</legend>
      <label for="ch-fill-mode">Fill</label>
      <select id="ch-fill-mode" name="fill_mode" value=${mode} onChange=${(event) => setMode(event.currentTarget.value)}>
        ${FILL_MODES.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select>
      <label for="ch-fill-playlist">Fill playlist</label>
      <select id="ch-fill-playlist" name="fill_playlist" value=${fill} onChange=${(event) => setFill(event.currentTarget.value)}>
        <option value="">None</option>
        ${playlists.map((p) => html`<option key=${p.id} value=${p.id}>${p.name}</option>`)}
      </select>
    </fieldset>
    <fieldset class="ch-fieldset">
      <legend>Repetition rules</legend>
      <label>No track again within (minutes)
        <input name="track_minutes" type="number" min="0" step="1" defaultValue=${channel?.rules?.track_minutes ?? 0} />
      </label>
      <label>No artist again within (minutes)
        <input name="artist_minutes" type="number" min="0" step="1" defaultValue=${channel?.rules?.artist_minutes ?? 0} />
      </label>
      <label>Loudness target (LUFS, optional)
        <input name="loudness_target" type="number" min="-70" max="0" step="0.5" defaultValue=${channel?.loudness_target ?? ''} />
      </label>
    </fieldset>`;
}

function CreateDialog({ open, playlists, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (open) setError(null);
  }, [open]);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await post('/channels', channelBody(event.currentTarget));
      toast(`Created “${created.name}”.`, 'success');
      onClose();
      navigate(`/admin/channels/${created.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Dialog} open=${open} title="New channel" onClose=${onClose}>
    <form class="stack" onSubmit=${submit}>
      <${ChannelFields} playlists=${playlists} />
      <${ErrorMessage} error=${error} />
      <div class="row">
        <button type="submit" disabled=${busy}>${busy ? 'Creating…' : 'Create channel'}</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}

export default function Channels({ user }) {
  useTitle('Channels');
  const writer = can(user, 'write');
  const [channels, setChannels] = useState(null);
  const [playlists, setPlaylists] = useState([]);
  const [error, setError] = useState(null);
  const [reloads, setReloads] = useState(0);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState(null);
  const createButton = useRef(null);

  useEffect(() => {
    allPlaylists().then(setPlaylists, (err) => toast(`Could not load the playlists: ${problemText(err)}`, 'error'));
  }, []);
  useEffect(() => {
    setError(null);
    get('/channels').then((answer) => setChannels(channelItems(answer)), setError);
  }, [reloads]);

  const names = Object.fromEntries(playlists.map((p) => [p.id, p.name]));
  let body;
  if (error) {
    body = html`<div class="stack"><${ErrorMessage} error=${error} />
      <button type="button" onClick=${() => setReloads((n) => n + 1)}>Try again</button></div>`;
  } else if (!channels) {
    body = html`<${Loading} label="Loading channels…" />`;
  } else if (!channels.length) {
    body = html`<div class="card">
      <p><strong>No channels yet.</strong></p>
      <p class="muted">A channel plays playlists on a weekly schedule as one live stream, like a radio station.</p>
      ${writer && html`<button type="button" onClick=${() => setCreating(true)}>Create the first channel</button>`}
    </div>`;
  } else {
    body = html`<div class="table-wrap"><table class="ch-table">
      <caption class="visually-hidden">Channels</caption>
      <thead><tr>
        <th scope="col">Name</th><th scope="col">Time zone</th><th scope="col" class="hide-phone">Fill</th>
        <th scope="col" class="hide-phone">Updated</th>
        ${writer && html`<th scope="col"><span class="visually-hidden">Actions</span></th>`}
      </tr></thead>
      <tbody>
        ${channels.map(
          (channel) => html`<tr key=${channel.id}>
            <td><a href=${`/admin/channels/${channel.id}`}>${channel.name}</a></td>
            <td>${channel.timezone}</td>
            <td class="hide-phone">${channel.fill?.mode}${channel.fill?.playlist_id ? `: ${names[channel.fill.playlist_id] || channel.fill.playlist_id}` : ''}</td>
            <td class="hide-phone">${formatDate(channel.updated_at)}</td>
            ${
              writer &&
              html`<td><button type="button" class="secondary small" aria-label=${`Delete ${channel.name}`}
                onClick=${() => setDeleting(channel)}>Delete</button></td>`
            }
          </tr>`,
        )}
      </tbody>
    </table></div>`;
  }
  const closeCreate = () => {
    setCreating(false);
    createButton.current?.focus();
  };
  return html`<div class="stack">
    <div class="row">
      <h1>Channels</h1>
      <span class="spacer"></span>
      ${writer && html`<button type="button" ref=${createButton} onClick=${() => setCreating(true)}>New channel</button>`}
    </div>
    ${body}
    ${writer && html`<${CreateDialog} open=${creating} playlists=${playlists} onClose=${closeCreate} />`}
    ${
      writer &&
      html`<${DeleteDialog} item=${deleting} path=${deleting && `/channels/${deleting.id}`} noun="channel"
        after=" and its schedule? Listeners lose the stream. This cannot be undone."
        onClose=${() => setDeleting(null)}
        onDeleted=${() => {
          setDeleting(null);
          setReloads((n) => n + 1);
        }} />`
    }
  </div>`;
}
