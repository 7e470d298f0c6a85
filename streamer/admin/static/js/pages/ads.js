// /admin/ads: the campaigns (editors and admins), with what each delivered over the last
// seven days from the ad report (impressions, reach, completed, revenue); a dialog adds a
// campaign (a new advertiser or an existing one, flight, tier, goal, price).
import { useEffect, useRef, useState } from 'preact/hooks';
import { get, post } from '../api.js';
import { DeleteDialog } from '../delete_dialog.js';
import { html } from '../html.js';
import { navigate } from '../router.js';
import { Dialog, ErrorMessage, formatDate, Loading, toast, useTitle } from '../ui.js';

export const PRIORITIES = [
  ['sponsorship', 'Sponsorship: always runs when eligible'],
  ['standard', 'Standard: paced over its flight'],
  ['house', 'House: fills what is left'],
];

// A local date input's value (YYYY-MM-DD) as the instant its day starts in UTC.
const dayStart = (value) => `${value}T00:00:00Z`;
const today = () => new Date().toISOString().slice(0, 10);
const inDays = (days) => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

function CreateDialog({ open, advertisers, onClose }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [advertiser, setAdvertiser] = useState('');
  useEffect(() => {
    if (open) {
      setError(null);
      setAdvertiser(advertisers[0]?.id || '');
    }
  }, [open, advertisers]);
  const submit = async (event) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      let advertiserId = advertiser;
      if (!advertiserId) {
        const made = await post('/ads/advertisers', {
          name: String(data.get('advertiser_name')).trim(),
          category: String(data.get('category') || '').trim() || null,
        });
        advertiserId = made.id;
      }
      const goal = String(data.get('goal') || '').trim();
      const created = await post('/ads/campaigns', {
        advertiser_id: advertiserId,
        name: String(data.get('name')).trim(),
        priority: String(data.get('priority')),
        starts_at: dayStart(String(data.get('starts'))),
        ends_at: dayStart(String(data.get('ends'))),
        goal: goal === '' ? null : Number.parseInt(goal, 10),
        price_model: String(data.get('price_model')),
        price: Number.parseFloat(String(data.get('price') || '0')) || 0,
      });
      toast(`Created “${created.name}”.`, 'success');
      onClose();
      navigate(`/admin/ads/${created.id}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<${Dialog} open=${open} title="New campaign" onClose=${onClose}>
    <form class="stack" onSubmit=${submit}>
      <label>Name <input name="name" required maxlength="200" autocomplete="off" /></label>
      <label for="ad-advertiser">Advertiser</label>
      <select id="ad-advertiser" value=${advertiser} onChange=${(event) => setAdvertiser(event.currentTarget.value)}>
        ${advertisers.map((a) => html`<option key=${a.id} value=${a.id}>${a.name}</option>`)}
        <option value="">A new advertiser…</option>
      </select>
      ${
        !advertiser &&
        html`<label>New advertiser's name <input name="advertiser_name" required maxlength="200" /></label>
          <label>Its category <span class="muted">(no two ads of one category in a break)</span>
            <input name="category" maxlength="100" /></label>`
      }
      <label for="ad-priority">Priority</label>
      <select id="ad-priority" name="priority" defaultValue="standard">
        ${PRIORITIES.map(([value, label]) => html`<option key=${value} value=${value}>${label}</option>`)}
      </select>
      <div class="row">
        <label>Starts <input name="starts" type="date" required defaultValue=${today()} /></label>
        <label>Ends <input name="ends" type="date" required defaultValue=${inDays(30)} /></label>
      </div>
      <label>Goal <span class="muted">(impressions over the flight, optional)</span>
        <input name="goal" type="number" min="1" step="1" /></label>
      <div class="row">
        <label for="ad-price-model">Price</label>
        <select id="ad-price-model" name="price_model" defaultValue="cpm">
          <option value="cpm">per thousand impressions</option>
          <option value="flat">for the whole flight</option>
        </select>
        <input name="price" type="number" min="0" step="0.01" defaultValue="0" aria-label="Price amount" />
      </div>
      <${ErrorMessage} error=${error} />
      <div class="row">
        <button type="submit" disabled=${busy}>${busy ? 'Creating…' : 'Create campaign'}</button>
        <button type="button" class="secondary" onClick=${onClose}>Cancel</button>
      </div>
    </form>
  <//>`;
}

export default function Ads() {
  useTitle('Ads');
  const [campaigns, setCampaigns] = useState(null);
  const [advertisers, setAdvertisers] = useState([]);
  const [figures, setFigures] = useState({});
  const [error, setError] = useState(null);
  const [reloads, setReloads] = useState(0);
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState(null);
  const createButton = useRef(null);

  useEffect(() => {
    setError(null);
    Promise.all([
      get('/ads/campaigns', { query: { limit: 500 } }),
      get('/ads/advertisers', { query: { limit: 500 } }),
      get('/ads/report'),
    ]).then(([found, known, report]) => {
      setCampaigns(found.items);
      setAdvertisers(known.items);
      setFigures(Object.fromEntries(report.campaigns.map((c) => [c.campaign_id, c])));
    }, setError);
  }, [reloads]);

  const names = Object.fromEntries(advertisers.map((a) => [a.id, a.name]));
  let body;
  if (error) {
    body = html`<div class="stack"><${ErrorMessage} error=${error} />
      <button type="button" onClick=${() => setReloads((n) => n + 1)}>Try again</button></div>`;
  } else if (!campaigns) {
    body = html`<${Loading} label="Loading campaigns…" />`;
  } else if (!campaigns.length) {
    body = html`<div class="card">
      <p><strong>No campaigns yet.</strong></p>
      <p class="muted">A campaign's creatives play in the breaks of tracks, chosen for each listener.</p>
      <button type="button" onClick=${() => setCreating(true)}>Create the first campaign</button>
    </div>`;
  } else {
    body = html`<div class="table-wrap"><table class="ch-table">
      <caption class="visually-hidden">Campaigns</caption>
      <thead><tr>
        <th scope="col">Campaign</th><th scope="col">Advertiser</th><th scope="col">Priority</th>
        <th scope="col" class="hide-phone">Flight</th><th scope="col">Served</th>
        <th scope="col">Impressions (7 days)</th><th scope="col" class="hide-phone">Completed</th>
        <th scope="col"><span class="visually-hidden">Actions</span></th>
      </tr></thead>
      <tbody>
        ${campaigns.map((campaign) => {
          const f = figures[campaign.id];
          return html`<tr key=${campaign.id}>
            <td><a href=${`/admin/ads/${campaign.id}`}>${campaign.name}</a>
              ${campaign.paused && html` <span class="badge">Paused</span>`}</td>
            <td>${names[campaign.advertiser_id] || campaign.advertiser_id}</td>
            <td>${campaign.priority}</td>
            <td class="hide-phone">${formatDate(campaign.starts_at)} – ${formatDate(campaign.ends_at)}</td>
            <td>${campaign.served}${campaign.goal ? ` of ${campaign.goal}` : ''}</td>
            <td>${f ? f.impressions : 0}</td>
            <td class="hide-phone">${f ? f.quartiles.q100 : 0}</td>
            <td><button type="button" class="secondary small" aria-label=${`Delete ${campaign.name}`}
              onClick=${() => setDeleting(campaign)}>Delete</button></td>
          </tr>`;
        })}
      </tbody>
    </table></div>`;
  }
  const closeCreate = () => {
    setCreating(false);
    createButton.current?.focus();
  };
  return html`<div class="stack">
    <div class="row">
      <h1>Ads</h1>
      <span class="spacer"></span>
      <button type="button" ref=${createButton} onClick=${() => setCreating(true)}>New campaign</button>
    </div>
    ${body}
    <${CreateDialog} open=${creating} advertisers=${advertisers} onClose=${closeCreate} />
    <${DeleteDialog} item=${deleting} path=${deleting && `/ads/campaigns/${deleting.id}`} noun="campaign"
      after=" and its creatives? Their audio stays in its library."
      onClose=${() => setDeleting(null)}
      onDeleted=${() => {
        setDeleting(null);
        setReloads((n) => n + 1);
      }} />
  </div>`;
}
