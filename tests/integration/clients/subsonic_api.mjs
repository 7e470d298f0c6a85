// Drives /rest with subsonic-api (npm, MIT; web/package.json's devDependencies), a
// Subsonic client nobody here wrote, as a player would: browse, search, play, keep a
// playlist, star and scrobble. Prints one JSON object of what it saw; the Python test
// (tests/integration/test_subsonic_npm_client.py) checks it.
//   node subsonic_api.mjs <server url> <user> <app password> <api key>
import { SubsonicAPI } from "../../../web/node_modules/subsonic-api/lib/index.js";

const [url, username, password, apiKey] = process.argv.slice(2);
const api = new SubsonicAPI({ url, auth: { username, password } });
const byKey = new SubsonicAPI({ url, auth: { apiKey } });
const posting = new SubsonicAPI({ url, auth: { username, password }, post: true });

const seen = {};
seen.ping = (await api.ping()).status;
seen.keyPing = (await byKey.ping()).status;
seen.folders = (await api.getMusicFolders()).musicFolders.musicFolder.map((f) => f.name);
const index = (await api.getArtists()).artists.index;
seen.artists = index.flatMap((i) => i.artist.map((a) => a.name));
const beatles = index.flatMap((i) => i.artist).find((a) => a.name === "The Beatles");
const artist = (await api.getArtist({ id: beatles.id })).artist;
const album = (await api.getAlbum({ id: artist.album[0].id })).album;
seen.album = { name: album.name, songs: album.song.map((s) => s.title), created: album.created instanceof Date };
const found = (await posting.search3({ query: "zebra" })).searchResult3;
seen.search = found.song.map((s) => s.title);
const song = album.song[0];
const streamed = await api.stream({ id: song.id });
seen.stream = { status: streamed.status, bytes: (await streamed.arrayBuffer()).byteLength };
const transcoded = await api.stream({ id: song.id, format: "mp3", maxBitRate: 96 });
seen.transcoded = { status: transcoded.status, type: transcoded.headers.get("content-type"), bytes: (await transcoded.arrayBuffer()).byteLength };
const cover = await api.getCoverArt({ id: album.id });
seen.cover = { status: cover.status, type: cover.headers.get("content-type") };
const made = (await api.createPlaylist({ name: "From npm", songId: album.song.map((s) => s.id) })).playlist;
await api.updatePlaylist({ playlistId: made.id, songIndexToRemove: [0] });
seen.playlist = (await api.getPlaylist({ id: made.id })).playlist.entry.map((e) => e.title);
await api.star({ id: song.id, albumId: album.id });
const starred = (await api.getStarred2()).starred2;
seen.starred = { songs: starred.song.map((s) => s.title), albums: starred.album.map((a) => a.name) };
await api.scrobble({ id: song.id, submission: true });
seen.playCount = (await api.getSong({ id: song.id })).song.playCount;
await api.deletePlaylist({ id: made.id });
seen.playlistsLeft = ((await api.getPlaylists()).playlists.playlist ?? []).map((p) => p.name);
console.log(JSON.stringify(seen));
