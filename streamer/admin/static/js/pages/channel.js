// /admin/channels/:id: one channel, in four views chosen by ?view= (the schedule editor,
// the preview, what plays now with a player, and the channel's settings).
import { useEffect, useState } from 'preact/hooks';
import { get, patch } from '../api.js';
import { useEvents } from '../events.js';
import { html } from '../html.js';
import { queryParams } from '../router.js';
import { can } from '../session.js';
import { ErrorMessage, Loading, problemText, toast, useTitle } from '../ui.js';
import { eventChannel, NowPlaying } from './channel-now.js';
import { Preview } from './channel-preview.js';
import { ScheduleEditor } from './channel-schedule.js';
import { allPlaylists, ChannelFields, channelBody } from './channels.js';

const VIEWS = [
  ['schedule', 'Schedule'],
  ['preview', 'Preview'],
  ['now', 'Now playing'],
  ['settings', 'Settings'],
];

function Settings({ channel, playlists, writer, onChannel }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = channelBody(event.currentTarget);
      if (body.loudness_target === null) {
        delete body.loudness_target;
        if (channel.loudness_target !== null) body.clear_loudness_target = true;
      }
      const saved = await patch(`/channels/${channel.id}`, body, {
        headers: { 'If-Match': `"${channel.revision}"` },
      });
      onChannel(saved);
      toast('Saved.', 'success');
    } catch (err) {
      if (err.status === 412) {
        onChannel(await get(`/channels/${channel.id}`));
        setError(
          new Error(
            'The channel was changed elsewhere meanwhile: it has been reloaded. Save again if you still want to.',
          ),
        );
      } else setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="stack" aria-labelledby="ch-settings-heading">
    <h2 id="ch-settings-heading">Settings</h2>
    <form class="stack ch-settings" onSubmit=${submit}>
      <fieldset class="ch-fieldset" disabled=${!writer}>
        <legend class="visually-hidden">Channel</legend>
        <${ChannelFields} key=${channel.revision} channel=${channel} playlists=${playlists} />
      </fieldset>
      <${ErrorMessage} error=${error} />
      ${writer && html`<div class="row"><button type="submit" disabled=${busy}>${busy ? 'Saving…' : 'Save'}</button></div>`}
    </form>
  </section>`;
}

export default function Channel({ id, user }) {
  const writer = can(user, 'write');
  const [channel, setChannel] = useState(null);
  const [playlists, setPlaylists] = useState([]);
  const [error, setError] = useState(null);
  const [view, setViewState] = useState(
    VIEWS.some(([key]) => key === queryParams().view) ? queryParams().view : 'schedule',
  );
  useTitle(channel ? channel.name : 'Channel');
  useEffect(() => {
    get(`/channels/${id}`).then(setChannel, setError);
    allPlaylists().then(setPlaylists, (err) => toast(`Could not load the playlists: ${problemText(err)}`, 'error'));
  }, [id]);
  // The channel read again on its events (a change elsewhere moves its revision on).
  useEvents(['channel'], (event) => {
    if (event.type === 'reset' || eventChannel(event.data) === id)
      get(`/channels/${id}`).then(
        (fresh) => setChannel((old) => (old?.revision === fresh.revision ? old : fresh)),
        () => {},
      );
  });
  const setView = (next) => {
    setViewState(next);
    history.replaceState(null, '', `${location.pathname}${next === 'schedule' ? '' : `?view=${next}`}`);
  };

  if (error)
    return html`<div class="stack"><h1>Channel</h1><${ErrorMessage} error=${error} /><a href="/admin/channels">All channels</a></div>`;
  if (!channel) return html`<${Loading} label="Loading the channel…" />`;
  let body;
  if (view === 'preview') body = html`<${Preview} channel=${channel} playlists=${playlists} />`;
  else if (view === 'now') body = html`<${NowPlaying} channel=${channel} />`;
  else if (view === 'settings')
    body = html`<${Settings} channel=${channel} playlists=${playlists} writer=${writer} onChannel=${setChannel} />`;
  else
    body = html`<${ScheduleEditor} key=${channel.id} channel=${channel} playlists=${playlists} writer=${writer} onChannel=${setChannel} />`;
  return html`<div class="stack ch-page">
    <div class="row">
      <h1>${channel.name}</h1>
      <span class="chip" title="The schedule's time zone">${channel.timezone}</span>
      <span class="spacer"></span>
      <a href="/admin/channels">All channels</a>
    </div>
    <nav aria-label="Channel views" class="ch-views">
      ${VIEWS.map(
        ([key, label]) => html`<button key=${key} type="button" class=${view === key ? '' : 'secondary'}
          aria-pressed=${view === key ? 'true' : 'false'} onClick=${() => setView(key)}>${label}</button>`,
      )}
    </nav>
    ${body}
  </div>`;
}
