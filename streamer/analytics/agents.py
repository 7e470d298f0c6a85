"""Who asked: a User-Agent (and Referer) classified with the OPAWG lists.

The lists are the Open Podcast Analytics Working Group's user-agents-v2 patterns, vendored
in ``data/opawg/`` (MIT; README there says which commit and how to update). The matching
follows that project's README, so that our figures agree with anyone else who uses them:

1. newlines are removed from the header (only bad actors send them);
2. the lists ``bots``, ``apps``, ``libraries``, ``browsers`` are tried in that order, each
   entry in file order, and the first pattern that matches names the agent (one entry or
   none, deterministic);
3. unless it is a bot, ``devices`` is tried the same way (a device has a category such as
   ``mobile`` or ``smart_speaker``);
4. for a browser, the Referer is matched against ``referrers`` (web apps and hosting
   companies' players, which cannot set their own User-Agent).

What counts as a bot (``Agent.bot``, ``Agent.bot_reason``) goes a little beyond the bots
list, as OP3 does, because the IAB guidelines ask to remove automated traffic, not only
the named crawlers:

- ``"bot"``: an entry of the bots list;
- ``"bot-library"``: an HTTP library the libraries list marks ``category: "bot"``
  (curl-like tools, axios, python-requests...: scripts, not players);
- ``"unknown-bot"``: a User-Agent no list names that says ``crawler``, ``spider`` or
  ``bot`` at the end of a word (any case: ``FooBot/1``, ``googlebot``, not ``Robotics``);
- ``"no-user-agent"``: no User-Agent at all (blank); nothing can be credited to it.

The operating system is not in the v2 lists (the project dropped OPAWG v1's ``os``
attribute); ``Agent.os`` comes from the small table ``_OPERATING_SYSTEMS`` below, ours.

The patterns are compiled once, on first use, by ``AgentClassifier``; results are cached
in a bounded LRU keyed by the User-Agent (the same few hundred agents make most requests).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import Literal

__all__ = ["Agent", "AgentClassifier", "AgentKind", "BotReason", "classify", "default_classifier"]

AgentKind = Literal["bot", "app", "library", "browser", "unknown"]
BotReason = Literal["bot", "bot-library", "unknown-bot", "no-user-agent"]

# Lists tried in this order for the agent itself (OPAWG README, "Quick start").
_ENTITY_LISTS: tuple[tuple[str, AgentKind], ...] = (
    ("bots", "bot"),
    ("apps", "app"),
    ("libraries", "library"),
    ("browsers", "browser"),
)
# "bot" at the end of a word (Googlebot/, SomeBot-1, my_bot): not inside one, as in the
# TV maker "SEIRobotics" of the devices examples.
_UNKNOWN_BOT = re.compile(r"bot\b|crawler|spider", re.IGNORECASE)
_NEWLINES = str.maketrans("", "", "\r\n")

# Ours, not OPAWG's: first match wins, so the specific Apple systems come before iOS and
# Android/ChromeOS before Linux.
_OPERATING_SYSTEMS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.ASCII))
    for name, pattern in (
        ("watchOS", r"watchOS|Watch OS|^Watch/\d|^atc/"),
        ("tvOS", r"tvOS|Apple ?TV|apple_tv"),
        ("iOS", r"iPhone|iPad|iPod|\biOS\b|\bios\b|CPU OS|CFNetwork/|HomePod|AirPodcasts/"),
        ("Android", r"[Aa]ndroid|Dalvik/"),
        ("ChromeOS", r"CrOS"),
        ("macOS", r"Macintosh|Mac OS X|macOS|OS X|macosx"),
        ("Windows", r"Windows"),
        ("Linux", r"Linux|X11|Ubuntu"),
    )
)


@dataclass(frozen=True, slots=True)
class Agent:
    """What the OPAWG lists (and the rules above) say about one request's agent.

    ``kind`` and ``name`` are the deterministic entity match (``unknown``/None when no list
    names it); ``app``, ``library`` and ``browser`` repeat ``name`` under the matching
    kind so reports can group by each. ``device`` and ``device_category`` come from the
    devices list, ``os`` from our table, ``referrer_app`` and ``referrer_category``
    (``app`` or ``host``) from the referrers list, for browsers only.
    """

    bot: bool
    bot_reason: BotReason | None
    kind: AgentKind
    name: str | None
    app: str | None = None
    library: str | None = None
    browser: str | None = None
    device: str | None = None
    device_category: str | None = None
    os: str | None = None
    referrer_app: str | None = None
    referrer_category: str | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    pattern: re.Pattern[str]
    category: str | None


def _load(list_name: str) -> tuple[_Entry, ...]:
    """One vendored list, compiled. ASCII: the patterns are JavaScript's, where \\d and \\w
    are ASCII only."""
    path = resources.files("streamer.analytics") / "data" / "opawg" / f"{list_name}.runtime.json"
    entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
    return tuple(
        _Entry(entry["name"], re.compile(entry["pattern"], re.ASCII), entry.get("category"))
        for entry in entries
    )


def _first(entries: tuple[_Entry, ...], text: str) -> _Entry | None:
    for entry in entries:
        if entry.pattern.search(text):
            return entry
    return None


class AgentClassifier:
    """The compiled lists and two bounded caches (User-Agent -> Agent without referrer
    facts, Referer -> referrer entry). Build one per process (``default_classifier``);
    ``cache_size`` bounds each cache."""

    def __init__(self, cache_size: int = 4096) -> None:
        self._lists = {name: _load(name) for name, _ in _ENTITY_LISTS}
        self._devices = _load("devices")
        self._referrers = _load("referrers")
        self._agent = functools.lru_cache(maxsize=cache_size)(self._classify_agent)
        self._referrer = functools.lru_cache(maxsize=cache_size)(self._classify_referrer)

    def classify(self, user_agent: str | None, referrer: str | None = None) -> Agent:
        """The Agent of one request (see the module docstring for the rules)."""
        agent = self._agent(user_agent or "")
        if agent.kind != "browser" or not referrer:
            return agent
        entry = self._referrer(referrer)
        if entry is None:
            return agent
        return replace(agent, referrer_app=entry.name, referrer_category=entry.category)

    def cache_info(self) -> functools._CacheInfo:
        """The User-Agent cache's hits and misses (for tests and the curious)."""
        return self._agent.cache_info()

    def _classify_agent(self, user_agent: str) -> Agent:
        text = user_agent.translate(_NEWLINES)
        if not text.strip():
            return Agent(bot=True, bot_reason="no-user-agent", kind="unknown", name=None)
        match = self._entity(text)
        if match is None:
            bot = _UNKNOWN_BOT.search(text) is not None
            return Agent(
                bot=bot,
                bot_reason="unknown-bot" if bot else None,
                kind="unknown",
                name=None,
                **({} if bot else self._device_and_os(text)),
            )
        kind, entry = match
        if kind == "bot":
            return Agent(bot=True, bot_reason="bot", kind="bot", name=entry.name)
        bot_library = kind == "library" and entry.category == "bot"
        return Agent(
            bot=bot_library,
            bot_reason="bot-library" if bot_library else None,
            kind=kind,
            name=entry.name,
            app=entry.name if kind == "app" else None,
            library=entry.name if kind == "library" else None,
            browser=entry.name if kind == "browser" else None,
            **self._device_and_os(text),
        )

    def _entity(self, text: str) -> tuple[AgentKind, _Entry] | None:
        for list_name, kind in _ENTITY_LISTS:
            entry = _first(self._lists[list_name], text)
            if entry is not None:
                return kind, entry
        return None

    def _device_and_os(self, text: str) -> dict[str, str | None]:
        device = _first(self._devices, text)
        system = next((name for name, pattern in _OPERATING_SYSTEMS if pattern.search(text)), None)
        return {
            "device": device.name if device else None,
            "device_category": device.category if device else None,
            "os": system,
        }

    def _classify_referrer(self, referrer: str) -> _Entry | None:
        return _first(self._referrers, referrer.translate(_NEWLINES))


# One classifier per process, built on first use: the lists are immutable data and
# compiling them (about 1,000 patterns) costs tens of milliseconds, so it happens once.
@functools.cache
def default_classifier() -> AgentClassifier:
    """The process's classifier (compiled on the first call)."""
    return AgentClassifier()


def classify(user_agent: str | None, referrer: str | None = None) -> Agent:
    """``default_classifier().classify(user_agent, referrer)``."""
    return default_classifier().classify(user_agent, referrer)
