"""Key and range syntax shared by every ObjectStore backend (pure: no I/O)."""

from __future__ import annotations

from pathlib import PurePosixPath

from streamer.storage.base import ObjectNotFound

__all__ = ["check_key", "check_prefix", "check_range"]


def check_key(key: str) -> PurePosixPath:
    """Return ``key`` as a relative POSIX path, or raise ObjectNotFound if it is not a key.

    A key is relative, has no empty, ``.`` or ``..`` component and no NUL byte. This is pure
    syntax (no I/O); it does not replace the containment check against symlinks.
    """
    if not key or "\x00" in key or key.startswith("/"):
        raise ObjectNotFound(f"invalid key {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ObjectNotFound(f"invalid key {key!r}")
    return PurePosixPath(key)


def check_prefix(prefix: str) -> tuple[str, str]:
    """Split a key prefix into its directory part and the start of its last component.

    ``"a/b/"`` gives ``("a/b", "")`` (everything in a/b), ``"a/b"`` gives ``("a", "b")``
    (a/b, a/bc, ...). Raises ObjectNotFound unless the prefix is non-empty, relative and
    free of empty, ``.`` and ``..`` components and NUL bytes, as check_key does for keys.
    """
    if not prefix or "\x00" in prefix or prefix.startswith("/"):
        raise ObjectNotFound(f"invalid key prefix {prefix!r}")
    directory, _, name = prefix.rpartition("/")
    if name in (".", "..") or (
        directory and any(part in ("", ".", "..") for part in directory.split("/"))
    ):
        raise ObjectNotFound(f"invalid key prefix {prefix!r}")
    return directory, name


def check_range(start: int, length: int) -> None:
    """Raise ValueError for a negative start or length (a caller's bug, not a storage error)."""
    if start < 0 or length < 0:
        raise ValueError(f"invalid range: start={start}, length={length}")
