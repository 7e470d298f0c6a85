"""Sentry (or GlitchTip, which speaks the same protocol) when ``sentry_dsn`` is set.

Errors reach Sentry through the logging integration only: every ERROR record, with its
exception when it has one. The framework integrations that sentry-sdk enables by itself
(Starlette, FastAPI, SQLAlchemy, Redis, httpx...) are left off: they wrap every request
and query on the hot path, and every error they would report is already logged. Each
event carries the request id (``request_id`` tag), the same one the logs, the access log,
the audit trail and the ``X-Request-Id`` header carry. No user data and no local
variables are sent, and no performance tracing.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

from streamer.logs import request_id_var
from streamer.settings import Settings

__all__ = ["start_error_tracking"]

logger = logging.getLogger("streamer.errors")


def _release() -> str | None:
    try:
        return f"streamer@{version('streamer')}"
    except PackageNotFoundError:
        return None


def _tag_request(event: Any, _hint: Any) -> Any:
    request_id = request_id_var.get()
    if request_id is not None:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def start_error_tracking(settings: Settings, *, process: str) -> bool:
    """Start sending errors to ``settings.sentry_dsn`` from this process (``process``
    names it in the events: serve, worker...). False when no DSN is set."""
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.sentry_environment,
        release=_release(),
        sample_rate=settings.sentry_sample_rate,
        server_name=settings.node_name,
        # No user data, and no local variables of stack frames (they may hold keys).
        data_collection={"user_info": False, "stack_frame_variables": False},
        auto_enabling_integrations=False,
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
        before_send=_tag_request,
    )
    # The global scope: request tasks do not inherit the scope of the task that started.
    sentry_sdk.get_global_scope().set_tag("process", process)
    logger.info("errors go to Sentry", extra={"environment": settings.sentry_environment})
    return True
