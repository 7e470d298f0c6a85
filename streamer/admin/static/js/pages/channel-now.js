// What a channel plays now and next (GET /channels/{id}/now), kept live by the `channel`
// events of /api/v1/events (and, should an event be missed, by reading again when the
// current track ends), with a player on the live stream /live/{id}/master.m3u8.
import Hls from 'hls.js';
import { useEffect, useRef, useState } from 'preact/hooks';
import { get } from '../api.js';
import { useEvents } from '../events.js';
import { html } from '../html.js';
import { ErrorMessage, formatDuration, Loading } from '../ui.js';

// The channel a `channel` event is about (the payload names it one way or another).
export function eventChannel(data) {
  return data?.channel_id ?? data?.id ?? null;
}

function trackLine(track) {
  return track.artist ? `${track.title || track.track_id} — ${track.artist}` : track.title || track.track_id;
}

// The date ranges a channel with a loudness target gives each track's play (docs/channels.md,
// "Loudness"): X-GAIN-DB is the gain that matches it to the target.
const LEVEL_CLASS = 'org.streamer.level';

// The gain in dB of the level range playing at `time` (media time), or null.
export function levelAt(dateRanges, time) {
  let chosen = null;
  for (const range of Object.values(dateRanges || {})) {
    if (range.class !== LEVEL_CLASS || !(range.startTime <= time + 0.05)) continue;
    if (!chosen || range.startTime > chosen.startTime) chosen = range;
  }
  const db = chosen ? Number.parseFloat(chosen.attr['X-GAIN-DB']) : Number.NaN;
  return Number.isFinite(db) ? db : null;
}

// The element's sound through a Web Audio gain, made once per element on its first play
// (an AudioContext needs a user gesture, and an element connects to one graph only).
function levelGraph(media, graph) {
  if (!graph.current) {
    const context = new AudioContext();
    const gain = context.createGain();
    context.createMediaElementSource(media).connect(gain).connect(context.destination);
    graph.current = { context, gain };
  }
  graph.current.context.resume();
  return graph.current;
}

// A channel that has just come on air answers its media playlists 503 (Retry-After) until
// its first segment has gone out, up to two target durations (12 s). hls.js's default
// gives up after three tries a rendition (about 9 s for three): try for about 19 s each.
const LIVE_PLAYLIST_POLICY = {
  default: {
    maxTimeToFirstByteMs: 10000,
    maxLoadTimeMs: 20000,
    timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: { maxNumRetry: 6, retryDelayMs: 1000, maxRetryDelayMs: 4000 },
  },
};

// hls.js wherever MediaSource exists (it follows the live edge and reports errors), the
// browser's own HLS elsewhere (Safari on iOS), else nothing to play with.
function LivePlayer({ channelId }) {
  const audio = useRef(null);
  const graph = useRef(null);
  const [error, setError] = useState(null);
  const [mode, setMode] = useState(null);
  const [gainDb, setGainDb] = useState(null);
  const url = `/live/${encodeURIComponent(channelId)}/master.m3u8`;
  useEffect(() => {
    const media = audio.current;
    setError(null);
    if (Hls.isSupported()) {
      setMode('hls.js');
      const hls = new Hls({ lowLatencyMode: false, playlistLoadPolicy: LIVE_PLAYLIST_POLICY });
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.NETWORK_ERROR) setError(`The live stream is unreachable (${data.details}).`);
        else setError(`Playback stopped: ${data.details}.`);
      });
      // Loudness-matched playout: the gain of the level range playing, through Web Audio.
      const level = () => {
        const db = levelAt(hls.latestLevelDetails?.dateRanges, media.currentTime);
        if (db !== null && !media.paused) levelGraph(media, graph).gain.gain.value = 10 ** (db / 20);
        else if (graph.current) graph.current.gain.gain.value = 1;
        // What the graph applies, for whoever checks the page (tests, curious admins).
        if (graph.current) media.dataset.appliedGain = graph.current.gain.gain.value.toFixed(5);
        setGainDb(db);
      };
      media.addEventListener('play', level);
      media.addEventListener('timeupdate', level);
      hls.loadSource(url);
      hls.attachMedia(media);
      return () => {
        media.removeEventListener('play', level);
        media.removeEventListener('timeupdate', level);
        hls.destroy();
      };
    }
    if (media.canPlayType('application/vnd.apple.mpegurl')) {
      setMode('native');
      media.src = url;
      return () => {
        media.removeAttribute('src');
        media.load();
      };
    }
    setMode('none');
    return undefined;
  }, [url]);
  return html`<div class="ch-player stack">
    <audio ref=${audio} controls preload="none" aria-label="Live stream of this channel" data-mode=${mode}
      data-gain-db=${gainDb === null ? undefined : gainDb.toFixed(2)}></audio>
    ${gainDb !== null && html`<p class="muted" data-testid="level">Loudness matched to the channel's target: ${gainDb > 0 ? '+' : ''}${gainDb.toFixed(1)} dB on this track</p>`}
    ${mode === 'none' && html`<p class="notice">This browser cannot play HLS streams.</p>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <p class="muted">Stream: <a href=${url}>${url}</a></p>
  </div>`;
}

export function NowPlaying({ channel }) {
  const [now, setNow] = useState(null);
  const [error, setError] = useState(null);
  const [clock, setClock] = useState(Date.now());
  const [reads, setReads] = useState(0);
  useEffect(() => {
    let live = true;
    get(`/channels/${channel.id}/now`).then(
      (answer) => {
        if (!live) return;
        setNow(answer);
        setError(null);
      },
      (err) => live && setError(err),
    );
    return () => {
      live = false;
    };
  }, [channel.id, reads]);
  useEvents(['channel'], (event) => {
    if (event.type === 'reset' || eventChannel(event.data) === channel.id) setReads((n) => n + 1);
  });
  // A second's tick for the progress, and a read when the track should have ended.
  useEffect(() => {
    const timer = setInterval(() => setClock(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const ends = now?.ends_at ? Date.parse(now.ends_at) : null;
  useEffect(() => {
    if (!ends) return undefined;
    const timer = setTimeout(() => setReads((n) => n + 1), Math.max(1000, ends - Date.now() + 1500));
    return () => clearTimeout(timer);
  }, [ends]);

  let body;
  if (error) body = html`<${ErrorMessage} error=${error} />`;
  else if (!now) body = html`<${Loading} label="Reading what plays…" />`;
  else if (!now.track) body = html`<p class="muted">Nothing plays on this channel now.</p>`;
  else {
    const track = now.track;
    const started = Date.parse(now.started_at);
    const length = ends && started ? (ends - started) / 1000 : null;
    const elapsed = started ? Math.max(0, Math.min(length ?? Infinity, (clock - started) / 1000)) : null;
    body = html`<div class="stack">
      <p class="ch-now-title" data-testid="now-title"><strong>${track.title || track.track_id}</strong>
        ${track.artist && html` <span class="muted">by ${track.artist}</span>`}</p>
      ${
        length &&
        html`<div class="progress" role="progressbar" aria-label="Played of the current track" aria-valuemin="0"
          aria-valuemax=${Math.round(length)} aria-valuenow=${Math.round(elapsed)}
          aria-valuetext=${`${formatDuration(elapsed)} of ${formatDuration(length)}`}>
          <div class="progress-fill" style=${{ width: `${Math.round((elapsed / length) * 100)}%` }}></div>
          <span class="progress-text">${formatDuration(elapsed)} / ${formatDuration(length)}</span>
        </div>`
      }
      ${track.reason && html`<p class="muted">Why: ${track.reason}</p>`}
      <h3>Next</h3>
      ${
        now.next?.length
          ? html`<ol class="ch-next">
          ${now.next.map(
            (next) => html`<li key=${`${next.track_id}@${next.start}`}>
              <time datetime=${next.start}>${new Date(next.start).toLocaleTimeString(undefined, {
                hour: '2-digit',
                minute: '2-digit',
              })}</time>
              ${trackLine(next)}</li>`,
          )}
        </ol>`
          : html`<p class="muted">Nothing known yet.</p>`
      }
    </div>`;
  }
  return html`<section class="stack" aria-labelledby="ch-now-heading">
    <h2 id="ch-now-heading">Now playing</h2>
    ${body}
    <${LivePlayer} channelId=${channel.id} />
  </section>`;
}
