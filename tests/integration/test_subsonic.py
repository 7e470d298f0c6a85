"""The OpenSubsonic API at /rest, driven by py-sonic (a Subsonic client from PyPI nobody
here wrote) and by plain HTTP for what a client library hides (XML, error codes, forms).
Every JSON answer is checked against the schema the OpenSubsonic description publishes
for its method (tests/fixtures/subsonic.py). Real uvicorn, SQLite and PostgreSQL, real
tagged audio with covers."""

from __future__ import annotations

import hashlib
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import libsonic
import pytest

from streamer.cli import normalise_root
from streamer.settings import Settings
from tests.fixtures.audio import make_audio, make_png
from tests.fixtures.servers import RunningServer, scan_roots, serve_in_thread
from tests.fixtures.subsonic import Validate
from transcoder.ffmpeg import ffmpeg_exe

PASSWORD = "a long enough password 1"
NS = "{http://subsonic.org/restapi}"


@dataclass
class Setup:
    server: RunningServer
    files: dict[str, Path]  # name -> the file in a library
    viewer: str  # a viewer with read access to the music library only
    viewer_password: str  # its app password
    viewer_password_id: str
    viewer_id: str
    private_library: str
    editor: str  # an editor with write access to the music library
    editor_password: str


def _library(base: Path) -> tuple[Path, Path, dict[str, Path]]:
    music = base / "music"
    private = base / "private"
    cover = make_png(8, 8)
    files = {
        "come": make_audio(
            music / "The Beatles" / "Abbey Road" / "01 Come Together.flac", "flac", 2.0,
            tags={"title": "Come Together", "artist": "The Beatles", "albumartist": "The Beatles",
                  "album": "Abbey Road", "tracknumber": "1", "date": "1969", "genre": "Rock"},
            cover=cover,
        ),
        "something": make_audio(
            music / "The Beatles" / "Abbey Road" / "02 Something.flac", "flac", 2.0,
            tags={"title": "Something", "artist": "The Beatles", "albumartist": "The Beatles",
                  "album": "Abbey Road", "tracknumber": "2", "date": "1969", "genre": "Rock"},
            cover=cover,
        ),
        "emile": make_audio(
            music / "Hits" / "01.mp3", "mp3", 2.0,
            tags={"title": "Première", "artist": "Émile", "albumartist": "Various Artists",
                  "album": "Hits", "tracknumber": "1", "date": "2001", "genre": "Pop"},
        ),
        "zed": make_audio(
            music / "Hits" / "02.mp3", "mp3", 2.0,
            tags={"title": "Zebra", "artist": "Zed", "albumartist": "Various Artists",
                  "album": "Hits", "tracknumber": "2", "date": "2001", "genre": "Pop"},
        ),
        "loose": make_audio(music / "loose tone.mp3", "mp3", 1.0),
        "secret": make_audio(
            private / "secret.flac", "flac", 1.0,
            tags={"title": "Secret Song", "artist": "Hidden", "album": "Private"},
        ),
    }  # fmt: skip
    return music, private, files


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str | None
) -> Iterator[Setup]:
    base = tmp_path_factory.mktemp("subsonic")
    music, private, files = _library(base)
    roots = [normalise_root(str(music)), normalise_root(str(private))]
    settings = Settings.load(
        {},
        data_dir=base / "data",
        libraries=roots,
        scan_on_start=False,
        transcode_on_start=False,
        database_url=module_database_url,
    )
    scan_roots(settings, roots)
    with serve_in_thread(settings) as server, server.api() as admin:
        libraries = {lib["root"]: lib["id"] for lib in admin.get("/api/v1/libraries").json()}
        body = {
            "name": "viewer",
            "password": PASSWORD,
            "role": "viewer",
            "libraries": {libraries[roots[0]]: "read"},
        }
        user = admin.post("/api/v1/users", json=body)
        assert user.status_code == 201, user.text
        made = admin.post(
            f"/api/v1/users/{user.json()['id']}/app-passwords", json={"name": "DSub on a phone"}
        )
        assert made.status_code == 201, made.text
        body = {**body, "name": "editor", "role": "editor",
                "libraries": {libraries[roots[0]]: "write"}}  # fmt: skip
        editor = admin.post("/api/v1/users", json=body)
        assert editor.status_code == 201, editor.text
        editor_made = admin.post(
            f"/api/v1/users/{editor.json()['id']}/app-passwords", json={"name": "Feishin"}
        )
        yield Setup(
            server,
            files,
            "viewer",
            made.json()["password"],
            made.json()["id"],
            user.json()["id"],
            libraries[roots[1]],
            "editor",
            editor_made.json()["password"],
        )


def _connection(
    setup: Setup, password: str | None = None, user: str | None = None, **options: Any
) -> libsonic.Connection:
    url = httpx.URL(setup.server.base_url)
    return libsonic.Connection(
        f"{url.scheme}://{url.host}",
        user or setup.viewer,
        password or setup.viewer_password,
        port=url.port,
        **{"appName": "tests", **options},
    )


@pytest.fixture
def sonic(setup: Setup) -> libsonic.Connection:
    """py-sonic signed in as the viewer with its app password (token and salt)."""
    return _connection(setup)


@pytest.fixture
def editor(setup: Setup) -> libsonic.Connection:
    """py-sonic as the editor (who may change the music library's playlists)."""
    return _connection(setup, setup.editor_password, setup.editor, appName="Feishin")


def _rest(setup: Setup, method: str, *, editor: bool = False, **params: Any) -> httpx.Response:
    """GET /rest/{method}.view as the viewer (or the editor), salted token form, JSON
    unless told."""
    salt = "c19b2d"
    user, password = (
        (setup.editor, setup.editor_password) if editor else (setup.viewer, setup.viewer_password)
    )
    token = hashlib.md5((password + salt).encode()).hexdigest()
    query = {"u": user, "t": token, "s": salt, "v": "1.16.1", "c": "tests", "f": "json"}
    with setup.server.client() as client:
        return client.get(f"/rest/{method}.view", params={**query, **params})


def _json(setup: Setup, method: str, validate: Validate, **params: Any) -> dict[str, Any]:
    response = _rest(setup, method, **params)
    assert response.status_code == 200, response.text
    answer = response.json()
    validate(method, answer)
    body: dict[str, Any] = answer["subsonic-response"]
    assert body["status"] == "ok", body
    return body


# -- browsing, with py-sonic -------------------------------------------------------------


def test_a_player_signs_in_with_an_app_password_and_pings(sonic: libsonic.Connection) -> None:
    assert sonic.ping() is True


def test_music_folders_are_the_libraries_the_user_may_read(
    setup: Setup, sonic: libsonic.Connection, subsonic_schema: Validate
) -> None:
    folders = sonic.getMusicFolders()["musicFolders"]["musicFolder"]
    assert [f["name"] for f in folders] == ["music"]
    assert all(isinstance(f["id"], int) for f in folders)
    _json(setup, "getMusicFolders", subsonic_schema)


def test_artists_are_indexed_by_letter_without_articles(
    setup: Setup, sonic: libsonic.Connection, subsonic_schema: Validate
) -> None:
    artists = sonic.getArtists()["artists"]
    letters = {index["name"]: [a["name"] for a in index["artist"]] for index in artists["index"]}
    assert letters == {"B": ["The Beatles"], "V": ["Various Artists"], "#": ["[Unknown Artist]"]}
    assert "Hidden" not in str(artists)  # the private library's artist
    _json(setup, "getArtists", subsonic_schema)
    _json(setup, "getIndexes", subsonic_schema)


def test_an_artist_holds_its_albums_and_an_album_its_songs_in_order(
    setup: Setup, sonic: libsonic.Connection, subsonic_schema: Validate
) -> None:
    index = sonic.getArtists()["artists"]["index"]
    beatles = next(a for i in index for a in i["artist"] if a["name"] == "The Beatles")
    artist = sonic.getArtist(beatles["id"])["artist"]
    assert [a["name"] for a in artist["album"]] == ["Abbey Road"]
    album = sonic.getAlbum(artist["album"][0]["id"])["album"]
    assert [s["title"] for s in album["song"]] == ["Come Together", "Something"]
    assert (album["songCount"], album["year"], album["genre"]) == (2, 1969, "Rock")
    song = sonic.getSong(album["song"][0]["id"])["song"]
    assert (song["albumId"], song["artistId"]) == (album["id"], beatles["id"])
    _json(setup, "getArtist", subsonic_schema, id=beatles["id"])
    _json(setup, "getAlbum", subsonic_schema, id=album["id"])
    _json(setup, "getSong", subsonic_schema, id=song["id"])
    _json(setup, "getMusicDirectory", subsonic_schema, id=album["id"])


def test_a_compilation_is_one_album_of_its_album_artist(
    setup: Setup, sonic: libsonic.Connection
) -> None:
    found = sonic.search3("hits", artistCount=0, songCount=0)["searchResult3"]["album"]
    assert len(found) == 1
    album = sonic.getAlbum(found[0]["id"])["album"]
    assert album["artist"] == "Various Artists"
    assert album["isCompilation"] is True
    assert [(s["title"], s["artist"]) for s in album["song"]] == [
        ("Première", "Émile"),
        ("Zebra", "Zed"),
    ]


def test_ids_stay_the_same_across_a_rescan(setup: Setup, sonic: libsonic.Connection) -> None:
    before = sonic.getAlbumList2("alphabeticalByName", size=50)["albumList2"]["album"]
    roots = [str(setup.files["come"].parents[2])]
    scan_roots(setup.server.settings, roots)
    after = sonic.getAlbumList2("alphabeticalByName", size=50)["albumList2"]["album"]
    assert [a["id"] for a in after] == [a["id"] for a in before]


@pytest.mark.parametrize(
    ("kind", "extra", "names"),
    [
        ("alphabeticalByName", {}, ["[Unknown Album]", "Abbey Road", "Hits"]),
        ("alphabeticalByArtist", {}, ["[Unknown Album]", "Abbey Road", "Hits"]),
        ("byYear", {"fromYear": 1960, "toYear": 1970}, ["Abbey Road"]),
        ("byYear", {"fromYear": 2010, "toYear": 1960}, ["Hits", "Abbey Road"]),
        ("byGenre", {"genre": "Pop"}, ["Hits"]),
        ("starred", {}, []),
    ],
)
def test_album_lists(
    setup: Setup,
    subsonic_schema: Validate,
    kind: str,
    extra: dict[str, Any],
    names: list[str],
) -> None:
    body = _json(setup, "getAlbumList2", subsonic_schema, type=kind, size=50, **extra)
    found = [a["name"] for a in body["albumList2"].get("album", [])]
    if kind.startswith("alphabetical"):
        assert sorted(found) == sorted(names)
    else:
        assert found == names


def test_album_list_pages(setup: Setup, subsonic_schema: Validate) -> None:
    whole = _json(setup, "getAlbumList2", subsonic_schema, type="alphabeticalByName", size=50)
    pages = [
        _json(setup, "getAlbumList2", subsonic_schema, type="alphabeticalByName", size=1,
              offset=n)["albumList2"]["album"][0]["id"]
        for n in range(3)
    ]  # fmt: skip
    assert pages == [a["id"] for a in whole["albumList2"]["album"]]


def test_search_finds_words_in_any_case_and_an_empty_query_lists_everything(
    setup: Setup, sonic: libsonic.Connection, subsonic_schema: Validate
) -> None:
    found = sonic.search3("ZEB")["searchResult3"]
    assert [s["title"] for s in found["song"]] == ["Zebra"]
    assert [a["name"] for a in sonic.search3("beat")["searchResult3"]["artist"]] == ["The Beatles"]
    everything = _json(setup, "search3", subsonic_schema, query="", songCount=100)
    assert len(everything["searchResult3"]["song"]) == 5  # not the private library's


def test_genres_count_songs_and_albums(setup: Setup, sonic: libsonic.Connection) -> None:
    genres = sonic.getGenres()["genres"]["genre"]
    assert {(g["value"], g["songCount"], g["albumCount"]) for g in genres} == {
        ("Pop", 2, 1),
        ("Rock", 2, 1),
    }


def test_random_songs_come_from_the_readable_libraries(
    setup: Setup, sonic: libsonic.Connection, subsonic_schema: Validate
) -> None:
    songs = sonic.getRandomSongs(size=50)["randomSongs"]["song"]
    assert len(songs) == 5
    assert "Secret Song" not in [s["title"] for s in songs]
    _json(setup, "getRandomSongs", subsonic_schema, size=3)


def test_the_other_methods_validate(setup: Setup, subsonic_schema: Validate) -> None:
    for method, params in [
        ("ping", {}),
        ("getLicense", {}),
        ("getOpenSubsonicExtensions", {}),
        ("getGenres", {}),
        ("getUser", {"username": "viewer"}),
    ]:
        _json(setup, method, subsonic_schema, **params)


# -- streaming --------------------------------------------------------------------------


def _song_id(sonic: libsonic.Connection, title: str) -> str:
    found = sonic.search3(title, artistCount=0, albumCount=0)["searchResult3"]["song"]
    return str(next(song["id"] for song in found if song["title"] == title))


def test_stream_and_download_send_the_original_bytes(
    setup: Setup, sonic: libsonic.Connection
) -> None:
    song = _song_id(sonic, "Come Together")
    original = setup.files["come"].read_bytes()
    assert sonic.stream(song).read() == original
    assert sonic.download(song).read() == original


def test_a_streamed_original_decodes(
    setup: Setup, sonic: libsonic.Connection, tmp_path: Path
) -> None:
    path = tmp_path / "streamed.mp3"
    path.write_bytes(sonic.stream(_song_id(sonic, "Zebra")).read())
    done = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_stream_answers_ranges(setup: Setup, sonic: libsonic.Connection) -> None:
    song = _song_id(sonic, "Something")
    original = setup.files["something"].read_bytes()
    salt = "ab12"
    token = hashlib.md5((setup.viewer_password + salt).encode()).hexdigest()
    with setup.server.client() as client:
        response = client.get(
            "/rest/stream",
            params={"u": setup.viewer, "t": token, "s": salt, "c": "t", "v": "1.16.1", "id": song},
            headers={"range": "bytes=100-199"},
        )
    assert response.status_code == 206
    assert response.content == original[100:200]
    assert response.headers["content-range"] == f"bytes 100-199/{len(original)}"


def test_cover_art_of_a_song_and_of_its_album(setup: Setup, sonic: libsonic.Connection) -> None:
    song = sonic.getSong(_song_id(sonic, "Come Together"))["song"]
    by_song = sonic.getCoverArt(song["coverArt"]).read()
    by_album = sonic.getCoverArt(song["albumId"]).read()
    assert by_song == by_album == make_png(8, 8)


# -- formats and errors -----------------------------------------------------------------


def test_xml_is_the_default_format(setup: Setup) -> None:
    response = _rest(setup, "getAlbumList2", f="xml", type="alphabeticalByName")
    root = ET.fromstring(response.content)
    assert response.headers["content-type"].startswith("text/xml")
    assert root.tag == f"{NS}subsonic-response"
    assert (root.get("status"), root.get("openSubsonic")) == ("ok", "true")
    albums = root.findall(f"{NS}albumList2/{NS}album")
    assert sorted(a.get("name") or "" for a in albums) == ["Abbey Road", "Hits", "[Unknown Album]"]


def test_jsonp_wraps_the_answer_in_the_callback(setup: Setup) -> None:
    response = _rest(setup, "ping", f="jsonp", callback="handle")
    assert response.text.startswith('handle({"subsonic-response":')
    assert response.text.endswith(");")


def test_methods_accept_a_posted_form(setup: Setup, subsonic_schema: Validate) -> None:
    salt = "0a0b"
    token = hashlib.md5((setup.viewer_password + salt).encode()).hexdigest()
    form = {"u": setup.viewer, "t": token, "s": salt, "c": "t", "v": "1.16.1", "f": "json",
            "query": "zebra"}  # fmt: skip
    with setup.server.client() as client:
        response = client.post("/rest/search3", data=form)
    subsonic_schema("search3", response.json())
    assert [s["title"] for s in response.json()["subsonic-response"]["searchResult3"]["song"]] == [
        "Zebra"
    ]


def _error(response: httpx.Response) -> tuple[int, int]:
    body = response.json()["subsonic-response"]
    assert body["status"] == "failed"
    return response.status_code, body["error"]["code"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"u": "viewer", "p": "wrong"}, (200, 40)),
        ({"u": "viewer", "p": PASSWORD}, (200, 40)),  # the account password is not one
        ({"u": "nobody", "t": "0" * 32, "s": "abc"}, (200, 40)),
        ({"u": "viewer"}, (200, 10)),
        ({}, (200, 10)),
        ({"apiKey": "stk_nothing_known"}, (200, 44)),
        ({"apiKey": "stk_nothing_known", "u": "viewer", "p": "x"}, (200, 43)),
    ],
    ids=[
        "wrong",
        "account-password",
        "unknown-user",
        "no-password",
        "nothing",
        "bad-key",
        "key-and-user",
    ],
)
def test_credentials_are_refused_with_the_protocols_codes(
    setup: Setup, subsonic_schema: Validate, params: dict[str, str], expected: tuple[int, int]
) -> None:
    with setup.server.client() as client:
        response = client.get("/rest/ping.view", params={**params, "c": "t", "f": "json"})
    subsonic_schema("ping", response.json())
    assert _error(response) == expected


def test_the_password_may_be_sent_hex_encoded(setup: Setup) -> None:
    encoded = "enc:" + setup.viewer_password.encode().hex()
    with setup.server.client() as client:
        response = client.get(
            "/rest/ping", params={"u": "viewer", "p": encoded, "c": "t", "f": "json"}
        )
    assert response.json()["subsonic-response"]["status"] == "ok"


def test_an_api_key_signs_in_and_names_its_maker(setup: Setup, subsonic_schema: Validate) -> None:
    with setup.server.api() as admin:
        made = admin.post("/api/v1/apikeys", json={"name": "player key", "role": "viewer"})
    key = made.json()["key"]
    with setup.server.client() as client:
        response = client.get("/rest/tokenInfo", params={"apiKey": key, "f": "json", "c": "t"})
    subsonic_schema("tokenInfo", response.json())
    assert response.json()["subsonic-response"]["tokenInfo"]["username"]


def test_another_librarys_song_is_not_found(setup: Setup, sonic: libsonic.Connection) -> None:
    with setup.server.api() as admin:
        tracks = admin.get("/api/v1/tracks", params={"library": setup.private_library}).json()
    secret = tracks["items"][0]["id"]
    response = _rest(setup, "getSong", id=secret)
    assert _error(response) == (200, 70)
    assert _error(_rest(setup, "stream", id=secret)) == (200, 70)


@pytest.mark.parametrize(
    "ident", ["al-bm90IGpzb24", "ar-", "al-" + "A" * 3000, "0" * 32, "../../etc/passwd"]
)
def test_unknown_or_malformed_ids_are_not_found(
    setup: Setup, subsonic_schema: Validate, ident: str
) -> None:
    for method in ("getAlbum", "getArtist", "getSong", "getCoverArt"):
        response = _rest(setup, method, id=ident)
        assert _error(response) == (200, 70), (method, response.text)


def test_a_missing_parameter_is_code_10(setup: Setup, subsonic_schema: Validate) -> None:
    response = _rest(setup, "getAlbum")
    subsonic_schema("getAlbum", response.json())
    assert _error(response) == (200, 10)


def test_a_method_this_server_does_not_answer_is_404_with_a_failure(setup: Setup) -> None:
    response = _rest(setup, "getPodcasts")
    assert _error(response) == (404, 0)


def test_a_revoked_app_password_stops_working(setup: Setup) -> None:
    with setup.server.api() as admin:
        made = admin.post(
            f"/api/v1/users/{setup.viewer_id}/app-passwords", json={"name": "old phone"}
        ).json()
        old = _connection(setup, made["password"])
        assert old.ping() is True
        gone = admin.delete(f"/api/v1/users/{setup.viewer_id}/app-passwords/{made['id']}")
        assert gone.status_code == 204
        listed = admin.get(f"/api/v1/users/{setup.viewer_id}/app-passwords").json()
    assert {p["name"]: p["revoked_at"] is not None for p in listed} == {
        "DSub on a phone": False,
        "old phone": True,
    }
    assert "password" not in str(listed)
    with pytest.raises(libsonic.errors.CredentialError):
        old.ping()


# -- playlists ----------------------------------------------------------------------------


def _songs(sonic: libsonic.Connection) -> dict[str, str]:
    found = sonic.search3("", artistCount=0, albumCount=0, songCount=100)["searchResult3"]["song"]
    return {s["title"]: s["id"] for s in found}


def test_a_playlist_made_by_a_player_is_the_admins_playlist_with_its_revisions(
    setup: Setup, editor: libsonic.Connection, subsonic_schema: Validate
) -> None:
    songs = _songs(editor)
    made = editor.createPlaylist(name="Road trip", songIds=[songs["Zebra"], songs["Something"]])
    playlist = made["playlist"]
    assert [e["title"] for e in playlist["entry"]] == ["Zebra", "Something"]
    editor.updatePlaylist(
        playlist["id"], name="Long road trip", comment="for the car",
        songIdsToAdd=[songs["Come Together"]], songIndexesToRemove=[0],
    )  # fmt: skip
    got = editor.getPlaylist(playlist["id"])["playlist"]
    assert (got["name"], got["comment"], got["songCount"]) == ("Long road trip", "for the car", 2)
    assert [e["title"] for e in got["entry"]] == ["Something", "Come Together"]
    with setup.server.api() as admin:
        same = admin.get(f"/api/v1/playlists/{playlist['id']}").json()
        revisions = admin.get(f"/api/v1/playlists/{playlist['id']}/revisions").json()
    assert same["name"] == "Long road trip"
    assert [i["track_id"] for i in same["items"]] == [e["id"] for e in got["entry"]]
    assert [r["revision"] for r in revisions["items"]] == [2, 1]
    salt = "9f"
    token = hashlib.md5((setup.editor_password + salt).encode()).hexdigest()
    signed = {"u": "editor", "t": token, "s": salt, "c": "t", "f": "json"}
    with setup.server.client() as client:
        listed = client.get("/rest/getPlaylists", params=signed).json()
        one = client.get("/rest/getPlaylist", params={**signed, "id": playlist["id"]})
    subsonic_schema("getPlaylists", listed)
    subsonic_schema("getPlaylist", one.json())
    editor.deletePlaylist(playlist["id"])
    with setup.server.api() as admin:
        assert admin.get(f"/api/v1/playlists/{playlist['id']}").status_code == 404


def test_create_playlist_with_an_id_replaces_its_songs(editor: libsonic.Connection) -> None:
    songs = _songs(editor)
    made = editor.createPlaylist(name="Mix", songIds=[songs["Zebra"]])["playlist"]
    again = editor.createPlaylist(
        playlistId=made["id"], songIds=[songs["Première"], songs["Zebra"]]
    )["playlist"]
    assert again["id"] == made["id"]
    assert [e["title"] for e in again["entry"]] == ["Première", "Zebra"]


def test_a_viewer_sees_playlists_but_may_not_change_them(
    setup: Setup, sonic: libsonic.Connection, editor: libsonic.Connection
) -> None:
    songs = _songs(editor)
    made = editor.createPlaylist(name="Shared", songIds=[songs["Zebra"]])["playlist"]
    seen = [p["name"] for p in sonic.getPlaylists()["playlists"]["playlist"]]
    assert "Shared" in seen
    assert sonic.getPlaylist(made["id"])["playlist"]["readonly"] is True
    refused = _rest(setup, "updatePlaylist", playlistId=made["id"], name="Mine now")
    assert _error(refused) == (200, 50)
    assert _error(_rest(setup, "createPlaylist", name="Nope")) == (200, 50)
    assert _error(_rest(setup, "deletePlaylist", id=made["id"])) == (200, 50)


def test_a_playlist_of_another_library_is_not_found(setup: Setup) -> None:
    with setup.server.api() as admin:
        body = {"library_id": setup.private_library, "name": "hidden", "track_ids": []}
        hidden = admin.post("/api/v1/playlists", json=body).json()["id"]
    assert _error(_rest(setup, "getPlaylist", id=hidden)) == (200, 70)
    assert hidden not in _rest(setup, "getPlaylists").text


def test_songs_a_player_may_not_read_are_refused_in_a_playlist(
    setup: Setup, editor: libsonic.Connection
) -> None:
    with setup.server.api() as admin:
        tracks = admin.get("/api/v1/tracks", params={"library": setup.private_library}).json()
    secret = tracks["items"][0]["id"]
    with pytest.raises(libsonic.errors.DataNotFoundError):
        editor.createPlaylist(name="Sneaky", songIds=[secret])


# -- stars, scrobbles, now playing --------------------------------------------------------


def test_stars_are_the_listeners_own_and_show_on_what_is_listed(
    setup: Setup, sonic: libsonic.Connection, editor: libsonic.Connection,
    subsonic_schema: Validate,
) -> None:  # fmt: skip
    songs = _songs(sonic)
    album = sonic.getSong(songs["Zebra"])["song"]["albumId"]
    artist = sonic.getSong(songs["Come Together"])["song"]["artistId"]
    sonic.star(sids=[songs["Zebra"]], albumIds=[album], artistIds=[artist])
    starred = sonic.getStarred2()["starred2"]
    assert [s["title"] for s in starred["song"]] == ["Zebra"]
    assert [a["name"] for a in starred["album"]] == ["Hits"]
    assert [a["name"] for a in starred["artist"]] == ["The Beatles"]
    assert "starred" in sonic.getSong(songs["Zebra"])["song"]
    assert "starred" in sonic.getAlbum(album)["album"]
    listed = sonic.getAlbumList2("starred")["albumList2"]["album"]
    assert [a["name"] for a in listed] == ["Hits"]
    subsonic_schema("getStarred2", _rest(setup, "getStarred2").json())
    assert editor.getStarred2()["starred2"].get("song", []) == []  # not the editor's
    sonic.unstar(sids=[songs["Zebra"]], albumIds=[album], artistIds=[artist])
    assert sonic.getStarred2()["starred2"].get("song", []) == []
    assert "starred" not in sonic.getSong(songs["Zebra"])["song"]


def test_starring_what_does_not_exist_is_not_found(setup: Setup) -> None:
    assert _error(_rest(setup, "star", id="0" * 32)) == (200, 70)
    assert _error(_rest(setup, "star", albumId="al-WyJ4IiwgInkiXQ")) == (200, 70)


def test_scrobbles_count_plays_and_order_recent_and_frequent_albums(
    setup: Setup, editor: libsonic.Connection
) -> None:
    songs = _songs(editor)
    hour_ago = int(time.time() - 3600)  # py-sonic sends it as milliseconds
    for _ in range(3):
        editor.scrobble(songs["Come Together"], listenTime=hour_ago)
    editor.scrobble(songs["Zebra"])  # now
    song = editor.getSong(songs["Come Together"])["song"]
    assert song["playCount"] == 3
    recent = editor.getAlbumList2("recent")["albumList2"]["album"]
    frequent = editor.getAlbumList2("frequent")["albumList2"]["album"]
    assert [a["name"] for a in recent] == ["Hits", "Abbey Road"]
    assert [a["name"] for a in frequent] == ["Abbey Road", "Hits"]


def test_now_playing_shows_each_listeners_player(
    setup: Setup, sonic: libsonic.Connection, editor: libsonic.Connection,
    subsonic_schema: Validate,
) -> None:  # fmt: skip
    songs = _songs(editor)
    editor.scrobble(songs["Something"], submission=False)
    editor.scrobble(songs["Zebra"], submission=False)  # the same player moved on
    answer = _rest(setup, "getNowPlaying")
    subsonic_schema("getNowPlaying", answer.json())
    entries = sonic.getNowPlaying()["nowPlaying"]["entry"]
    mine = [e for e in entries if e["username"] == "editor"]
    assert [(e["title"], e["playerName"], e["minutesAgo"]) for e in mine] == [
        ("Zebra", "Feishin", 0)
    ]


# -- every answer in XML as in JSON; writes against the schemas --------------------------


def assert_same(element: ET.Element, expected: dict[str, Any], where: str = "") -> None:
    """The XML element carries exactly what the JSON object does: scalars as attributes
    (``value`` as text), objects as one child, lists as repeated children."""
    attributes = {k: v for k, v in element.attrib.items() if k != "xmlns"}
    scalars = {k: v for k, v in expected.items() if not isinstance(v, (dict, list))}
    text = scalars.pop("value", None)
    rendered = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in scalars.items()}
    assert attributes == rendered, where
    if text is not None:
        assert element.text == str(text), where
    children = {child.tag.removeprefix(NS) for child in element}
    nested = {k for k, v in expected.items() if isinstance(v, (dict, list)) and v != []}
    assert children == nested, where
    for key in nested:
        value = expected[key]
        found = element.findall(f"{NS}{key}")
        items = value if isinstance(value, list) else [value]
        assert len(found) == len(items), f"{where}/{key}"
        for n, (child, item) in enumerate(zip(found, items, strict=True)):
            if isinstance(item, dict):
                assert_same(child, item, f"{where}/{key}[{n}]")
            else:
                assert child.text == str(item), f"{where}/{key}[{n}]"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("ping", {}),
        ("getLicense", {}),
        ("getOpenSubsonicExtensions", {}),
        ("getMusicFolders", {}),
        ("getArtists", {}),
        ("getAlbumList2", {"type": "alphabeticalByName"}),
        ("search3", {"query": ""}),
        ("getGenres", {}),
        ("getUser", {"username": "viewer"}),
        ("getPlaylists", {}),
        ("getStarred2", {}),
        ("getNowPlaying", {}),
        ("getAlbum", {}),  # a failure: the missing id
        ("getSong", {"id": "0" * 16}),  # a failure: not found
    ],
)
def test_xml_answers_carry_what_the_json_answers_do(
    setup: Setup, method: str, params: dict[str, Any]
) -> None:
    as_json = _rest(setup, method, **params).json()["subsonic-response"]
    as_xml = ET.fromstring(_rest(setup, method, f="xml", **params).content)
    assert as_xml.tag == f"{NS}subsonic-response"
    assert_same(as_xml, as_json)


def test_xml_of_an_album_with_songs_and_of_an_artist(
    setup: Setup, sonic: libsonic.Connection
) -> None:
    index = sonic.getArtists()["artists"]["index"]
    artist = next(a for i in index for a in i["artist"] if a["name"] == "The Beatles")
    album = sonic.getArtist(artist["id"])["artist"]["album"][0]["id"]
    for method, ident in (("getArtist", artist["id"]), ("getAlbum", album)):
        as_json = _rest(setup, method, id=ident).json()["subsonic-response"]
        assert_same(ET.fromstring(_rest(setup, method, f="xml", id=ident).content), as_json)


def test_the_writes_answer_as_the_schemas_say(
    setup: Setup, editor: libsonic.Connection, subsonic_schema: Validate
) -> None:
    songs = _songs(editor)
    made = _rest(setup, "createPlaylist", editor=True, name="Schema", songId=songs["Zebra"])
    subsonic_schema("createPlaylist", made.json())
    playlist = made.json()["subsonic-response"]["playlist"]["id"]
    for method, params in [
        ("updatePlaylist", {"playlistId": playlist, "songIdToAdd": songs["Something"]}),
        ("star", {"id": songs["Zebra"]}),
        ("unstar", {"id": songs["Zebra"]}),
        ("scrobble", {"id": songs["Zebra"], "submission": "false"}),
        ("deletePlaylist", {"id": playlist}),
    ]:
        answer = _rest(setup, method, editor=True, **params)
        subsonic_schema(method, answer.json())
        assert answer.json()["subsonic-response"]["status"] == "ok", (method, answer.text)


def test_a_revoked_api_key_is_refused(setup: Setup) -> None:
    with setup.server.api() as admin:
        made = admin.post("/api/v1/apikeys", json={"name": "old player", "role": "viewer"}).json()
        params = {"apiKey": made["key"], "f": "json", "c": "t"}
        with setup.server.client() as client:
            assert (
                client.get("/rest/ping", params=params).json()["subsonic-response"]["status"]
                == "ok"
            )
            assert admin.delete(f"/api/v1/apikeys/{made['id']}").status_code == 204
            refused = client.get("/rest/ping", params=params)
    assert _error(refused) == (200, 44)


def test_failed_sign_ins_are_audited(setup: Setup) -> None:
    with setup.server.client() as client:
        client.get("/rest/ping", params={"u": "viewer", "p": "not it", "c": "t", "f": "json"})
    with setup.server.api() as admin:
        entries = admin.get(
            "/api/v1/audit", params={"action": "auth.login_failed", "limit": 50}
        ).json()
    assert any(e.get("after", {}).get("via") == "subsonic" for e in entries["items"])


def test_a_failure_inside_is_a_subsonic_answer_and_the_server_goes_on(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("streamer.subsonic.catalog.Catalog.libraries", broken)
    failed = _rest(setup, "getMusicFolders")
    assert _error(failed) == (500, 0)
    monkeypatch.undo()
    assert _rest(setup, "getMusicFolders").json()["subsonic-response"]["status"] == "ok"
