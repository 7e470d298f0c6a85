"""How players list artists: by the first letter of the name with leading articles
ignored ("The Beatles" under B), sorted the same way; anything not a letter under "#"."""

from __future__ import annotations

import unicodedata

__all__ = ["IGNORED_ARTICLES", "index_letter", "sort_name"]

# Subsonic's default setting, which players show as they get it (getIndexes, getArtists).
IGNORED_ARTICLES = "The El La Los Las Le Les"
_ARTICLES = tuple(f"{a.lower()} " for a in IGNORED_ARTICLES.split())


def sort_name(name: str) -> str:
    """The name as it sorts: without a leading article, case-folded."""
    folded = name.strip().casefold()
    for article in _ARTICLES:
        if folded.startswith(article) and len(folded) > len(article):
            return folded[len(article) :].lstrip()
    return folded


def index_letter(name: str) -> str:
    """The index a name is listed under: its first letter without accents, upper case
    ("Émile" under E), or "#" for digits, symbols and empty names."""
    key = sort_name(name)
    if not key:
        return "#"
    first = unicodedata.normalize("NFKD", key[0])[0].upper()
    return first if first.isalpha() else "#"
