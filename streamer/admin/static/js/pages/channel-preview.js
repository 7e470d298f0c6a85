// "What plays Tuesday 14:00 in Tokyo?": a wall time in a chosen zone and a length, read
// as an interval (Luxon turns the wall time into an instant, daylight saving included),
// and the tracks the channel will play in it (GET /channels/{id}/preview) with the reason
// for each: which entry, the fill, a repetition rule.
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';
import { loadLuxon } from '../calendar.js';
import { html } from '../html.js';
import { ErrorMessage, Loading } from '../ui.js';
import { ZoneSelect } from './channels.js';

export function Preview({ channel, playlists }) {
  const [luxon, setLuxon] = useState(null);
  const [zone, setZone] = useState(channel.timezone);
  const [at, setAt] = useState('');
  const [minutes, setMinutes] = useState('60');
  const [result, setResult] = useState(null); // {rows, zone}
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    loadLuxon().then((lib) => {
      setLuxon(lib);
      setAt(lib.DateTime.now().setZone(channel.timezone).startOf('hour').toFormat("yyyy-LL-dd'T'HH:mm"));
    }, setError);
  }, [channel.timezone]);
  const names = Object.fromEntries(playlists.map((p) => [p.id, p.name]));

  const submit = async (event) => {
    event.preventDefault();
    const start = luxon.DateTime.fromISO(at, { zone });
    if (!start.isValid) {
      setError(new Error('Give a date and a time.'));
      return;
    }
    const end = start.plus({ minutes: Math.max(1, Number.parseInt(minutes, 10) || 60) });
    setBusy(true);
    setError(null);
    try {
      const answer = await get(`/channels/${channel.id}/preview`, {
        query: { from: start.toISO(), to: end.toISO(), tz: zone },
      });
      setResult({ rows: Array.isArray(answer) ? answer : answer.items || [], zone });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const time = (iso, shown) =>
    luxon ? luxon.DateTime.fromISO(iso, { setZone: true }).setZone(shown).toFormat('ccc d LLL HH:mm:ss') : iso;

  return html`<section class="stack" aria-labelledby="ch-preview-heading">
    <h2 id="ch-preview-heading">Preview</h2>
    <form class="inline-form ch-preview-form" onSubmit=${submit} aria-label="What plays when">
      <label>At <input type="datetime-local" name="at" required value=${at} onInput=${(e) => setAt(e.currentTarget.value)} /></label>
      <div class="ch-field">
        <label for="ch-preview-zone">Time zone</label>
        <${ZoneSelect} id="ch-preview-zone" value=${zone} onChange=${setZone} />
      </div>
      <label>for (minutes) <input type="number" name="minutes" min="1" max="1440" value=${minutes}
        onInput=${(e) => setMinutes(e.currentTarget.value)} /></label>
      <button type="submit" disabled=${busy || !luxon}>${busy ? 'Reading…' : 'Show what plays'}</button>
    </form>
    <${ErrorMessage} error=${error} />
    ${busy && !result && html`<${Loading} label="Reading the schedule…" />`}
    ${
      result &&
      (result.rows.length
        ? html`<div class="table-wrap"><table class="ch-preview">
          <caption>What plays, times in ${result.zone}</caption>
          <thead><tr><th scope="col">Starts</th><th scope="col">Ends</th><th scope="col">Track</th>
            <th scope="col" class="hide-phone">Playlist</th><th scope="col">Why</th></tr></thead>
          <tbody>
            ${result.rows.map(
              (row) => html`<tr key=${`${row.track_id}@${row.start}`}>
                <td><time datetime=${row.start}>${time(row.start, result.zone)}</time></td>
                <td><time datetime=${row.end}>${time(row.end, result.zone)}</time></td>
                <td>${row.title || row.track_id}${row.artist && html` <span class="muted">— ${row.artist}</span>`}</td>
                <td class="hide-phone">${names[row.playlist_id] || row.playlist_id || '–'}</td>
                <td>${row.reason}</td>
              </tr>`,
            )}
          </tbody>
        </table></div>`
        : html`<p class="muted">Nothing plays then.</p>`)
    }
  </section>`;
}
