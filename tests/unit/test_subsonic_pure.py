"""The Subsonic API's pure parts: response rendering, ids, index letters."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamer.subsonic.ids import AlbumKey, album_id, artist_id, parse_album_id, parse_artist_id
from streamer.subsonic.names import index_letter, sort_name
from streamer.subsonic.responses import NOT_FOUND, SubsonicError, failure, render, success

NS = "{http://subsonic.org/restapi}"


def test_json_wraps_the_elements_in_subsonic_response_and_drops_absent_fields() -> None:
    body, media_type = render(success(song={"id": "1", "year": None, "isDir": False}), "json", None)
    answer = json.loads(body)["subsonic-response"]
    assert media_type == "application/json"
    assert answer["status"] == "ok"
    assert answer["openSubsonic"] is True
    assert answer["song"] == {"id": "1", "isDir": False}


def test_xml_makes_scalars_attributes_objects_children_and_lists_repeated_elements() -> None:
    tree = success(album={"id": "a", "isCompilation": True, "song": [{"id": "1"}, {"id": "2"}]})
    body, media_type = render(tree, None, None)
    root = ET.fromstring(body)
    assert media_type.startswith("text/xml")
    album = root.find(f"{NS}album")
    assert album is not None
    assert (album.get("id"), album.get("isCompilation")) == ("a", "true")
    assert [s.get("id") for s in album.findall(f"{NS}song")] == ["1", "2"]


def test_xml_puts_value_as_text_and_escapes_everything() -> None:
    tree = success(genres={"genre": [{"value": "Rock & <Roll>", "songCount": 2}]})
    root = ET.fromstring(render(tree, "xml", None)[0])
    genre = root.find(f"{NS}genres/{NS}genre")
    assert genre is not None
    assert (genre.text, genre.get("songCount")) == ("Rock & <Roll>", "2")


def test_a_failure_carries_its_code_and_message() -> None:
    answer = json.loads(render(failure(SubsonicError(NOT_FOUND, "no such album")), "json", None)[0])
    assert answer["subsonic-response"]["status"] == "failed"
    assert answer["subsonic-response"]["error"] == {"code": 70, "message": "no such album"}


@pytest.mark.parametrize(
    ("callback", "name"),
    [("handle", "handle"), ("a.b$c", "a.b$c"), ("alert(1)//", "callback"), (None, "callback")],
)
def test_jsonp_accepts_only_a_plain_callback_name(callback: str | None, name: str) -> None:
    body, media_type = render(success(), "jsonp", callback)
    assert body.startswith(f"{name}(".encode())
    assert media_type == "application/javascript"


@given(st.text(max_size=200))
def test_an_artist_id_reads_back_its_name(name: str) -> None:
    assert parse_artist_id(artist_id(name)) == name


@given(st.text(max_size=100), st.text(max_size=100))
def test_an_album_id_reads_back_its_key(artist: str, album: str) -> None:
    assert parse_album_id(album_id(artist, album)) == AlbumKey(artist, album)


@pytest.mark.parametrize(
    "value", ["", "al-", "al-!!!", "al-bm90IGpzb24", "ar-" + "A" * 5000, "0123abcd" * 4, "al-WzFd"]
)
def test_anything_else_is_not_an_album_id(value: str) -> None:
    assert parse_album_id(value) is None


def test_ids_of_different_albums_differ_even_when_names_run_together() -> None:
    assert album_id("A", "B C") != album_id("A B", "C")


@pytest.mark.parametrize(
    ("name", "letter", "key"),
    [
        ("The Beatles", "B", "beatles"),
        ("the the", "T", "the"),
        ("The", "T", "the"),
        ("Los Lobos", "L", "lobos"),
        ("Émile", "E", "émile"),
        ("2Pac", "#", "2pac"),
        ("[Unknown Artist]", "#", "[unknown artist]"),
        ("", "#", ""),
        ("Theatre", "T", "theatre"),
    ],
)
def test_index_letters_ignore_articles_and_accents(name: str, letter: str, key: str) -> None:
    assert index_letter(name) == letter
    assert sort_name(name) == key
