"""The Grafana dashboards, as code: `python config/grafana/dashboards.py` writes them.

Built with grafana-foundation-sdk into config/grafana/dashboards/*.json (what operators
import or provision: config/grafana/provisioning/). `--check` exits 1 when the files differ
from what this builds (tests/unit/test_grafana_dashboards.py runs it), so the JSON never
drifts from the code. Every panel's query is run against a real Prometheus scraping a
real streamer in tests/integration/test_prometheus.py: no panel that can never show data.

Queries sum over instances for counters (each node counts its own requests) and take
``max`` for the figures every node reads from the shared database (jobs, uploads,
tracks, channels): adding them would count each once per node. docs/monitoring.md
explains each panel.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.builders.dashboard import Dashboard as DashboardBuilder
from grafana_foundation_sdk.builders.dashboard import DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as StatPanel
from grafana_foundation_sdk.builders.timeseries import Panel as TimeseriesPanel
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    stat: bool = False  # a single figure instead of a graph
    width: int = 8


@dataclass(frozen=True)
class Board:
    uid: str
    title: str
    description: str
    rows: tuple[tuple[str, tuple[Panel, ...]], ...]
    tags: tuple[str, ...] = field(default=("streamer",))


def q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


def _rate(metric: str, selector: str = "") -> str:
    return f"rate({metric}{{{selector}}}[{RATE}])" if selector else f"rate({metric}[{RATE}])"


REQUESTS = "streamer_http_requests_total"
DURATION = "streamer_http_request_duration_seconds_bucket"
CACHE_BYTES = "streamer_cache_served_bytes_total"

OVERVIEW = Board(
    uid="streamer-overview",
    title="Streamer: overview",
    description="Traffic, latency, errors, the segment cache, jobs, uploads and what the "
    "server depends on (docs/monitoring.md).",
    rows=(
        (
            "Traffic",
            (
                Panel(
                    "Requests per second by route",
                    "Every answer, by route template (never raw paths).",
                    (q(f"sum by (route) ({_rate(REQUESTS)})", "{{route}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Bytes sent per second by route",
                    "Response body bytes, sendfile included.",
                    (
                        q(
                            f"sum by (route) ({_rate('streamer_http_response_body_bytes_total')})",
                            "{{route}}",
                        ),
                    ),
                    unit="Bps",
                ),
                Panel(
                    "Range requests by outcome",
                    "Media requests: none, single, multi, unsatisfiable, ignored (If-Range).",
                    (q(f"sum by (kind) ({_rate('streamer_range_requests_total')})", "{{kind}}"),),
                    unit="reqps",
                ),
                Panel(
                    "Requests in flight",
                    "Requests being answered now, all workers of all nodes.",
                    (q("sum(streamer_http_requests_in_flight)", "in flight"),),
                    stat=True,
                    width=6,
                ),
            ),
        ),
        (
            "Latency and errors",
            (
                Panel(
                    "p99 latency by route",
                    "Time from request to the last body byte, 99th percentile.",
                    (
                        q(
                            f"histogram_quantile(0.99, sum by (route, le) ({_rate(DURATION)}))",
                            "{{route}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "p50 latency by route",
                    "The median of the same.",
                    (
                        q(
                            f"histogram_quantile(0.5, sum by (route, le) ({_rate(DURATION)}))",
                            "{{route}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Client and server errors by status",
                    "4xx and 5xx answers per second (4xx are mostly clients; 5xx are ours).",
                    (
                        q(
                            "sum by (status) (" + _rate(REQUESTS, 'status=~"[45].."') + ")",
                            "{{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Server error ratio",
                    "Share of answers that are 5xx (alert StreamerHighErrorRate over 1 %).",
                    (
                        q(
                            "(sum(" + _rate(REQUESTS, 'status=~"5.."') + ") or vector(0))"
                            f" / sum({_rate(REQUESTS)})",
                            "5xx ratio",
                        ),
                    ),
                    unit="percentunit",
                    stat=True,
                    width=6,
                ),
            ),
        ),
        (
            "Segment cache",
            (
                Panel(
                    "Cache hit ratio (bytes)",
                    "Bytes served from memory or Redis out of all segment bytes served "
                    "(alert StreamerCacheHitRatioLow under 90 %).",
                    (
                        q(
                            "(sum(" + _rate(CACHE_BYTES, 'tier=~"memory|redis"') + ") or vector(0))"
                            f" / sum({_rate(CACHE_BYTES)})",
                            "hit ratio",
                        ),
                    ),
                    unit="percentunit",
                    stat=True,
                    width=6,
                ),
                Panel(
                    "Bytes served by tier",
                    "Segment bytes from memory, Redis and storage.",
                    (q(f"sum by (tier) ({_rate(CACHE_BYTES)})", "{{tier}}"),),
                    unit="Bps",
                ),
                Panel(
                    "Cache events by tier",
                    "Hits, misses, evictions and errors of each tier.",
                    (
                        q(
                            f"sum by (tier, event) ({_rate('streamer_cache_events_total')})",
                            "{{tier}} {{event}}",
                        ),
                    ),
                    unit="ops",
                ),
                Panel(
                    "Cache fills",
                    "Storage reads, requests that waited on another's read (coalesced), "
                    "and waits on another node's fill lease.",
                    (q(f"sum by (kind) ({_rate('streamer_cache_fills_total')})", "{{kind}}"),),
                    unit="ops",
                ),
                Panel(
                    "Memory held by the segment caches",
                    "In-process cache bytes, all workers.",
                    (q("sum by (instance) (streamer_cache_memory_bytes)", "{{instance}}"),),
                    unit="bytes",
                ),
            ),
        ),
        (
            "Jobs and uploads",
            (
                Panel(
                    "Jobs waiting and running",
                    "Queued and running jobs by kind (from the database: every runner).",
                    (
                        q(
                            'max by (kind, status) (streamer_jobs{status=~"queued|running"})',
                            "{{kind}} {{status}}",
                        ),
                    ),
                ),
                Panel(
                    "Jobs finished",
                    "Jobs that succeeded, failed or were cancelled, as kept in the database "
                    "(cleanup prunes old ones).",
                    (
                        q(
                            'max by (status) (streamer_jobs{status=~"succeeded|failed|cancelled"})',
                            "{{status}}",
                        ),
                    ),
                ),
                Panel(
                    "Oldest due job",
                    "How long the oldest queued job has been due (alert StreamerJobQueueStuck).",
                    (q("max(streamer_jobs_oldest_due_seconds)", "oldest"),),
                    unit="s",
                    stat=True,
                    width=6,
                ),
                Panel(
                    "Uploads by status",
                    "tus uploads: receiving, completed, failed, terminated, expired.",
                    (q("max by (status) (streamer_uploads)", "{{status}}"),),
                ),
                Panel(
                    "Upload requests by status",
                    "Answers on /api/v1/uploads (alert StreamerUploadErrors under 99.9 %).",
                    (
                        q(
                            "sum by (status) ("
                            + _rate(REQUESTS, 'route=~"/api/v1/uploads.*"')
                            + ")",
                            "{{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
            ),
        ),
        (
            "Dependencies and storage",
            (
                Panel(
                    "Dependencies up",
                    "1 when the database, each library's storage and Redis answered the "
                    "last check of each node.",
                    (
                        q(
                            "min by (dependency, target) (streamer_dependency_up)",
                            "{{dependency}} {{target}}",
                        ),
                    ),
                ),
                Panel(
                    "Dependency check time",
                    "How long each check took (the database's is a round trip).",
                    (
                        q(
                            "max by (dependency, target) (streamer_dependency_check_seconds)",
                            "{{dependency}} {{target}}",
                        ),
                    ),
                    unit="s",
                ),
                Panel(
                    "Free disk space",
                    "Share free on the file systems of the data folder and local libraries "
                    "(alert StreamerDiskFilling).",
                    (
                        q(
                            "min by (instance, path) "
                            "(streamer_disk_free_bytes / streamer_disk_size_bytes)",
                            "{{instance}} {{path}}",
                        ),
                    ),
                    unit="percentunit",
                ),
                Panel(
                    "Tracks by status",
                    "The catalogue: playable (ok) and unreadable tracks.",
                    (q("max by (status) (streamer_tracks)", "{{status}}"),),
                ),
            ),
        ),
        (
            "Processes",
            (
                Panel(
                    "Resident memory by process",
                    "The supervisor and each worker of every node (alert "
                    "StreamerWorkerMemoryHigh); a line that only climbs is a leak.",
                    (
                        q(
                            "max by (instance, role, pid) (streamer_process_resident_memory_bytes)",
                            "{{instance}} {{role}} {{pid}}",
                        ),
                    ),
                    unit="bytes",
                    width=12,
                ),
                Panel(
                    "CPU by process",
                    "Cores used by the supervisor and each worker.",
                    (
                        q(
                            "sum by (instance, role, pid) "
                            f"({_rate('streamer_process_cpu_seconds_total')})",
                            "{{instance}} {{role}} {{pid}}",
                        ),
                    ),
                    unit="short",
                    width=12,
                ),
            ),
        ),
    ),
)

AUDIENCE = Board(
    uid="streamer-audience",
    title="Streamer: audience, channels and ads",
    description="Listeners, delivery events for analytics, live channels, ad sessions, "
    "Subsonic players and live events (docs/monitoring.md).",
    rows=(
        (
            "Listeners",
            (
                Panel(
                    "Listeners now",
                    "Distinct listeners in the last minute (the cluster's through Redis, "
                    "else the answering worker's).",
                    (q("max by (scope) (streamer_listeners_now)", "{{scope}}"),),
                    stat=True,
                    width=6,
                ),
                Panel(
                    "Delivery events",
                    "Analytics events written, dropped (buffer full) or failed.",
                    (
                        q(
                            f"sum by (outcome) ({_rate('streamer_analytics_events_total')})",
                            "{{outcome}}",
                        ),
                    ),
                    unit="ops",
                ),
            ),
        ),
        (
            "Channels, ads and players",
            (
                Panel(
                    "Channels",
                    "Radio channels configured.",
                    (q("max(streamer_channels)", "channels"),),
                    stat=True,
                    width=6,
                ),
                Panel(
                    "Live channel requests by route",
                    "Playlists and segments of /live/{channel}.",
                    (
                        q(
                            "sum by (route) (" + _rate(REQUESTS, 'route=~"/live/.*"') + ")",
                            "{{route}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Ad-insertion requests by route",
                    "Personalised playlists and ad segments of /hls/ads.",
                    (
                        q(
                            "sum by (route) (" + _rate(REQUESTS, 'route=~"/hls/ads/.*"') + ")",
                            "{{route}}",
                        ),
                    ),
                    unit="reqps",
                ),
                Panel(
                    "Subsonic requests by status",
                    "OpenSubsonic players on /rest.",
                    (
                        q(
                            "sum by (status) (" + _rate(REQUESTS, 'route=~"/rest/.*"') + ")",
                            "{{status}}",
                        ),
                    ),
                    unit="reqps",
                ),
            ),
        ),
        (
            "Live events",
            (
                Panel(
                    "Events published by type",
                    "Live events (GET /api/v1/events) published by the API.",
                    (q(f"sum by (type) ({_rate('streamer_events_published_total')})", "{{type}}"),),
                    unit="ops",
                ),
                Panel(
                    "Open event streams",
                    "Admin pages and clients following live events.",
                    (q("sum(streamer_event_streams)", "streams"),),
                    stat=True,
                    width=6,
                ),
            ),
        ),
    ),
)

BOARDS = (OVERVIEW, AUDIENCE)


def _panel(panel: Panel) -> TimeseriesPanel | StatPanel:
    built: TimeseriesPanel | StatPanel
    if panel.stat:
        built = StatPanel().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]))
    else:
        built = (
            TimeseriesPanel()
            .legend(
                VizLegendOptions()
                .display_mode(LegendDisplayMode.TABLE)
                .placement(LegendPlacement.BOTTOM)
                .show_legend(True)
                .calcs(["mean", "max", "lastNotNull"])
            )
            .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING))
        )
    built = (
        built.title(panel.title)
        .description(panel.description)
        .datasource(DATASOURCE)
        .unit(panel.unit)
        .span(panel.width)
        .height(8)
    )
    for index, query in enumerate(panel.queries):
        target = Dataquery().expr(query.expr).ref_id(chr(ord("A") + index))
        if query.legend:
            target = target.legend_format(query.legend)
        built = built.with_target(target)
    return built


def build(board: Board) -> str:
    dashboard = (
        DashboardBuilder(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(list(board.tags))
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for title, panels in board.rows:
        dashboard = dashboard.with_row(Row(title))
        for panel in panels:
            dashboard = dashboard.with_panel(_panel(panel))
    return JSONEncoder(sort_keys=True, indent=2).encode(dashboard.build()) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for board in BOARDS:
        path = OUT / f"{board.uid}.json"
        text = build(board)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(
            f"stale: {', '.join(stale)}; run: python config/grafana/dashboards.py",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
