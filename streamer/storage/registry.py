"""One opened ObjectStore per library root, opened on first use and closed at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from streamer.settings import Settings
from streamer.storage.base import ObjectStore
from streamer.storage.factory import open_store

# How routes and caches reach a library's store: StoreRegistry.get.
StoreLookup = Callable[[str], Awaitable[ObjectStore]]


class StoreRegistry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._stores: dict[str, ObjectStore] = {}
        self._lock = asyncio.Lock()

    async def get(self, root: str) -> ObjectStore:
        store = self._stores.get(root)
        if store is not None:
            return store
        async with self._lock:
            store = self._stores.get(root)
            if store is None:
                store = open_store(root, self.settings)
                await store.open()
                self._stores[root] = store
            return store

    def peek(self, root: str) -> ObjectStore | None:
        """The store of ``root`` if it is already open, else None (never opens one)."""
        return self._stores.get(root)

    def opened(self) -> list[ObjectStore]:
        return list(self._stores.values())

    async def close(self) -> None:
        stores, self._stores = list(self._stores.values()), {}
        for store in stores:
            await store.close()
