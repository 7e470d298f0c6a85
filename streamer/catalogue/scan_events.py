"""The live events of a scan, built from its progress and its report.

They live beside the scan rather than in streamer.events: the catalogue publishes through
streamer.events, which knows nothing of the catalogue (one direction only). The payload
itself is shaped in one place, streamer.events.publish.scan_event.
"""

from __future__ import annotations

from streamer.catalogue.scan import ScanProgress, ScanReport
from streamer.events.publish import Outgoing, scan_event

__all__ = ["scan_done_event", "scan_progress_event"]


def scan_progress_event(library_id: str, progress: ScanProgress) -> Outgoing:
    """A running scan's progress so far."""
    return scan_event(
        library_id,
        "running",
        processed=progress.done,
        total=progress.total,
        added=progress.added,
        changed=progress.changed,
        failed=progress.failed,
    )


def scan_done_event(library_id: str, report: ScanReport) -> Outgoing:
    """A scan that finished, with what it found."""
    return scan_event(
        library_id,
        "done",
        processed=report.total,
        total=report.total,
        added=report.added,
        changed=report.changed,
        failed=report.failed,
        gone=report.gone,
    )
