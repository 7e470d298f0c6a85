"""A fake channels API (contract C of issue 16) for the channel pages' browser tests: it
answers /api/v1 requests intercepted by Playwright (page.route) from a few entries in
memory, computes their occurrences (once-only and daily entries, conflicts by priority)
in the asked zone, checks If-Match on writes, and records every write so tests can look
at what the page sent. No streamer, no database: the pages' behaviour alone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, Request, Route

ED = {
    "user_id": "u-ed",
    "name": "ed",
    "role": "admin",
    "second_factor_required": False,
    "totp_enabled": True,
    "must_enrol_totp": False,
    "csrf_token": "csrf",
}
PLAYLISTS = [
    {"id": "p-morning", "name": "Morning", "library_id": "lib", "item_count": 3, "duration": 600},
    {"id": "p-news", "name": "News", "library_id": "lib", "item_count": 1, "duration": 300},
    {"id": "p-evening", "name": "Evening", "library_id": "lib", "item_count": 2, "duration": 400},
]
ZONE = "Europe/Paris"


def default_entries() -> dict[str, dict[str, Any]]:
    """Tuesday 1 December 2026 (the week the tests' frozen clock shows): Morning 09-11 and
    News 10-11 overlap (News wins, priority 5); Evening on Thursday 18-19."""
    entries = [
        ("e-morning", "p-morning", "2026-12-01T09:00:00", 7200, 0),
        ("e-news", "p-news", "2026-12-01T10:00:00", 3600, 5),
        ("e-evening", "p-evening", "2026-12-03T18:00:00", 3600, 0),
    ]
    return {
        id_: {
            "id": id_,
            "playlist_id": playlist,
            "start": start,
            "duration_seconds": seconds,
            "rrule": None,
            "exdates": [],
            "priority": priority,
            "order": "sequential",
        }
        for id_, playlist, start, seconds, priority in entries
    }


def play(track_id: str, title: str, start: str, end: str) -> dict[str, Any]:
    """A track on air as /now answers it."""
    return {
        "track_id": track_id,
        "title": title,
        "artist": "The Sparks",
        "start": start,
        "end": end,
        "entry_id": None,
        "playlist_id": "p-morning",
        "reason": "fill: loop Morning",
    }


@dataclass
class FakeChannels:
    revision: int = 1
    entries: dict[str, dict[str, Any]] = field(default_factory=default_entries)
    writes: list[tuple[str, str, str | None, Any]] = field(default_factory=list)
    # path -> status answered once to the next write there (e.g. 412)
    fail_next: dict[str, int] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)  # every GET, with its query
    created: int = 0
    name: str = "Radio One"
    deleted: bool = False

    def channel(self) -> dict[str, Any]:
        return {
            "id": "c1",
            "name": self.name,
            "timezone": ZONE,
            "fill": {"mode": "loop", "playlist_id": "p-morning"},
            "rules": {"track_minutes": 60, "artist_minutes": 30},
            "loudness_target": None,
            "created_at": "2026-11-01T10:00:00Z",
            "updated_at": "2026-11-30T10:00:00Z",
            "revision": self.revision,
            "urls": {"master": "/live/c1/master.m3u8"},
        }

    def occurrences(self, start: datetime, end: datetime, tz: str) -> list[dict[str, Any]]:
        zone, shown = ZoneInfo(ZONE), ZoneInfo(tz)
        found: list[dict[str, Any]] = []
        for entry in self.entries.values():
            first = datetime.fromisoformat(entry["start"])
            starts = [first]
            if entry["rrule"] and entry["rrule"].startswith("FREQ=DAILY"):
                starts = [first + timedelta(days=n) for n in range(60)]
            for wall in starts:
                if wall.isoformat() in entry["exdates"]:
                    continue
                begin = wall.replace(tzinfo=zone)
                finish = begin + timedelta(seconds=entry["duration_seconds"])
                if finish > start and begin < end:
                    found.append({"entry": entry, "begin": begin, "finish": finish})
        result = []
        for one in found:
            rivals = [
                other
                for other in found
                if other is not one
                and other["begin"] < one["finish"]
                and one["begin"] < other["finish"]
                and other["entry"]["priority"] > one["entry"]["priority"]
            ]
            result.append(
                {
                    "entry_id": one["entry"]["id"],
                    "playlist_id": one["entry"]["playlist_id"],
                    "start": one["begin"].astimezone(shown).isoformat(),
                    "end": one["finish"].astimezone(shown).isoformat(),
                    "priority": one["entry"]["priority"],
                    "wins": not rivals,
                    "conflicts_with": [other["entry"]["id"] for other in rivals],
                    "reason": "a higher priority entry overlaps" if rivals else "scheduled",
                }
            )
        return result

    def answer(
        self, method: str, path: str, query: dict[str, str], body: Any, if_match: str | None
    ) -> tuple[int, Any]:
        if path == "/auth/session":
            return 200, ED
        if path == "/playlists":
            return 200, {"items": PLAYLISTS, "total": len(PLAYLISTS), "limit": 500, "offset": 0}
        if path == "/channels":
            if method == "POST":
                self.writes.append((method, path, if_match, body))
                return 201, {**self.channel(), **body, "id": "c2", "revision": 1}
            items = [] if self.deleted else [self.channel()]
            return 200, {"items": items, "total": len(items), "limit": 50, "offset": 0}
        if path == "/channels/c1" and method == "DELETE":
            self.writes.append((method, path, if_match, body))
            if if_match != f'"{self.revision}"':
                return 412, {"title": "Precondition Failed", "status": 412}
            self.deleted = True
            return 204, None
        if path == "/channels/c1" and method == "PATCH":
            self.writes.append((method, path, if_match, body))
            if if_match != f'"{self.revision}"':
                return 412, {"title": "Precondition Failed", "status": 412}
            self.revision += 1
            self.name = body.get("name", self.name)
            return 200, self.channel()
        if path == "/channels/c1":
            return 200, self.channel()
        if path == "/channels/c1/entries" and method == "GET":
            return 200, list(self.entries.values())
        if path == "/channels/c1/occurrences":
            start = datetime.fromisoformat(query["from"])
            end = datetime.fromisoformat(query["to"])
            return 200, self.occurrences(start, end, query.get("tz", ZONE))
        if path == "/channels/c1/preview":
            shown = ZoneInfo(query.get("tz", ZONE))
            start = datetime.fromisoformat(query["from"]).astimezone(shown)
            rows = []
            for n, (title, artist) in enumerate(
                [("Aurora", "Nadia Ray"), ("Cascade", "Nadia Ray")]
            ):
                begin = start + timedelta(minutes=4 * n)
                rows.append(
                    {
                        "track_id": f"t{n}",
                        "title": title,
                        "artist": artist,
                        "start": begin.isoformat(),
                        "end": (begin + timedelta(minutes=4)).isoformat(),
                        "entry_id": "e-morning",
                        "playlist_id": "p-morning",
                        "reason": "entry Morning, track 1 of 3"
                        if n == 0
                        else "entry Morning, next in order",
                    }
                )
            return 200, rows
        if path == "/channels/c1/now":
            return 200, {
                "channel_id": "c1",
                "at": "2026-12-01T12:00:00Z",
                "track": play(
                    "t1", "Bright Lights", "2026-12-01T11:59:00Z", "2026-12-01T12:03:00Z"
                ),
                "started_at": "2026-12-01T11:59:00Z",
                "ends_at": "2026-12-01T12:03:00Z",
                "next": [play("t2", "Cascade", "2026-12-01T12:03:00Z", "2026-12-01T12:07:00Z")],
            }
        if path.startswith("/channels/c1/entries"):
            self.writes.append((method, path, if_match, body))
            if path in self.fail_next:
                status = self.fail_next.pop(path)
                self.revision += 1  # changed elsewhere meanwhile
                return status, {"title": "Precondition Failed", "status": status}
            if if_match != f'"{self.revision}"':
                return 412, {"title": "Precondition Failed", "status": 412}
            self.revision += 1
            if method == "POST":
                self.created += 1
                entry = {**body, "id": f"e-new{self.created}"}
                self.entries[entry["id"]] = entry
                return 201, entry
            entry_id = path.rsplit("/", 1)[1]
            if method == "DELETE":
                self.entries.pop(entry_id, None)
                return 204, None
            if body.pop("clear_rrule", False):
                body["rrule"] = None
            self.entries[entry_id] = {**self.entries[entry_id], **body}
            return 200, self.entries[entry_id]
        return 404, {"title": "Not Found", "status": 404}

    def handle(self, route: Route, request: Request) -> None:
        url = urlsplit(request.url)
        path = url.path.removeprefix("/api/v1")
        if path == "/events":
            route.fallback()  # the harness's stream that stays open
            return
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if request.method == "GET":
            self.asked.append(f"{path}?{url.query}")
        body = json.loads(request.post_data) if request.post_data else None
        status, answer = self.answer(
            request.method, path, query, body, request.headers.get("if-match")
        )
        headers = {"ETag": f'"{self.revision}"'} if path.startswith("/channels/c1") else {}
        if status == 204:
            route.fulfill(status=204, headers=headers)
            return
        kind = "application/json" if status < 400 else "application/problem+json"
        route.fulfill(status=status, headers=headers, content_type=kind, body=json.dumps(answer))

    def install(self, page: Page) -> None:
        page.route("**/api/v1/**", self.handle)
