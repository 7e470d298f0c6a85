"""Signed-URL tokens under generated input: only TokenError escapes; minted tokens verify."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streamer.http.signing import TokenError, make_token, sign_playlist, verify_token

SECRET = b"s3cret"
NOW = 1_764_000_000
track_ids = st.text(alphabet="0123456789abcdef", min_size=1, max_size=32)
# A real token's shape with its parts drawn apart, besides arbitrary text.
token_like = st.tuples(
    st.from_regex(r"[0-9]{1,12}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
).map(".".join)


@given(st.one_of(st.none(), st.text(), token_like), st.text())
def test_any_token_verifies_or_is_a_token_error(token: str | None, path: str) -> None:
    try:
        verify_token(SECRET, token, path, NOW)
    except TokenError:
        return
    raise AssertionError(f"an unsigned token opened {path!r}")


@given(track_ids, st.text(alphabet="abcdefghij_./0123456789", max_size=30), st.integers(0, 10**6))
def test_a_minted_track_token_opens_its_track_until_it_expires(
    track: str, rest: str, ttl: int
) -> None:
    token = make_token(SECRET, f"track:{track}", NOW + ttl)
    for path in (f"/hls/{track}/{rest}", f"/media/{track}/{rest}"):
        if ".." in path:
            continue
        verify_token(SECRET, token, path, NOW)


@given(track_ids, st.integers(0, 10**6), st.integers(0, 255))
def test_a_token_changed_anywhere_is_refused(track: str, ttl: int, flip: int) -> None:
    token = make_token(SECRET, f"track:{track}", NOW + ttl)
    # Not the scope's last character: its low bits may be base64 padding that decodes alike.
    scope_end = token.rindex(".") - 1
    positions = [i for i in range(len(token)) if i != scope_end and token[i] != "."]
    position = positions[flip % len(positions)]
    changed = token[:position] + ("0" if token[position] != "0" else "1") + token[position + 1 :]
    try:
        verify_token(SECRET, changed, f"/hls/{track}/master.m3u8", NOW)
    except TokenError:
        return
    raise AssertionError(f"{changed!r} was accepted")


@given(st.text(max_size=200), track_ids)
def test_signing_a_playlist_adds_the_token_to_every_uri_line(text: str, track: str) -> None:
    token = make_token(SECRET, f"track:{track}", NOW)
    signed = sign_playlist(text, token)
    for before, after in zip(text.split("\n"), signed.split("\n"), strict=True):
        if before and not before.startswith("#"):
            assert after.startswith(before)
            assert after.endswith(f"token={token}")
