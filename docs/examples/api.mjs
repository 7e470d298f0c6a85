// The admin API with Node's fetch (Node 18 or newer, no packages): list libraries and
// tracks, make a playlist, edit it safely with If-Match (and see a stale one refused with
// 412), read its HLS master playlist, delete it. docs/api-guide.md walks through it.
//
//   STREAMER_URL=http://127.0.0.1:8000 STREAMER_API_KEY=stk_... node docs/examples/api.mjs
//
// Exits non-zero, saying why, at the first answer it did not expect.

const base = (process.env.STREAMER_URL ?? '').replace(/\/+$/, '');
const key = process.env.STREAMER_API_KEY ?? '';

class Unexpected extends Error {}

// A request to the admin API with the key; the answer must have `status`.
async function api(method, path, status, { body, headers = {} } = {}) {
  const init = { method, headers: { Authorization: `Bearer ${key}`, ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  return expect(await fetch(base + path, init), `${method} ${path}`, status);
}

async function expect(response, what, status) {
  if (response.status !== status) {
    const text = (await response.text()).slice(0, 300);
    throw new Unexpected(`${what} answered ${response.status}, not ${status}: ${text}`);
  }
  return response;
}

async function scenario() {
  // 1. The libraries this key may read (a plain list).
  const libraries = await (await api('GET', '/api/v1/libraries', 200)).json();
  if (libraries.length === 0) throw new Unexpected('no library is readable with this key');
  const library = libraries[0];
  console.log(`GET /api/v1/libraries -> 200: first library ${library.id} (${library.name})`);

  // 2. Tracks of that library: a page {items, total, limit, offset, next_cursor}.
  const query = new URLSearchParams({ library: library.id, status: 'ok', sort: 'title', limit: '2' });
  const page = await (await api('GET', `/api/v1/tracks?${query}`, 200)).json();
  if (page.items.length < 2) throw new Unexpected('the library needs at least two playable tracks');
  const [first, second] = page.items.map((track) => track.id);
  console.log(`GET /api/v1/tracks -> 200: ${page.total} tracks; using ${first} and ${second}`);

  // 3. A playlist of those two tracks: 201 with Location and ETag "1" (the revision).
  const body = { library_id: library.id, name: 'API example', track_ids: [first, second] };
  const created = await api('POST', '/api/v1/playlists', 201, { body });
  const playlist = (await created.json()).id;
  const path = `/api/v1/playlists/${playlist}`;
  console.log(`POST /api/v1/playlists -> 201: playlist ${playlist} at ${created.headers.get('location')}`);
  try {
    await editAndPlay(path);
  } catch (error) {
    // A run that failed half-way removes its playlist (without If-Match: any revision).
    await fetch(base + path, { method: 'DELETE', headers: { Authorization: `Bearer ${key}` } });
    throw error;
  }
}

async function editAndPlay(path) {
  // 4. Read it back with its ETag.
  const read = await api('GET', path, 200);
  const etag = read.headers.get('etag');
  const shown = await read.json();
  console.log(`GET ${path} -> 200: "${shown.name}", ${shown.item_count} items, ETag ${etag}`);

  // 5. Rename it, on condition that nobody changed it since: If-Match with that ETag.
  const renamed = await api('PATCH', path, 200, {
    body: { name: 'API example (renamed)' },
    headers: { 'If-Match': etag },
  });
  const current = renamed.headers.get('etag');
  console.log(`PATCH ${path} (If-Match: ${etag}) -> 200: renamed, ETag ${current}`);

  // 6. The old ETag is stale now: 412, a problem+json body, and the current ETag.
  const stale = await api('PATCH', path, 412, { body: { name: 'lost update' }, headers: { 'If-Match': etag } });
  const type = stale.headers.get('content-type');
  if (type !== 'application/problem+json') {
    throw new Unexpected(`412 came as ${type}, not application/problem+json`);
  }
  const problem = await stale.json();
  console.log(
    `PATCH ${path} (If-Match: ${etag}) -> 412 ${type}: ${problem.title}: ${problem.detail}` +
      ` (current ETag ${stale.headers.get('etag')})`,
  );

  // 7. The playlist as one HLS stream. With URL signing on, /signed gives a URL with a
  //    token; with it off, /signed answers 409 and the plain URL (urls.hls) is public.
  const signed = await fetch(`${base}${path}/signed?seconds=600`, { headers: { Authorization: `Bearer ${key}` } });
  let hls;
  if (signed.status === 200) {
    hls = (await signed.json()).urls.hls;
    console.log(`GET ${path}/signed -> 200: a signed URL, good for 600 s`);
  } else {
    await expect(signed, `GET ${path}/signed`, 409);
    hls = (await (await api('GET', path, 200)).json()).urls.hls;
    console.log(`GET ${path}/signed -> 409: URL signing is off; the HLS URL is public`);
  }
  // Media and HLS URLs take no credentials (a player fetches them): no Authorization here.
  const master = await expect(await fetch(base + hls), `GET ${hls}`, 200);
  console.log(`GET ${hls.split('?')[0]} -> 200 ${master.headers.get('content-type')}:`);
  for (const line of (await master.text()).split('\n').slice(0, 4)) console.log(`  ${line}`);

  // 8. Delete it (If-Match again: only the revision we last saw), then it is gone.
  await api('DELETE', path, 204, { headers: { 'If-Match': current } });
  console.log(`DELETE ${path} (If-Match: ${current}) -> 204`);
  const gone = await (await api('GET', path, 404)).json();
  console.log(`GET ${path} -> 404: ${gone.detail}`);
}

if (!base || !key) {
  console.error('set STREAMER_URL and STREAMER_API_KEY');
  process.exit(2);
}
try {
  await scenario();
  console.log('done');
} catch (error) {
  // Unexpected answers, and fetch's own failures (no server at STREAMER_URL: the cause says).
  const cause = error.cause ? ` (${error.cause.message ?? error.cause})` : '';
  console.error(`unexpected: ${error instanceof Unexpected ? error.message : error}${cause}`);
  process.exitCode = 1;
}
