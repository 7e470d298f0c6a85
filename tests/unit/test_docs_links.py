"""The documentation's links: every relative link and image points at a file in the
repository, every ``#anchor`` names a heading of its target, and external links are
well-formed (never fetched: the suite runs without internet).

The files are globbed when the tests are collected, so a new page is checked as soon as it
is added. Each check is parametrised over the files: a failure names the file and lists
its broken links.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

ROOT = Path(__file__).resolve().parents[2]

# README.md and docs/ (with anything below it), and any other Markdown in the root,
# config/ or deploy/.
_PATTERNS = ("*.md", "docs/**/*.md", "config/**/*.md", "deploy/**/*.md")


def markdown_files() -> list[Path]:
    found = {path for pattern in _PATTERNS for path in ROOT.glob(pattern) if path.is_file()}
    return sorted(found)


# CommonMark as GitHub renders it, plus the GFM tables and strikethrough the docs use
# (links inside table cells are then parsed as links).
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])

# Anchors may also be given in raw HTML (<a id="...">, <a name="...">).
_HTML_ANCHOR = re.compile(r"""<a\s[^>]*\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
# Links and images in raw HTML (<img src="...">, <a href="...">).
_HTML_LINK = re.compile(r"""<(a|img)\s[^>]*\b(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)


@dataclass(frozen=True)
class Link:
    target: str
    image: bool
    line: int  # 1-based, for the failure message

    def __str__(self) -> str:
        return f"line {self.line}: {self.target}"


@cache
def _tokens(path: Path) -> list[Token]:
    return _MD.parse(path.read_text(encoding="utf-8"))


def _walk(tokens: list[Token]) -> Iterator[tuple[Token, int]]:
    """Every token with the (1-based) line of the block it is in."""
    for token in tokens:
        line = token.map[0] + 1 if token.map else 0
        yield token, line
        for child in token.children or ():
            yield child, line


def links_in(path: Path) -> list[Link]:
    links: list[Link] = []
    for token, line in _walk(_tokens(path)):
        if token.type == "link_open":
            links.append(Link(str(token.attrs["href"]), image=False, line=line))
        elif token.type == "image":
            links.append(Link(str(token.attrs["src"]), image=True, line=line))
        elif token.type in ("html_inline", "html_block"):
            for tag, target in _HTML_LINK.findall(token.content):
                links.append(Link(target, image=tag.lower() == "img", line=line))
    return links


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading (as github-slugger does): lower-case the heading's
    text, drop every character that is not a letter, digit, underscore, hyphen or space
    (so punctuation such as ``.`` ``/`` ``(`` ``:`` and backticks go, while accented and
    other-script letters stay), then turn each space into a hyphen (runs of spaces are not
    collapsed: "a - b" becomes "a---b")."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def _heading_text(inline: Token) -> str:
    # The rendered text: markup (emphasis, link brackets, backticks) is not part of it.
    return "".join(
        child.content for child in inline.children or () if child.type in ("text", "code_inline")
    )


@cache
def anchors_of(path: Path) -> frozenset[str]:
    """The anchors a page offers: its headings' slugs, a repeated slug taking -1, -2, ...
    as on GitHub, and ids or names given in raw HTML."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    tokens = _tokens(path)
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            slug = github_slug(_heading_text(tokens[index + 1]))
            repeats = seen.get(slug, 0)
            seen[slug] = repeats + 1
            anchors.add(slug if repeats == 0 else f"{slug}-{repeats}")
        elif token.type in ("html_block", "inline"):
            contents = [token.content] if token.type == "html_block" else []
            contents += [c.content for c in token.children or () if c.type == "html_inline"]
            for content in contents:
                anchors.update(_HTML_ANCHOR.findall(content))
    return frozenset(anchors)


def _is_external(target: str) -> bool:
    return bool(urlsplit(target).scheme)


def _resolve(source: Path, target: str) -> Path:
    path = unquote(urlsplit(target).path)
    if not path:  # "#anchor": this page
        return source
    if path.startswith("/"):  # GitHub resolves these from the repository's root
        return (ROOT / path.lstrip("/")).resolve()
    return (source.parent / path).resolve()


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _fail(path: Path, what: str, problems: list[str]) -> None:
    if problems:
        listed = "\n  ".join(problems)
        pytest.fail(f"{_relative(path)}: {what}:\n  {listed}", pytrace=False)


FILES = markdown_files()
_IDS = [_relative(path) for path in FILES]


def test_the_documentation_is_found() -> None:
    assert ROOT / "README.md" in FILES
    assert any(path.parent == ROOT / "docs" for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_relative_links_point_at_files_in_the_repository(path: Path) -> None:
    problems = []
    for link in links_in(path):
        if link.image or _is_external(link.target):
            continue
        target = _resolve(path, link.target)
        if not target.is_relative_to(ROOT):
            problems.append(f"{link} (outside the repository)")
        elif not target.exists():
            problems.append(f"{link} (no such file)")
    _fail(path, "links to missing files", problems)


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_anchors_name_a_heading_of_their_target(path: Path) -> None:
    problems = []
    for link in links_in(path):
        fragment = urlsplit(link.target).fragment
        if link.image or _is_external(link.target) or not fragment:
            continue
        target = _resolve(path, link.target)
        # Only Markdown has headings; a file's other anchors (#L10 of code) are GitHub's.
        if target.suffix != ".md" or not target.is_file():
            continue
        if unquote(fragment) not in anchors_of(target):
            problems.append(f"{link} (no such heading in {_relative(target)})")
    _fail(path, "anchors that match no heading", problems)


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_images_exist(path: Path) -> None:
    problems = []
    for link in links_in(path):
        if not link.image or _is_external(link.target):
            continue
        target = _resolve(path, link.target)
        if not (target.is_relative_to(ROOT) and target.is_file()):
            problems.append(f"{link} (no such image)")
    _fail(path, "missing images", problems)


@pytest.mark.parametrize("path", FILES, ids=_IDS)
def test_external_links_are_well_formed(path: Path) -> None:
    problems = []
    for link in links_in(path):
        if not _is_external(link.target):
            continue
        if not well_formed_url(link.target):
            problems.append(f"{link} (malformed)")
    _fail(path, "malformed external links", problems)


def well_formed_url(url: str) -> bool:
    """http(s) with a host and no whitespace, or a mailto: with an address."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return False
    if any(c.isspace() for c in url):
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname)
    if parts.scheme == "mailto":
        return "@" in parts.path
    return False


# The slug rule and the URL check are hand-written: their specification.


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("Reading the logs", "reading-the-logs"),
        ("Which ffmpeg?", "which-ffmpeg"),
        ("`streamer logs`: reading them", "streamer-logs-reading-them"),
        ("Scale-out (many nodes)", "scale-out-many-nodes"),
        ("HTTP/2 and TLS", "http2-and-tls"),
        ("snake_case stays", "snake_case-stays"),
        ("a - b", "a---b"),
        ("Über Straße", "über-straße"),
    ],
)
def test_github_slug_of_a_heading(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_a_repeated_heading_takes_a_numbered_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Setup\n\n## Setup\n\n## Setup\n", encoding="utf-8")
    assert anchors_of(page) == {"setup", "setup-1", "setup-2"}


def test_a_heading_anchor_is_its_text_without_markup(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("## The `serve` [command](x.md) is **fast**\n", encoding="utf-8")
    assert anchors_of(page) == {"the-serve-command-is-fast"}


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://docs.astral.sh/uv/", True),
        ("http://localhost:8000/admin/", True),
        ("mailto:ops@example.org", True),
        ("https://", False),
        ("https://example.org:port/", False),
        ("https://exa mple.org/", False),
        ("ftp://example.org/file", False),
    ],
)
def test_an_external_link_is_well_formed(url: str, ok: bool) -> None:
    assert well_formed_url(url) is ok
