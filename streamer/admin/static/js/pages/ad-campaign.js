// /admin/ads/:id: one campaign. Pause or resume it (it holds from the next break on every
// node); its creatives, each with its validation (a reason per check), a preview to listen
// to and its versions (make an earlier one current again); add a creative from a track of
// the catalogue, or upload its audio here (the library page's upload panel): the uploaded
// track is chosen for the next creative.
import { useEffect, useState } from 'preact/hooks';
import { get, patch, post, put } from '../api.js';
import { html } from '../html.js';
import { ErrorMessage, formatDate, Loading, problemText, toast, useTitle } from '../ui.js';
import UploadPanel from './library-uploads.js';

const STATE_LABELS = { valid: 'Valid', invalid: 'Invalid', pending: 'Checking…' };
const STATE_BADGES = { valid: 'badge-ok', invalid: 'badge-failed', pending: 'badge-queued' };

function Checks({ creative }) {
  return html`<ul class="stack" aria-label=${`Checks of ${creative.name}`}>
    ${creative.checks.map(
      (check) => html`<li key=${check.name}>
        <strong>${check.name.replace('_', ' ')}</strong>: ${STATE_LABELS[check.state]} · ${check.reason}
      </li>`,
    )}
  </ul>`;
}

function Creative({ creative, onChanged }) {
  const [busy, setBusy] = useState(false);
  const makeCurrent = async (version) => {
    setBusy(true);
    try {
      await put(`/ads/creatives/${creative.id}/current`, { version });
      toast(`Version ${version} of “${creative.name}” is current.`, 'success');
      onChanged();
    } catch (err) {
      toast(problemText(err), 'error');
    } finally {
      setBusy(false);
    }
  };
  return html`<section class="card stack" aria-label=${`Creative ${creative.name}`}>
    <div class="row">
      <h3>${creative.name}</h3>
      <span class=${`badge ${STATE_BADGES[creative.state]}`}>${STATE_LABELS[creative.state]}</span>
      <span class="spacer"></span>
      <span class="muted">${creative.slot_seconds} s slot</span>
    </div>
    <${Checks} creative=${creative} />
    ${
      creative.urls.preview &&
      html`<audio controls preload="none" src=${creative.urls.preview}
        aria-label=${`Preview of ${creative.name}`}></audio>`
    }
    <details>
      <summary>Versions (${creative.versions.length})</summary>
      <ul aria-label=${`Versions of ${creative.name}`}>
        ${creative.versions.map(
          (v) => html`<li key=${v.version}>
            Version ${v.version}${v.note ? `: ${v.note}` : ''} · ${formatDate(v.created_at)}
            ${
              v.current
                ? html` <strong>(current)</strong>`
                : html` <button type="button" class="secondary small" disabled=${busy}
                    onClick=${() => makeCurrent(v.version)}>Make version ${v.version} current</button>`
            }
          </li>`,
        )}
      </ul>
    </details>
  </section>`;
}

function AddCreative({ campaignId, uploaded, onAdded }) {
  const [query, setQuery] = useState('');
  const [tracks, setTracks] = useState([]);
  const [track, setTrack] = useState('');
  // A track just uploaded: listed and chosen.
  useEffect(() => {
    if (!uploaded) return;
    setTracks((known) => (known.some((t) => t.id === uploaded.id) ? known : [uploaded, ...known]));
    setTrack(uploaded.id);
  }, [uploaded]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    let live = true;
    get('/tracks', { query: { q: query || undefined, limit: 50 } }).then(
      (page) => live && setTracks(page.items),
      () => live && setTracks([]),
    );
    return () => {
      live = false;
    };
  }, [query]);
  const submit = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const made = await post(`/ads/campaigns/${campaignId}/creatives`, {
        name: String(data.get('name')).trim(),
        slot_seconds: Number.parseFloat(String(data.get('slot'))),
        track_id: track,
      });
      toast(
        `Added “${made.name}”: ${STATE_LABELS[made.state].toLowerCase()}.`,
        made.state === 'invalid' ? 'error' : 'success',
      );
      event.currentTarget?.reset?.();
      onAdded();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="card stack" onSubmit=${submit} aria-label="Add a creative">
    <h2>Add a creative</h2>
    <label>Name <input name="name" required maxlength="200" autocomplete="off" /></label>
    <label>Slot (seconds) <input name="slot" type="number" min="1" max="600" step="0.5" required defaultValue="30" /></label>
    <label>Find the audio <input type="search" value=${query} onInput=${(event) => setQuery(event.currentTarget.value)} /></label>
    <label for="ad-track">Audio track</label>
    <select id="ad-track" required value=${track} onChange=${(event) => setTrack(event.currentTarget.value)}>
      <option value="">Choose a track…</option>
      ${tracks.map(
        (t) => html`<option key=${t.id} value=${t.id}>${t.title || t.path} (${Math.round(t.duration || 0)} s)</option>`,
      )}
    </select>
    <p class="muted">New audio: upload it below; it is chosen here, and checked once transcoded.</p>
    <${ErrorMessage} error=${error} />
    <div class="row"><button type="submit" disabled=${busy || !track}>${busy ? 'Adding…' : 'Add creative'}</button></div>
  </form>`;
}

export default function AdCampaign({ id, user }) {
  const [campaign, setCampaign] = useState(null);
  const [libraries, setLibraries] = useState([]);
  const [uploaded, setUploaded] = useState(null);
  useEffect(() => {
    get('/libraries').then(
      (answer) => setLibraries(Array.isArray(answer) ? answer : answer.items || []),
      () => setLibraries([]),
    );
  }, []);
  const onUploaded = (trackId) => {
    get(`/tracks/${encodeURIComponent(trackId)}`).then(setUploaded, () => setUploaded({ id: trackId, path: trackId }));
  };
  const [creatives, setCreatives] = useState(null);
  const [error, setError] = useState(null);
  const [reloads, setReloads] = useState(0);
  useTitle(campaign ? campaign.name : 'Campaign');
  useEffect(() => {
    setError(null);
    Promise.all([get(`/ads/campaigns/${id}`), get(`/ads/campaigns/${id}/creatives`)]).then(([found, list]) => {
      setCampaign(found);
      setCreatives(list.items);
    }, setError);
  }, [id, reloads]);
  // A creative waits for its transcode ("Checking…"): look again every few seconds.
  useEffect(() => {
    if (!creatives?.some((c) => c.state === 'pending')) return undefined;
    const timer = setTimeout(() => setReloads((n) => n + 1), 3000);
    return () => clearTimeout(timer);
  }, [creatives]);

  if (error) return html`<${ErrorMessage} error=${error} />`;
  if (!campaign || !creatives) return html`<${Loading} label="Loading the campaign…" />`;
  const togglePause = async () => {
    try {
      const changed = await patch(`/ads/campaigns/${id}`, { paused: !campaign.paused });
      setCampaign(changed);
      toast(changed.paused ? 'Paused: no new session gets its ads.' : 'Resumed.', 'success');
    } catch (err) {
      toast(problemText(err), 'error');
    }
  };
  return html`<div class="stack">
    <p><a href="/admin/ads">Ads</a></p>
    <div class="row">
      <h1>${campaign.name}</h1>
      ${campaign.paused && html`<span class="badge">Paused</span>`}
      <span class="spacer"></span>
      <button type="button" onClick=${togglePause}>${campaign.paused ? 'Resume' : 'Pause'}</button>
    </div>
    <dl class="card">
      <dt>Priority</dt><dd>${campaign.priority}</dd>
      <dt>Flight</dt><dd>${formatDate(campaign.starts_at)} – ${formatDate(campaign.ends_at)}</dd>
      <dt>Served</dt><dd>${campaign.served}${campaign.goal ? ` of a goal of ${campaign.goal}` : ''}</dd>
      <dt>Price</dt><dd>${campaign.price} ${campaign.price_model === 'cpm' ? 'per thousand impressions' : 'for the flight'}</dd>
    </dl>
    <h2>Creatives</h2>
    ${
      creatives.length
        ? creatives.map(
            (c) => html`<${Creative} key=${c.id} creative=${c} onChanged=${() => setReloads((n) => n + 1)} />`,
          )
        : html`<p class="muted">No creatives yet: add one below.</p>`
    }
    <${AddCreative} campaignId=${id} uploaded=${uploaded} onAdded=${() => setReloads((n) => n + 1)} />
    <${UploadPanel} user=${user} libraries=${libraries} onUploaded=${onUploaded} />
  </div>`;
}
