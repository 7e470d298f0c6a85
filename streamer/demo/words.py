"""Words that generated libraries are named with: artists, albums, titles and genres, some
of them in other scripts and with diacritics, as real libraries have. Invented, so that no
name is anyone's."""

from __future__ import annotations

ADJECTIVES = (
    "Amber", "Broken", "Copper", "Distant", "Electric", "Falling", "Golden", "Hollow",
    "Indigo", "Jagged", "Kindred", "Lunar", "Midnight", "Northern", "Open", "Paper",
    "Quiet", "Restless", "Silver", "Tidal", "Velvet", "Wandering", "Young", "Zero",
)  # fmt: skip
NOUNS = (
    "Anchors", "Bridges", "Cities", "Dunes", "Echoes", "Fields", "Gardens", "Harbours",
    "Islands", "Journeys", "Kites", "Lanterns", "Mirrors", "Nights", "Oceans", "Pilots",
    "Rivers", "Signals", "Towers", "Valleys", "Waves", "Years",
)  # fmt: skip
# Artists and words beyond ASCII: diacritics, other scripts, an emoji, an apostrophe.
UNICODE_ARTISTS = (
    "Zoë & the Ångström Set", "Mañana Colectivo", "Dvořák Street Band", "東京ストリングス",
    "Ελληνικό Κουαρτέτο", "Орбита", "Café Müller Trio", "Søren Ø", "Ça Ira", "Ngũgĩ Sound",
)  # fmt: skip
UNICODE_WORDS = (
    "Été", "Fjärran", "Glück", "Noël", "Señales", "Łąka", "夜明け", "Ωκεανός", "Ночь", "🎵",
)  # fmt: skip
TITLE_SUFFIXES = (
    "", "", "", "", "", "", " (Live)", " (Remix)", " (Demo)", " - Part II", " (feat. Ana Sol)",
    " (Instrumental)",
)  # fmt: skip
GENRES = (
    "Ambient", "Blues", "Classical", "Electronic", "Folk", "Hip-Hop", "Jazz", "Pop", "Rock",
    "Soul", "World", "Soundtrack",
)  # fmt: skip
