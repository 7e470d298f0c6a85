// The track page's player: HLS through hls.js, native HLS, or the original file by ranges;
// a rendition switcher; the waveform as the seek bar.

import Hls from 'hls.js';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { formatDuration } from '../ui.js';

// '/media/ID/original' -> '/media/ID/original?token=T' when URL signing is on.
export function withToken(url, token) {
  if (!url || !token) return url;
  const parsed = new URL(url, location.origin);
  parsed.searchParams.set('token', token);
  return parsed.pathname + parsed.search;
}

export function renditionLabel(rendition) {
  if (!rendition) return '';
  const codec = (rendition.codec || '').toUpperCase();
  if (rendition.codec === 'flac' || !rendition.bitrate) return `${codec} lossless`;
  return `${codec} ${Math.round(rendition.bitrate / 1000)} kbit/s`;
}

// hls.js names a level by its playlist URI ('aac_128/index.m3u8?v=...'): the rendition.
function levelName(level) {
  const uri = (level && (level.uri || (Array.isArray(level.url) ? level.url[0] : level.url))) || '';
  const found = /(?:^|\/)([^/?]+)\/index\.m3u8/.exec(uri);
  return found ? found[1] : null;
}

// Which way this browser plays the track:
// - 'hls.js' wherever MediaSource exists (Hls.isSupported()). It is preferred even where
//   the browser also answers canPlayType('application/vnd.apple.mpegurl') (Safari, and
//   Chromium 156 says "maybe"), because only hls.js lets us pick a level and tell which
//   level is playing.
// - 'native' HLS without MediaSource (older iOS): the switcher loads one rendition's playlist.
// - 'progressive': no HLS yet (not transcoded) or neither: the original file or one
//   rendition's .m4a, by byte ranges.
function choosePlayback(media, hasHls) {
  if (hasHls && Hls.isSupported()) return 'hls.js';
  if (hasHls && media.canPlayType('application/vnd.apple.mpegurl')) return 'native';
  return 'progressive';
}

export function Player({ track, token, points }) {
  const audio = useRef(null);
  const hlsRef = useRef(null);
  const [mode, setMode] = useState(null);
  const [levels, setLevels] = useState([]); // hls.js: [{index, name}]
  const [choice, setChoice] = useState('auto');
  const [playingName, setPlayingName] = useState(null);
  const [paused, setPaused] = useState(true);
  const [time, setTime] = useState(0);
  const [mediaDuration, setMediaDuration] = useState(null);
  const [volume, setVolume] = useState(1);
  const [error, setError] = useState(null);
  const [attempt, setAttempt] = useState(0);
  const pendingSeek = useRef(null);

  const renditions = track.renditions || [];
  const byName = useMemo(() => Object.fromEntries(renditions.map((r) => [r.name, r])), [renditions]);
  const hlsUrl = track.urls.hls ? withToken(track.urls.hls, token) : null;
  const originalUrl = withToken(track.urls.original, token);
  const duration = track.duration || mediaDuration || 0;
  // A finished transcode publishes new renditions under the same master URL (older
  // segment URLs then answer 404): load the source again, at the same position.
  const ladder = useRef(null);
  if (track.job && track.job.status === 'succeeded') ladder.current = track.job.id;

  // Remember the position across a change of source. Declared before the set-up below:
  // Preact runs cleanups in order, and that one's empties the element.
  useEffect(() => {
    const media = audio.current;
    return () => {
      if (media.currentTime > 0) pendingSeek.current = media.currentTime;
    };
  }, [hlsUrl, originalUrl, attempt, ladder.current]);

  // Set up the source; tear hls.js down on unmount or when the URLs change.
  useEffect(() => {
    const media = audio.current;
    const chosen = choosePlayback(media, Boolean(hlsUrl));
    setMode(chosen);
    setError(null);
    setLevels([]);
    setChoice('auto');
    setPlayingName(null);
    if (chosen === 'hls.js') {
      const hls = new Hls({ startLevel: -1 });
      hlsRef.current = hls;
      let recovered = false;
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        setLevels(
          hls.levels.map((level, index) => ({
            index,
            name: levelName(level),
            bitrate: level.bitrate,
            codec: level.audioCodec,
          })),
        );
      });
      // Fired when the fragment playing comes from another level: the level heard now.
      hls.on(Hls.Events.LEVEL_SWITCHED, (_, data) => setPlayingName(levelName(hls.levels[data.level])));
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
          recovered = true;
          hls.recoverMediaError();
          return;
        }
        setError(`Playback stopped: ${data.details}${data.response?.code ? ` (HTTP ${data.response.code})` : ''}.`);
      });
      hls.loadSource(hlsUrl);
      hls.attachMedia(media);
      return () => {
        hls.destroy();
        hlsRef.current = null;
      };
    }
    media.src = chosen === 'native' ? hlsUrl : originalUrl;
    return () => {
      media.pause();
      media.removeAttribute('src');
      media.load();
    };
  }, [hlsUrl, originalUrl, attempt, ladder.current]);

  useEffect(() => {
    const media = audio.current;
    const onTime = () => setTime(media.currentTime);
    const onMeta = () => {
      if (Number.isFinite(media.duration)) setMediaDuration(media.duration);
      if (pendingSeek.current !== null) {
        media.currentTime = pendingSeek.current;
        pendingSeek.current = null;
      }
    };
    const onPlay = () => setPaused(false);
    const onPause = () => setPaused(true);
    const onError = () => {
      if (hlsRef.current) return; // hls.js reports its own errors
      const code = media.error ? media.error.code : 0;
      setError(
        code === 4 ? 'This browser cannot play this format.' : 'Playback failed: the media could not be loaded.',
      );
    };
    const names = {
      timeupdate: onTime,
      seeked: onTime,
      loadedmetadata: onMeta,
      durationchange: onMeta,
      play: onPlay,
      pause: onPause,
      ended: onPause,
      error: onError,
    };
    for (const [name, handler] of Object.entries(names)) media.addEventListener(name, handler);
    return () => {
      for (const [name, handler] of Object.entries(names)) media.removeEventListener(name, handler);
    };
  }, []);

  const toggle = () => {
    const media = audio.current;
    if (media.paused) {
      media.play().catch((err) => {
        if (err.name !== 'AbortError') setError(`Cannot play: ${err.message}`);
      });
    } else media.pause();
  };

  const seek = (seconds) => {
    const media = audio.current;
    const target = Math.max(0, Math.min(duration || 0, seconds));
    setTime(target);
    if (media.readyState >= 1) media.currentTime = target;
    else pendingSeek.current = target;
  };

  const changeVolume = (event) => {
    const value = Number(event.currentTarget.value);
    setVolume(value);
    audio.current.volume = value;
  };

  // Switching keeps the position and whether it was playing.
  const switchTo = (value) => {
    setChoice(value);
    const media = audio.current;
    if (mode === 'hls.js') {
      const hls = hlsRef.current;
      if (!hls) return;
      const level = levels.find((l) => l.name === value);
      // currentLevel switches at once (flushing the buffer); -1 is automatic selection.
      hls.currentLevel = level ? level.index : -1;
      return;
    }
    const at = media.currentTime;
    const wasPlaying = !media.paused;
    const rendition = byName[value];
    if (mode === 'native') media.src = rendition ? withToken(rendition.urls.playlist, token) : hlsUrl;
    else media.src = rendition ? withToken(rendition.urls.progressive, token) : originalUrl;
    pendingSeek.current = at;
    if (wasPlaying) media.play().catch(() => {});
    setPlayingName(rendition ? rendition.name : null);
  };

  // The switcher's options: the levels hls.js found (in bitrate order), else the renditions.
  let options;
  if (mode === 'hls.js') {
    options = [...levels]
      .sort((a, b) => a.bitrate - b.bitrate)
      .map((l) => ({
        value: l.name,
        label: byName[l.name]
          ? renditionLabel(byName[l.name])
          : `${l.codec || 'audio'} ${Math.round(l.bitrate / 1000)} kbit/s`,
      }));
  } else {
    options = [...renditions]
      .sort((a, b) => (a.bitrate || 1e12) - (b.bitrate || 1e12))
      .map((r) => ({ value: r.name, label: renditionLabel(r) }));
  }
  const autoLabel = mode === 'progressive' ? 'Original file' : 'Auto';
  const playing = playingName ? byName[playingName] : null;
  let nowText;
  if (mode === 'progressive' && !playingName) nowText = `Original file (${(track.codec || 'audio').toUpperCase()})`;
  else if (playing) nowText = renditionLabel(playing) + (choice === 'auto' ? ' (chosen automatically)' : '');
  else if (playingName) nowText = playingName;
  else nowText = mode === 'native' && choice === 'auto' ? 'chosen by the browser' : '–';

  const modeText =
    { 'hls.js': 'HLS (hls.js)', native: 'HLS (native)', progressive: 'progressive download' }[mode] || '';

  return html`<div class="player">
    <audio ref=${audio} preload="metadata"></audio>
    <${Waveform} id=${track.id} points=${points} duration=${duration} time=${time} onSeek=${seek} />
    <div class="player-controls">
      <button type="button" class="play" onClick=${toggle} aria-label=${paused ? 'Play' : 'Pause'}>
        <span aria-hidden="true">${paused ? '▶' : '❚❚'}</span> ${paused ? 'Play' : 'Pause'}
      </button>
      <span class="player-time">${formatDuration(time)} / ${formatDuration(duration)}</span>
      <div class="player-volume field">
        <label for="player-volume">Volume</label>
        <input id="player-volume" type="range" min="0" max="1" step="0.05" value=${volume} onInput=${changeVolume} />
      </div>
      <div class="player-rendition field">
        <label for="player-rendition">Rendition</label>
        <select id="player-rendition" value=${choice} onChange=${(event) => switchTo(event.currentTarget.value)} disabled=${mode === 'hls.js' && !levels.length}>
          <option value="auto">${autoLabel}</option>
          ${options.map((o) => html`<option key=${o.value} value=${o.value}>${o.label}</option>`)}
        </select>
      </div>
    </div>
    <p class="player-status muted">
      <span class="now-playing" role="status">Playing: ${nowText}</span>
      ${modeText ? html` · <span>${modeText}</span>` : null}
    </p>
    ${
      error
        ? html`<div class="row"><p class="error" role="alert">${error}</p>
          <button type="button" class="secondary small" onClick=${() => setAttempt((n) => n + 1)}>Reload player</button></div>`
        : null
    }
  </div>`;
}

// The waveform, drawn from the API's peaks ([min, max] per slice, -1..1), is the seek bar:
// a slider for keyboards (arrows ±5 s, Page Up/Down ±10 %, Home/End), a click target for
// pointers. Peaks are scaled to the loudest so quiet tracks still show their shape.
export function Waveform({ id, points, duration, time, onSeek }) {
  const box = useRef(null);
  const count = points ? points.length : 0;
  const shape = useMemo(() => {
    if (!count) return '';
    let peak = 0;
    for (const [low, high] of points) peak = Math.max(peak, Math.abs(low), Math.abs(high));
    const scale = peak > 0 ? 46 / peak : 0;
    const y = (value) => (50 - value * scale).toFixed(2);
    const thin = scale ? 0.5 / scale : 0; // at least one unit thick where it is silent
    const top = points.map(([, high], i) => `${i},${y(Math.max(high, thin))}`);
    const bottom = points.map(([low], i) => `${i},${y(Math.min(low, -thin))}`).reverse();
    return `M${top.join('L')}L${bottom.join('L')}Z`;
  }, [points]);
  const width = count || 100;
  const fraction = duration > 0 ? Math.max(0, Math.min(1, time / duration)) : 0;

  const onClick = (event) => {
    if (!duration) return;
    const rect = box.current.getBoundingClientRect();
    onSeek(((event.clientX - rect.left) / rect.width) * duration);
  };
  const onKeyDown = (event) => {
    const steps = {
      ArrowLeft: -5,
      ArrowDown: -5,
      ArrowRight: 5,
      ArrowUp: 5,
      PageDown: -duration / 10,
      PageUp: duration / 10,
    };
    if (event.key in steps) onSeek(time + steps[event.key]);
    else if (event.key === 'Home') onSeek(0);
    else if (event.key === 'End') onSeek(duration);
    else return;
    event.preventDefault();
  };

  return html`<div
    ref=${box}
    class="waveform"
    role="slider"
    tabindex="0"
    aria-label="Seek"
    aria-valuemin="0"
    aria-valuemax=${Math.round(duration || 0)}
    aria-valuenow=${Math.round(time)}
    aria-valuetext=${`${formatDuration(time)} of ${formatDuration(duration)}`}
    onClick=${onClick}
    onKeyDown=${onKeyDown}
  >
    <svg viewBox=${`0 0 ${width} 100`} preserveAspectRatio="none" aria-hidden="true" focusable="false">
      <defs>
        <clipPath id=${`played-${id}`}><rect x="0" y="0" width=${width * fraction} height="100" /></clipPath>
      </defs>
      ${
        count
          ? html`<path class="waveform-shape" d=${shape} />
            <path class="waveform-played" d=${shape} clip-path=${`url(#played-${id})`} />`
          : html`<rect class="waveform-empty" x="0" y="48" width=${width} height="4" />
            <rect class="waveform-played" x="0" y="48" width=${width * fraction} height="4" />`
      }
      <line class="waveform-head" x1=${width * fraction} x2=${width * fraction} y1="0" y2="100" vector-effect="non-scaling-stroke" />
    </svg>
  </div>`;
}
