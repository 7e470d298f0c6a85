"""Maintenance of a whole installation: backup, restore and cleanup (the CLI's
`streamer backup | restore | cleanup`)."""

from __future__ import annotations

from streamer.maintenance.backup import BackupReport, LibraryObjects, create_backup
from streamer.maintenance.cleanup import CleanupReport, Removal, cleanup
from streamer.maintenance.restore import LibraryCheck, RestoreReport, restore_backup

__all__ = [
    "BackupReport",
    "CleanupReport",
    "LibraryCheck",
    "LibraryObjects",
    "Removal",
    "RestoreReport",
    "cleanup",
    "create_backup",
    "restore_backup",
]
