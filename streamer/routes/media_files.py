"""The current state of served objects, cached like nginx's open_file_cache.

For local files we keep the open descriptor with its stat, trusted for
``valid_seconds`` and then checked again in a worker thread, so a hot file costs no open,
stat or thread hop per request. For remote stores we keep the last stat the same way.
Descriptors are reference-counted: eviction never closes one that a response still reads.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from streamer.storage import ObjectNotFound, ObjectStore
from streamer.storage.local import LocalStore


@dataclass(slots=True, eq=False)
class ObjectState:
    """A snapshot of one object: what validators and Content-Length are computed from."""

    size: int
    mtime: float
    version: str
    fd: int = -1  # an open descriptor for local files, else -1
    checked_at: float = 0.0
    refs: int = 0
    retired: bool = False  # replaced or evicted: close when the last reader releases it
    identity: tuple[int, int, int] = field(default=(0, 0, 0))  # (ino, size, mtime_ns)


class ObjectStates:
    def __init__(self, *, valid_seconds: float = 1.0, max_entries: int = 1024) -> None:
        self.valid_seconds = valid_seconds
        self.max_entries = max_entries
        self._states: OrderedDict[tuple[int, str], ObjectState] = OrderedDict()
        self._refreshing: dict[tuple[int, str], asyncio.Future[ObjectState]] = {}

    async def acquire(self, store: ObjectStore, key: str) -> ObjectState:
        """The object's current state, with one reference held; pair with release()."""
        cache_key = (id(store), key)
        state = self._states.get(cache_key)
        if state is None or not self._trusted(state):
            state = await self._refresh(store, key, cache_key, state)
        state.refs += 1
        return state

    def peek(self, store: ObjectStore, key: str) -> ObjectState | None:
        """The object's state if it is cached and still trusted, else None; never checks.
        No reference is taken: use it only in code that does not wait (nothing can close
        the descriptor until the event loop runs something else)."""
        state = self._states.get((id(store), key))
        return state if state is not None and self._trusted(state) else None

    def _trusted(self, state: ObjectState) -> bool:
        return time.monotonic() - state.checked_at < self.valid_seconds

    def hold(self, state: ObjectState) -> None:
        """Take a reference on a state :meth:`peek` gave (a body that outlives the call);
        pair with release()."""
        state.refs += 1

    def release(self, state: ObjectState) -> None:
        state.refs -= 1
        if state.retired and state.refs == 0:
            _close(state)

    def forget(self, store: ObjectStore, key: str) -> None:
        """Drop a state known to be wrong (the object changed under a response)."""
        state = self._states.pop((id(store), key), None)
        if state is not None:
            self._retire(state)

    def close(self) -> None:
        for state in self._states.values():
            self._retire(state)
        self._states.clear()

    async def _refresh(
        self, store: ObjectStore, key: str, cache_key: tuple[int, str], old: ObjectState | None
    ) -> ObjectState:
        pending = self._refreshing.get(cache_key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[ObjectState] = asyncio.get_running_loop().create_future()
        self._refreshing[cache_key] = future
        try:
            if isinstance(store, LocalStore):
                state = await asyncio.to_thread(_open_local, store, key, old)
            else:
                info = await store.stat(key)
                state = ObjectState(size=info.size, mtime=info.mtime, version=info.version)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()
            if isinstance(exc, ObjectNotFound):
                self.forget(store, key)
            raise
        finally:
            del self._refreshing[cache_key]
        state.checked_at = time.monotonic()
        if old is not None and state is not old:
            self._retire(old)
        self._states[cache_key] = state
        self._states.move_to_end(cache_key)
        while len(self._states) > self.max_entries:
            _, evicted = self._states.popitem(last=False)
            self._retire(evicted)
        future.set_result(state)
        return state

    def _retire(self, state: ObjectState) -> None:
        state.retired = True
        if state.refs == 0:
            _close(state)


def _open_local(store: ObjectStore, key: str, old: ObjectState | None) -> ObjectState:
    """Blocking: resolve, stat and (if it changed) open a local file. Runs in a thread."""
    path = store.local_path(key)
    if path is None:  # pragma: no cover - only local stores reach here
        raise ObjectNotFound(key)
    try:
        st = os.stat(path)
        identity = (st.st_ino, st.st_size, st.st_mtime_ns)
        if old is not None and old.fd >= 0 and not old.retired and old.identity == identity:
            return old
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise ObjectNotFound(key) from exc
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    return ObjectState(
        size=st.st_size,
        mtime=st.st_mtime,
        version=f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}",
        fd=fd,
        identity=(st.st_ino, st.st_size, st.st_mtime_ns),
    )


def _close(state: ObjectState) -> None:
    if state.fd >= 0:
        fd, state.fd = state.fd, -1
        os.close(fd)
