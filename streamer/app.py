"""create_app(settings) builds the ASGI application; nothing here is global.

Requests for /media/, /hls/ and /live/ go straight to the lean media and HLS endpoints (plain ASGI,
sharing one range machinery); everything else goes through
a Starlette router (health, metrics, the FastAPI admin API). One observability middleware
wraps both.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from streamer.access_log import AccessLog
from streamer.admin.site import AdminSite
from streamer.ads.sessions import AdSessions
from streamer.analytics.capture import DeliveryCapture
from streamer.analytics.iab_counter import load_counter
from streamer.analytics.realtime_share import Realtime
from streamer.analytics.rows import Row
from streamer.analytics.tasks import AnalyticsTask
from streamer.auth.authenticate import Authenticator
from streamer.auth.login_rule import Backoff
from streamer.auth.ratelimit import RateLimits, limit_storage
from streamer.auth.sessions import SessionPolicy
from streamer.cache.metrics import CacheMetrics, make_segment_cache
from streamer.cache.purge import Purge, PurgeBus
from streamer.catalogue.scan_tasks import ScanTasks
from streamer.channels.announce import Announcer
from streamer.channels.live_window import LiveStreams
from streamer.channels.service import ChannelService
from streamer.db import Database
from streamer.error_groups import ErrorGroupHandler, ErrorGroups
from streamer.error_tracking import start_error_tracking
from streamer.events import EventHub
from streamer.events.metrics import EventMetrics
from streamer.ffmpeg_check import find_ffmpeg
from streamer.logs import configure_logging
from streamer.metrics import Metrics
from streamer.observe import ObserveMiddleware
from streamer.playlists.streams import PlaylistStreams
from streamer.recent_errors import RecentErrors
from streamer.renditions.catalog import RenditionCatalog
from streamer.renditions.on_demand import OnDemandTranscodes
from streamer.request_limits import request_limits
from streamer.request_stats import RequestStats
from streamer.routes.api import create_api
from streamer.routes.api_cors import with_api_cors
from streamer.routes.body_limit import BodyLimit
from streamer.routes.conversions import conversion_pixel
from streamer.routes.health import healthz, metrics_endpoint, readyz
from streamer.routes.hls import HlsEndpoint
from streamer.routes.hls_ads import AdHlsEndpoint
from streamer.routes.hls_playlists import PlaylistHlsEndpoint
from streamer.routes.live import LiveEndpoint
from streamer.routes.media import MediaConfig, MediaEndpoint
from streamer.routes.media_files import ObjectStates
from streamer.routes.media_index import MediaIndex
from streamer.routes.problems import problem_body
from streamer.routes.subsonic import SubsonicEndpoint
from streamer.settings import Settings
from streamer.state_metrics import StateProbe
from streamer.storage.registry import StoreRegistry
from streamer.subsonic.call import Services
from streamer.subsonic.catalog import Catalog
from streamer.subsonic.listening import Listening
from streamer.types import (
    ANSWER_NOW_STATE,
    REQUEST_LIMITS_STATE,
    SEND_BUFFER_CONNECTIONS_STATE,
    SEND_BUFFER_STATE,
    SHUTDOWN_STATE,
    ASGIApp,
    Receive,
    Reply,
    Scope,
    Send,
)
from streamer.uploads.recovery import UploadRecovery

SETTINGS_ENV = "STREAMER__SETTINGS_JSON"


class StreamerApp:
    """The whole server as one ASGI callable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.freeze_gc = False  # worker processes freeze start-up objects (see below)
        self.metrics = Metrics()
        self.stats = RequestStats(self.metrics)
        self.errors = RecentErrors(self.metrics.multiprocess_dir)
        self.stats.add_flusher(self.errors.flush)
        self.error_groups = ErrorGroups(self.metrics.multiprocess_dir)
        self.stats.add_flusher(self.error_groups.flush)
        self._error_handler = ErrorGroupHandler(self.error_groups)
        self.db = Database(settings.effective_database_url)
        self.stores = StoreRegistry(settings)
        self.index = MediaIndex(self.db)
        self.states = ObjectStates(
            valid_seconds=settings.open_file_valid_seconds,
            max_entries=settings.open_file_cache_size,
        )
        self.renditions = RenditionCatalog(self.db, self.stores.get)
        self.segments = make_segment_cache(settings)
        self.purges = PurgeBus(
            self.segments, redis_url=settings.redis_url, on_purge=self._forget_track
        )
        self.stats.add_flusher(CacheMetrics(self.segments.stats, self.metrics, self.segments).flush)
        self.media = MediaEndpoint(
            MediaConfig.from_settings(settings),
            self.index,
            self.states,
            self.stores.get,
            self.stats,
            self.renditions,
            self.segments,
            store_now=self.stores.peek,
        )
        self.hls = HlsEndpoint(self.renditions, self.media, prefetch=settings.prefetch_segments)
        playlist_streams = PlaylistStreams(self.db, self.renditions)
        self.hls_playlists = PlaylistHlsEndpoint(playlist_streams, self.media)
        self.hls_ads = AdHlsEndpoint(
            AdSessions(self.db, self.renditions, target=settings.ads_loudness_target),
            self.renditions,
            playlist_streams,
            self.media,
            trust_country_header=settings.analytics_trust_country_header,
        )
        # Channels: the clock is an attribute of the service so tests can fix "now".
        self.channels = ChannelService(self.db, self.renditions)
        self.live = LiveEndpoint(LiveStreams(self.channels, self.renditions), self.media)
        self.auth = make_authenticator(settings, self.db)
        on_demand = OnDemandTranscodes(
            concurrency=settings.on_demand_transcodes,
            wait=settings.on_demand_wait_seconds,
            work_dir=settings.data_dir / "work",
            ffmpeg=settings.ffmpeg_path,
        )
        services = Services(self.db, Catalog(self.db), Listening(self.db), on_demand.enabled)
        self.subsonic = SubsonicEndpoint(self.auth, services, self.media, on_demand)
        self.events = make_event_hub(settings, self.db)
        self.upload_recovery = UploadRecovery(self.db, self.stores, settings, self.events.publisher)
        self.stats.add_flusher(EventMetrics(self.events, self.metrics).flush)
        self.announcer = Announcer(self.channels, self.events.publisher)
        api = create_api()
        api.state.auth = self.auth
        api.state.db = self.db
        api.state.ad_sessions = self.hls_ads.sessions
        api.state.settings = settings
        api.state.stores = self.stores
        api.state.events = self.events
        api.state.channels = self.channels
        api.state.scans = self.scans = ScanTasks(
            self.db, self.stores, settings, events=self.events.publisher
        )
        api.state.metrics = self.metrics
        api.state.purges = self.purges
        api.state.stats = self.stats
        api.state.recent_errors = self.errors
        api.state.error_groups = self.error_groups
        self.analytics = AnalyticsTask(self.db, settings, load_counter)
        api.state.realtime = self.realtime = Realtime(
            window_minutes=settings.analytics_realtime_minutes, redis_url=settings.redis_url
        )
        api_app = with_api_cors(
            BodyLimit(api, settings.api_max_body_bytes, exempt=("/uploads",)),
            settings.api_cors_allow_origins,
            settings.cors_max_age,
        )
        routes = [
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/conversions/pixel.gif", conversion_pixel, methods=["GET"]),
            Mount("/api/v1", app=api_app),
        ]
        if settings.metrics_enabled:
            routes.append(Route("/metrics", metrics_endpoint(settings.metrics_token)))
        self.router = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _problem_for_http_exception},
        )
        self.router.state.db = self.db
        self.router.state.stores = self.stores
        self.router.state.metrics = self.metrics
        self.router.state.stats = self.stats
        self.router.state.state_probe = StateProbe(
            self.db,
            self.stores,
            data_dir=settings.data_dir,
            redis=self.segments.redis,
            realtime=self.realtime,
        )
        self.admin = AdminSite()
        self.access_log = AccessLog() if settings.access_log else None
        # Delivery events for analytics: a per-worker buffer, written off the loop.
        self.capture: DeliveryCapture | None = None
        if settings.analytics_enabled:
            self.capture = DeliveryCapture.from_settings(settings, self.metrics)
            self.stats.add_flusher(self.capture.publish)
        self.observe = ObserveMiddleware(
            self._dispatch,
            self.stats,
            self.access_log,
            self.errors,
            recorder=self.capture.record if self.capture is not None else None,
            groups=self.error_groups,
        )
        self.app: ASGIApp = self.observe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/media/"):
            await self.media(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/hls/playlists/"):
            # Before the track routes: "playlists" is not a track id.
            await self.hls_playlists(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/hls/ads/"):
            await self.hls_ads(scope, receive, send)  # nor is "ads"
        elif scope["type"] == "http" and scope["path"].startswith("/hls/"):
            await self.hls(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/live/"):
            await self.live(scope, receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/rest/"):
            await self.subsonic(scope, receive, send)
        elif scope["type"] == "http" and (
            scope["path"] == "/admin" or scope["path"].startswith("/admin/")
        ):
            await self.admin(scope, receive, send)
        else:
            await self.router(scope, receive, send)

    def answer_now(self, scope: Scope) -> Reply | None:
        """An immediate answer (streamer.serving), observed like any request, or None."""
        path = scope["path"]
        if path.startswith("/media/"):
            return self.observe.answer_now(scope, self.media.answer_now)
        if path.startswith("/hls/ads/"):
            return self.observe.answer_now(scope, self.hls_ads.answer_now)
        if path.startswith("/hls/") and not path.startswith("/hls/playlists/"):
            return self.observe.answer_now(scope, self.hls.answer_now)
        if path.startswith("/live/"):
            return self.observe.answer_now(scope, self.live.answer_now)
        return None

    def _forget_track(self, purge: Purge) -> None:
        self.renditions.invalidate(purge.track_id)
        self.index.invalidate(purge.track_id)

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[dict[str, Any]]:
        logging.getLogger().addHandler(self._error_handler)
        start_error_tracking(self.settings, process="serve")
        # Refuses an unsupported ffmpeg before anything starts (the CLI has said why).
        ffmpeg = await asyncio.to_thread(find_ffmpeg, self.settings.ffmpeg_path)
        self.router.state.ffmpeg = ffmpeg
        self.metrics.ffmpeg_info.labels(version=ffmpeg.version, path=ffmpeg.path).set(1)
        self.purges.start()
        self.upload_recovery.start()
        self.events.start()
        self.realtime.start()
        self.analytics.start()
        if self.capture is not None:
            # Stored rows feed the realtime listeners, back on this loop.
            loop = asyncio.get_running_loop()
            realtime = self.realtime

            def heard(rows: list[Row]) -> None:
                loop.call_soon_threadsafe(realtime.note_all, realtime.heard(rows))

            self.capture.writer.on_written = heard
            self.capture.start()
        self.announcer.start()
        try:
            # Lifespan state reaches the server's protocol too (streamer.serving).
            state: dict[str, Any] = {
                SEND_BUFFER_STATE: self.settings.socket_send_buffer,
                SEND_BUFFER_CONNECTIONS_STATE: self.settings.socket_send_buffer_connections,
                SHUTDOWN_STATE: asyncio.Event(),
                REQUEST_LIMITS_STATE: request_limits(self.settings),
            }
            if self.settings.immediate_answers:
                state[ANSWER_NOW_STATE] = self.answer_now
            if self.freeze_gc:
                freeze_startup_objects()
            yield state
        finally:
            if self.access_log is not None:
                self.access_log.flush()
            if self.capture is not None:
                await self.capture.close()  # writes what is buffered
            self.stats.flush()
            await self.scans.close()
            await self.announcer.close()
            await self.events.close()
            await self.realtime.close()
            await self.analytics.close()
            await self.auth.limits.close()
            await self.purges.close()
            await self.upload_recovery.close()
            await self.media.close()
            self.states.close()
            await self.segments.close()
            await self.stores.close()
            await self.db.dispose()
            logging.getLogger().removeHandler(self._error_handler)


async def _problem_for_http_exception(_request: Request, exc: Exception) -> Response:
    """Unrouted paths and wrong methods answer in problem+json like everything else."""
    assert isinstance(exc, HTTPException)
    return Response(
        problem_body(exc.status_code, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
        media_type="application/problem+json",
    )


def make_authenticator(settings: Settings, db: Database) -> Authenticator:
    storage, pool = limit_storage(settings.redis_url, settings.data_dir)
    limits = RateLimits(
        storage,
        pool=pool,
        api=settings.rate_limit_api,
        ip=settings.rate_limit_ip,
        login=settings.rate_limit_login,
        login_failures=settings.rate_limit_login_failures,
        backoff=Backoff(
            after=settings.login_backoff_after,
            max_seconds=settings.login_backoff_max_seconds,
            window=settings.login_backoff_window_seconds,
            known_days=settings.login_known_address_days,
        ),
    )
    policy = SessionPolicy(
        idle=timedelta(seconds=settings.session_idle_seconds),
        absolute=timedelta(seconds=settings.session_max_seconds),
    )
    return Authenticator(db, policy, limits)


def make_event_hub(settings: Settings, db: Database) -> EventHub:
    return EventHub(
        db,
        poll_seconds=settings.events_poll_seconds,
        max_age_seconds=settings.events_max_age_seconds,
        max_count=settings.events_max_count,
        prune_seconds=settings.events_prune_seconds,
        redis_url=settings.redis_url,
    )


def create_app(settings: Settings) -> StreamerApp:
    """Build the application for ``settings`` (the database must already be migrated)."""
    return StreamerApp(settings)


def app_from_environment() -> StreamerApp:
    """uvicorn factory for worker processes: the CLI passes its settings as JSON."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = Settings.model_validate(json.loads(raw)) if raw else Settings.load(os.environ)
    configure_logging(settings.log_level)
    app = create_app(settings)
    app.freeze_gc = True  # a worker process of its own: nothing else shares its heap
    return app


def freeze_startup_objects() -> None:
    """Move what start-up made (modules, routes, settings: several hundred thousand
    objects) out of the cyclic collector's sight. Without this, every full collection
    walks them all, pausing the loop for tens of milliseconds under 1,000 connections;
    they live as long as the process anyway. Reference counting still frees them."""
    gc.collect()
    gc.freeze()
