"""A ``limits`` storage in a SQLite file that every worker of a node shares.

Without Redis each worker used to count in its own memory, so a limit of 10 a minute
let 10 a minute through *per worker*. This store keeps the counters in one small file in
the data directory (apart from the catalogue's database, so counting never waits on a
scan's write lock, and the same whether metadata lives in SQLite or PostgreSQL).

- WAL and a busy timeout: several processes write without "database is locked".
- Each change is one ``BEGIN IMMEDIATE`` transaction, so a moving window's count and its
  new entry are atomic across processes.
- aiosqlite runs every statement on its own thread: the event loop never waits on the
  file.
- One connection per process, so one transaction at a time on it: an asyncio lock keeps
  concurrent requests of a worker from opening a transaction inside another's.

It implements the parts of ``limits``' async storage that the server uses: the moving
window (``acquire_entry``, ``get_moving_window``) and plain expiring counters (``incr``,
``get``, ``get_expiry``, ``clear``). Expired rows are pruned now and then.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiosqlite
from limits.aio.storage import MovingWindowSupport, Storage

__all__ = ["SQLiteStorage"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, at REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at)",
    "CREATE INDEX IF NOT EXISTS hits_expires ON hits (expires)",
    "CREATE TABLE IF NOT EXISTS counters"
    " (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires REAL NOT NULL)",
)
_PRUNE_SECONDS = 60.0
_BUSY_TIMEOUT_MS = 5000


class SQLiteStorage(Storage, MovingWindowSupport):
    """Rate-limit counters in the SQLite file at ``path`` (made on first use)."""

    STORAGE_SCHEME = ["async+streamer-sqlite"]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        path = options.pop("path", None)
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        if path is None:
            assert uri is not None
            path = uri.split("://", 1)[1]
        self.path = Path(path)
        self._conn: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()
        self._transaction = asyncio.Lock()
        self._pruned_at = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (sqlite3.Error, OSError)

    async def _connection(self) -> aiosqlite.Connection:
        if self._conn is not None:
            return self._conn
        async with self._opening:
            if self._conn is None:
                await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)
                conn = await aiosqlite.connect(
                    self.path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None
                )
                try:
                    await conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
                    await conn.execute("PRAGMA journal_mode = WAL")
                    # Counters may lose the last moments on a power cut; never their file.
                    await conn.execute("PRAGMA synchronous = NORMAL")
                    for statement in _SCHEMA:
                        await conn.execute(statement)
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
        assert self._conn is not None
        return self._conn

    async def _write(self, statements: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
        """Run ``statements`` in one immediate transaction; each one's first row."""
        conn = await self._connection()
        async with self._transaction:
            return await self._write_in(conn, statements)

    async def _write_in(
        self, conn: aiosqlite.Connection, statements: list[tuple[str, tuple[Any, ...]]]
    ) -> list[Any]:
        now = time.time()
        rows: list[Any] = []
        await conn.execute("BEGIN IMMEDIATE")
        try:
            if now - self._pruned_at > _PRUNE_SECONDS:
                await conn.execute("DELETE FROM hits WHERE expires < ?", (now,))
                await conn.execute("DELETE FROM counters WHERE expires < ?", (now,))
                self._pruned_at = now
            for sql, params in statements:
                cursor = await conn.execute(sql, params)
                rows.append(await cursor.fetchone())
                await cursor.close()
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return rows

    async def _read(self, sql: str, params: tuple[Any, ...]) -> Any:
        conn = await self._connection()
        async with conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if amount > limit:
            return False
        conn = await self._connection()
        async with self._transaction:
            return await self._acquire_in(conn, key, limit, expiry, amount)

    async def _acquire_in(
        self, conn: aiosqlite.Connection, key: str, limit: int, expiry: int, amount: int
    ) -> bool:
        now = time.time()
        await conn.execute("BEGIN IMMEDIATE")
        try:
            async with conn.execute(
                "SELECT count(*) FROM hits WHERE key = ? AND at > ?", (key, now - expiry)
            ) as cursor:
                row = await cursor.fetchone()
            taken = int(row[0]) if row else 0
            allowed = taken + amount <= limit
            if allowed:
                await conn.executemany(
                    "INSERT INTO hits (key, at, expires) VALUES (?, ?, ?)",
                    [(key, now, now + expiry)] * amount,
                )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return allowed

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        # The oldest of the newest ``limit`` entries: when it leaves, a slot frees.
        row = await self._read(
            "SELECT min(at), count(*) FROM"
            " (SELECT at FROM hits WHERE key = ? AND at > ? ORDER BY at DESC LIMIT ?)",
            (key, now - expiry, limit),
        )
        if not row or not row[1]:
            return now, 0
        return float(row[0]), int(row[1])

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount``; a counter that did not exist (or had expired) starts now and
        lives ``expiry`` seconds, as with ``limits``' Redis storage."""
        now = time.time()
        rows = await self._write(
            [
                ("DELETE FROM counters WHERE key = ? AND expires <= ?", (key, now)),
                (
                    "INSERT INTO counters (key, value, expires) VALUES (?, ?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = value + excluded.value"
                    " RETURNING value",
                    (key, amount, now + expiry),
                ),
            ]
        )
        return int(rows[1][0])

    async def get(self, key: str) -> int:
        row = await self._read(
            "SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time())
        )
        return int(row[0]) if row else 0

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        row = await self._read(
            "SELECT expires FROM counters WHERE key = ? AND expires > ?", (key, now)
        )
        return float(row[0]) if row else now

    async def check(self) -> bool:
        try:
            await self._read("SELECT 1", ())
        except (sqlite3.Error, OSError):
            return False
        return True

    async def reset(self) -> int | None:
        rows = await self._write(
            [
                ("SELECT (SELECT count(*) FROM hits) + (SELECT count(*) FROM counters)", ()),
                ("DELETE FROM hits", ()),
                ("DELETE FROM counters", ()),
            ]
        )
        return int(rows[0][0])

    async def clear(self, key: str) -> None:
        await self._write(
            [
                ("DELETE FROM hits WHERE key = ?", (key,)),
                ("DELETE FROM counters WHERE key = ?", (key,)),
            ]
        )

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()
