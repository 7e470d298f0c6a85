"""Typed settings, read once at start-up and passed in.

Sources, lowest precedence first: defaults, a TOML file (``--config`` or ``STREAMER_CONFIG``),
``STREAMER_*`` environment variables, then explicit overrides (command-line flags). Nothing
else in the code reads ``os.environ``: :meth:`Settings.load` takes the environment as an
argument so tests can pass a dict.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from streamer.errors import SettingsError
from transcoder.ladder import Rendition, parse_ladder

ENV_PREFIX = "STREAMER_"


class Settings(BaseModel):
    """Every knob of the server. Frozen: build a new one with ``model_copy(update=...)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_dir: Path = Path(".data")
    libraries: tuple[str, ...] = ()
    database_url: str | None = None

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)

    # Kernel send buffer per connection (SO_SNDBUF; Linux doubles it); 0 = autotuning.
    # Fixed for the first socket_send_buffer_connections connections of a worker, so that
    # a few fast clients get their bulk at full speed; those beyond keep the kernel's
    # autotuning, so that a crowd of slow listeners does not lock up the kernel's TCP
    # memory (10,000 x 512 KB is over net.ipv4.tcp_mem: docs/performance.md).
    socket_send_buffer: int = Field(256 * 1024, ge=0, le=64 * 1024 * 1024)
    socket_send_buffer_connections: int = Field(256, ge=0, le=1_000_000)
    # Bounded requests, per worker (streamer.serving; docs/http.md). Like nginx's
    # large_client_header_buffers: a request target over request_line_max gets 414; one
    # header field (name and value), the header block or the field count over its limit
    # gets 431. A head must arrive within client_header_timeout of its first byte (or of
    # the connection's start) and a body may pause at most client_body_timeout: else 408
    # and close. Connections over max_connections_per_worker get 503 at once (0: no cap).
    request_line_max: int = Field(8 * 1024, ge=256, le=1024 * 1024)
    request_header_field_max: int = Field(8 * 1024, ge=256, le=1024 * 1024)
    request_headers_max: int = Field(32 * 1024, ge=1024, le=4 * 1024 * 1024)
    request_header_count_max: int = Field(100, ge=8, le=10_000)
    client_header_timeout: float = Field(30.0, ge=0.5, le=3600.0)
    client_body_timeout: float = Field(60.0, ge=0.5, le=3600.0)
    # The largest JSON body the API reads (413 past it; tus uploads have upload_max_bytes).
    api_max_body_bytes: int = Field(1024 * 1024, ge=1024, le=1024**3)
    max_connections_per_worker: int = Field(8192, ge=0, le=1_000_000)
    # Trust X-Forwarded-For/-Proto from these addresses (a CDN or shield in front);
    # empty: no proxy headers are read, which also keeps the hot path shorter.
    forwarded_allow_ips: tuple[str, ...] = ()

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True

    # Media responses.
    media_cache_control: str = "max-age=86400"
    cors_allow_origins: tuple[str, ...] = ("*",)
    cors_max_age: int = Field(86400, ge=0)
    # The admin API (/api/v1, tus uploads included) for pages served from other origins:
    # empty, the default, answers no cross-origin request (the web admin is same-origin).
    # Such clients authenticate with API keys: credentials (cookies) are never allowed
    # cross-origin, so a listed origin cannot ride an admin's session.
    api_cors_allow_origins: tuple[str, ...] = ()
    max_ranges: int = Field(16, ge=1, le=1000)
    # Largest read per step when streaming. Slow readers get smaller steps (16 KB), and
    # the streams of one worker share stream_buffer_budget: a stalled reader holds about
    # one step, so this bounds a worker's memory whatever the number of listeners.
    chunk_size: int = Field(256 * 1024, ge=16 * 1024, le=16 * 1024 * 1024)
    stream_buffer_budget: int = Field(8 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    # Largest body read on the event loop from a local file (page cache, as nginx does).
    inline_read_max: int = Field(256 * 1024, ge=0, le=4 * 1024 * 1024)
    # How long a cached open file descriptor is trusted before its stat is checked again.
    open_file_valid_seconds: float = Field(1.0, ge=0.0, le=3600.0)
    open_file_cache_size: int = Field(1024, ge=0, le=100_000)
    # Answer a media request whose track, file state and bytes are all in memory or the
    # page cache at once, in the server's protocol, without an ASGI task (streamer.serving).
    immediate_answers: bool = True

    # Catalogue. Folders the API may add as libraries must lie inside one of these
    # (admins cannot publish /etc by mistake); libraries given on the command line and
    # s3:// libraries need no entry.
    library_parents: tuple[str, ...] = ()
    scan_concurrency: int = Field(8, ge=1, le=256)
    scan_on_start: bool = True
    # Libraries that notice changes (streamer/catalogue/watch.py): `serve` scans a local
    # library when its files change (events grouped for watch_debounce_ms), and lists
    # s3:// libraries again every rescan_seconds (0: never; scans through the API still).
    watch_libraries: bool = True
    watch_debounce_ms: int = Field(1000, ge=50, le=60_000)
    rescan_seconds: float = Field(900.0, ge=0.0, le=7 * 86400.0)
    # After the start-up scan, queue a transcode job for every track without renditions
    # of the current ladder.
    transcode_on_start: bool = True
    # `serve` runs queued jobs in its supervisor process (the embedded default); turn it
    # off when `streamer worker` processes run them instead.
    jobs_in_process: bool = True
    # How jobs travel: "memory" runs them in the process that dispatches them; "redis"
    # sends them over a Redis stream (redis_url) to any `streamer worker` (or serve).
    job_broker: Literal["memory", "redis"] = "memory"

    # Transcoding. The ladder names renditions "aac_<kbit/s>", "opus_<kbit/s>" or "flac";
    # changing it (or segment_seconds) re-transcodes tracks as their jobs run.
    ladder: tuple[str, ...] = ("aac_64", "aac_128", "aac_256")
    segment_seconds: float = Field(6.0, ge=1.0, le=30.0)
    # Optional loudness normalisation to this integrated loudness (LUFS, e.g. -16 for
    # streaming): measured in a first pass, then one linear gain (no compression), held
    # back where it would lift the true peak over -1 dBTP. None keeps levels as they are.
    loudness_target: float | None = Field(None, ge=-40.0, le=-5.0)
    # The loudness every ad creative must reach (LUFS, within 1 LU after the player's gain):
    # the programme's, so an ad is never louder than what it interrupts (docs/ads.md).
    ads_loudness_target: float = Field(-16.0, ge=-40.0, le=-5.0)
    # Listeners' ad sessions are kept this long (`streamer cleanup` removes older ones).
    ads_session_days: int = Field(100, ge=1, le=3650)
    # The ffmpeg binary (a path, or a name looked up on PATH). None: ffmpeg on PATH, else
    # imageio-ffmpeg's static build. Start-up refuses releases older than 5.1 and logs the
    # version (docs/transcoding.md).
    ffmpeg_path: str | None = None
    # Transcodes made as they are sent (the Subsonic API's stream with format or
    # maxBitRate): how many run at once in this process (0: always send originals), and
    # how long a request waits for one of them before it is answered 503.
    on_demand_transcodes: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0, le=64)
    on_demand_wait_seconds: float = Field(10.0, ge=0.0, le=300.0)
    # Jobs: how many run at once in this process, how often a failing one is tried (with
    # exponential backoff from job_retry_seconds), and how quickly queued work, cancel
    # requests and progress are noticed.
    job_concurrency: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=64)
    job_max_attempts: int = Field(3, ge=1, le=20)
    job_retry_seconds: float = Field(10.0, ge=0.0, le=3600.0)
    job_poll_seconds: float = Field(0.5, ge=0.05, le=30.0)
    # A running job whose heartbeat is older than this is taken to have lost its worker.
    job_stale_seconds: float = Field(60.0, ge=5.0, le=3600.0)

    # Segment cache (HLS init and segments): an in-process LRU of this many bytes per
    # worker, then Redis when redis_url is set, then storage. Entries larger than
    # cache_max_entry_bytes skip the memory tier. Redis calls slower than redis_timeout
    # are abandoned (served from storage, counted) and Redis is left alone for
    # redis_retry_seconds. Size the Redis with maxmemory and allkeys-lru.
    redis_url: str | None = None
    segment_cache_bytes: int = Field(64 * 1024 * 1024, ge=0, le=64 * 1024**3)
    cache_max_entry_bytes: int = Field(4 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    redis_cache_ttl: float = Field(86400.0, ge=1.0, le=30 * 86400.0)
    redis_timeout: float = Field(0.05, ge=0.001, le=10.0)
    redis_retry_seconds: float = Field(1.0, ge=0.0, le=300.0)
    # On a request for segment n, warm the cache with segments n+1..n+k in the background.
    prefetch_segments: int = Field(2, ge=0, le=16)
    # After a transcode, put each rendition's init section and first segments in Redis.
    warm_segments: int = Field(2, ge=0, le=16)

    # S3 (used when a library is s3://bucket/prefix).
    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    # How long a request to S3 may wait: to connect, for each read, and how many attempts
    # (the first included) before storage counts as unreachable (503 with Retry-After).
    # With an endpoint that drops packets, a miss waits up to about
    # s3_max_attempts * (s3_connect_timeout + s3_read_timeout).
    s3_connect_timeout: float = Field(5.0, gt=0.0, le=300.0)
    s3_read_timeout: float = Field(30.0, gt=0.0, le=3600.0)
    s3_max_attempts: int = Field(3, ge=1, le=10)

    # Uploads (tus, /api/v1/uploads): the largest upload accepted (413 beyond), and how
    # long an unfinished upload is kept after its last PATCH before expire_uploads may
    # delete its partial data.
    upload_max_bytes: int = Field(2 * 1024**3, ge=1, le=1024**4)
    upload_expiry_seconds: int = Field(24 * 3600, ge=60, le=30 * 86400)
    # How often each server process completes whole uploads whose own completion failed
    # (storage down) or was cut short (a crash): streamer/uploads/recovery.py.
    upload_retry_seconds: float = Field(60.0, ge=0.1, le=86400)
    # Where partial uploads are staged. "local": one file per upload under
    # data_dir/uploads, on the node that took the request (with several nodes, route an
    # upload's requests to one node or share that directory). An object store URL
    # ("s3://bucket/prefix" with the s3_* settings, or "file:///shared/dir"): each PATCH
    # becomes an object of its own there, so any node can take any request.
    upload_staging: str = "local"

    # Live events (GET /api/v1/events, streamer/events). Publishers write an events table;
    # each worker reads new rows every events_poll_seconds (at once for its own, and on a
    # Redis nudge when redis_url is set) and streams them. Rows older than
    # events_max_age_seconds, or beyond the newest events_max_count, are pruned every
    # events_prune_seconds: a client reconnecting from further back is told to reload
    # ("reset"). Idle streams get a comment every events_heartbeat_seconds, when the
    # caller's credentials are also checked again.
    events_poll_seconds: float = Field(0.5, ge=0.05, le=30.0)
    events_heartbeat_seconds: float = Field(15.0, ge=0.1, le=300.0)
    events_retry_seconds: float = Field(3.0, ge=0.1, le=300.0)
    events_max_age_seconds: int = Field(3600, ge=1, le=30 * 86400)
    events_max_count: int = Field(10_000, ge=10, le=10_000_000)
    events_prune_seconds: float = Field(60.0, ge=0.1, le=86400.0)

    # Listener analytics (docs/analytics.md). Every media and HLS answer becomes a row of
    # delivery_events: each worker appends to a buffer of analytics_buffer_size events
    # (full: dropped and counted, never waiting) written in batches every
    # analytics_flush_seconds off the event loop. Raw addresses are cleared after 24 hours
    # (a daily-salted hash stays); events older than analytics_retention_days are deleted.
    # Countries come from the CDN's CF-IPCountry / CloudFront-Viewer-Country header when
    # analytics_trust_country_header is on (only behind a CDN that sets it: clients could
    # send it themselves), else from a GeoLite2 Country/City .mmdb at analytics_geoip_path.
    # node_name names this node in the events (default: the host name).
    # With analytics_spool_dir set, workers write their batches there as files instead of
    # inserting them, and `streamer serve` inserts them from its own process (the
    # supervisor), so that the inserts take no time from the serving workers. `serve` sets
    # it to DATA_DIR/analytics-spool when it runs more than one worker; the spool holds at
    # most analytics_spool_max_bytes (past it, batches are dropped and counted). The
    # inserting thread runs analytics_spool_nice steps below the workers: on a busy
    # machine listeners come first, the spool grows and is inserted once there is room,
    # and the rollups wait for it.
    analytics_enabled: bool = True
    analytics_spool_dir: Path | None = None
    analytics_spool_max_bytes: int = Field(1 << 30, ge=1 << 20, le=1 << 40)
    analytics_spool_nice: int = Field(10, ge=0, le=19)
    analytics_retention_days: int = Field(90, ge=1, le=3650)
    analytics_trust_country_header: bool = False
    analytics_geoip_path: Path | None = None
    analytics_buffer_size: int = Field(100_000, ge=100, le=10_000_000)
    analytics_flush_seconds: float = Field(1.0, ge=0.05, le=300.0)
    node_name: str | None = Field(None, min_length=1, max_length=100)

    metrics_enabled: bool = True
    # /metrics is public unless metrics_token is set; then it needs
    # "Authorization: Bearer <metrics_token>" (401 otherwise). Public is fine on a private
    # network; set a token where the port is reachable from elsewhere (docs/operations.md).
    metrics_token: str | None = Field(None, min_length=16)
    # Error tracking (docs/monitoring.md): with sentry_dsn, every logged error and
    # exception also goes to Sentry or GlitchTip (same protocol), tagged with its request
    # id; sentry_sample_rate keeps that share of them. The admin groups errors either way.
    sentry_dsn: str | None = Field(None, min_length=8)
    sentry_environment: str = Field("production", min_length=1, max_length=64)
    sentry_sample_rate: float = Field(1.0, ge=0.0, le=1.0)

    # Sign-in. Sessions end after session_idle_seconds without a request and, whatever
    # happens, session_max_seconds after login. The cookie is Secure when the request
    # came over TLS (directly or, from forwarded_allow_ips, X-Forwarded-Proto) unless
    # cookie_secure says otherwise.
    session_idle_seconds: int = Field(8 * 3600, ge=60, le=30 * 86400)
    session_max_seconds: int = Field(7 * 86400, ge=300, le=365 * 86400)
    cookie_secure: Literal["auto", "always", "never"] = "auto"
    # Rate limits ("N/second|minute|hour", "N/15 minutes"), counted in Redis when
    # redis_url is set, else in data_dir/ratelimits.db (all workers of the node): every
    # API request per key or user and per IP. Sign-in (streamer/auth/login_rule.py):
    # every login and second-factor attempt per IP, failures per account and IP, and past
    # login_backoff_after failures of an account within login_backoff_window_seconds a
    # wait doubling from 1 s to login_backoff_max_seconds before its next attempt from
    # an IP that has not signed in to it in the last login_known_address_days.
    rate_limit_api: str = "600/minute"
    rate_limit_ip: str = "1200/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_login_failures: str = "5/15 minutes"
    login_backoff_after: int = Field(10, ge=1, le=100_000)
    login_backoff_window_seconds: int = Field(900, ge=1, le=7 * 86400)
    login_backoff_max_seconds: int = Field(300, ge=1, le=86400)
    login_known_address_days: int = Field(30, ge=0, le=365)

    # Signed URLs: when set, every /media and /hls request needs a valid ?token= (HMAC
    # with this secret, an expiry and a path scope; streamer/http/signing.py). Mint them
    # with GET /api/v1/tracks/{id}/signed, or at a CDN edge with the same secret.
    url_signing_secret: str | None = Field(None, min_length=16)
    signed_url_seconds: int = Field(3600, ge=60, le=7 * 86400)

    # Analytics rollups and reports (docs/analytics.md). Every analytics_rollup_seconds
    # each server process tries the rollup lease; the holder reads raw events older than
    # analytics_rollup_lag_seconds (time for nodes to flush theirs) in batches of
    # analytics_rollup_batch, and runs due scheduled reports (webhooks wait at most
    # analytics_webhook_timeout). 0 turns the periodic task off (`streamer analytics
    # rollup` still runs it). Realtime listeners cover analytics_realtime_minutes.
    analytics_rollup_seconds: float = Field(60.0, ge=0.0, le=86400.0)
    analytics_rollup_lag_seconds: float = Field(120.0, ge=0.0, le=86400.0)
    analytics_rollup_batch: int = Field(50_000, ge=100, le=1_000_000)
    analytics_webhook_timeout: float = Field(10.0, ge=0.1, le=300.0)
    analytics_realtime_minutes: int = Field(30, ge=1, le=1440)

    @field_validator(
        "libraries",
        "cors_allow_origins",
        "api_cors_allow_origins",
        "forwarded_allow_ips",
        "ladder",
        "library_parents",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                try:
                    return json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"not valid JSON: {exc}") from exc
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("ladder")
    @classmethod
    def _valid_ladder(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        parse_ladder(value)  # raises ValueError with the reason
        return tuple(spec.strip() for spec in value)

    @property
    def renditions(self) -> tuple[Rendition, ...]:
        """The ladder as the transcoder's renditions."""
        return parse_ladder(self.ladder)

    @model_validator(mode="after")
    def _broker_needs_redis(self) -> Settings:
        if self.job_broker == "redis" and not self.redis_url:
            raise ValueError("job_broker 'redis' needs redis_url (STREAMER_REDIS_URL)")
        return self

    @model_validator(mode="after")
    def _backoff_needs_more_than_one_address(self) -> Settings:
        from limits import parse

        allowance = parse(self.rate_limit_login_failures).amount
        if self.login_backoff_after <= allowance:
            raise ValueError(
                f"login_backoff_after ({self.login_backoff_after}) must be more than the "
                f"failures one address may make (rate_limit_login_failures, {allowance}): "
                "else one stranger could slow the account down for everyone"
            )
        return self

    @field_validator(
        "rate_limit_api", "rate_limit_ip", "rate_limit_login", "rate_limit_login_failures"
    )
    @classmethod
    def _valid_limit(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '10/minute': {exc}") from exc
        return value

    @field_validator("upload_staging")
    @classmethod
    def _valid_staging(cls, value: str) -> str:
        value = value.strip()
        if value == "local":
            return value
        scheme, _, rest = value.partition("://")
        if scheme.lower() == "s3" and rest.split("/", 1)[0]:
            return value
        if scheme.lower() == "file" and rest.startswith("/"):
            return value
        raise ValueError("must be 'local', 's3://bucket/prefix' or 'file:///absolute/path'")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Made absolute once, when settings are built, so nothing later depends on the cwd.
        return Path(os.path.abspath(value))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'streamer.db'}"

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str],
        config_file: Path | None = None,
        **overrides: Any,
    ) -> Settings:
        """Build settings from a TOML file, the environment and overrides; raise SettingsError."""
        values: dict[str, Any] = {}
        path = config_file or (
            Path(environ[f"{ENV_PREFIX}CONFIG"]) if environ.get(f"{ENV_PREFIX}CONFIG") else None
        )
        if path is not None:
            try:
                with path.open("rb") as fh:
                    values.update(tomllib.load(fh))
            except OSError as exc:
                raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from exc
            except tomllib.TOMLDecodeError as exc:
                raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
        known = cls.model_fields
        for key, raw in environ.items():
            # STREAMER__* (double underscore) is internal: the CLI hands settings to workers.
            if not key.startswith(ENV_PREFIX) or key.startswith(f"{ENV_PREFIX}_"):
                continue
            if key == f"{ENV_PREFIX}CONFIG":
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in known:
                raise SettingsError(f"unknown setting {key}; known: {', '.join(_env_names())}")
            values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from exc


def _env_names() -> list[str]:
    return [ENV_PREFIX + name.upper() for name in Settings.model_fields]


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "settings"
        given = error.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"{field} / {ENV_PREFIX}{field.upper()}: {error['msg']}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)
