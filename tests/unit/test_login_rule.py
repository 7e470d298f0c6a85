"""The sign-in rule (streamer.auth.login_rule) and its counting on a real store
(streamer.auth.ratelimit with streamer.auth.limit_store): per address, per account and
address, per account with a backoff that spares known addresses."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from limits.aio.storage import MemoryStorage, Storage

from streamer.auth.limit_store import SQLiteStorage
from streamer.auth.login_rule import Backoff, held_back
from streamer.auth.ratelimit import RateLimited, RateLimits, limit_storage


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (9, 0), (10, 1), (11, 2), (12, 4), (18, 256), (19, 300), (500, 300), (10**9, 300)],
)
def test_the_backoff_doubles_from_one_second_after_the_free_failures_up_to_its_cap(
    failures: int, delay: int
) -> None:
    assert Backoff(after=10, max_seconds=300).delay(failures) == delay


@pytest.mark.parametrize(
    ("waiting", "known", "held"),
    [(0.0, False, False), (0.0, True, False), (3.5, False, True), (3.5, True, False)],
)
def test_only_unknown_addresses_wait_out_an_accounts_backoff(
    waiting: float, known: bool, held: bool
) -> None:
    assert held_back(waiting=waiting, known_address=known) is held


@pytest.mark.parametrize("field", ["after", "max_seconds", "window"])
def test_a_backoff_needs_positive_parameters(field: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        Backoff(**{field: 0})  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    pool = None
    if request.param == "redis":
        store, pool = limit_storage(request.getfixturevalue("redis_url"))
    elif request.param == "sqlite":
        store, _ = limit_storage(None, tmp_path)
    else:
        store = MemoryStorage()
    yield store
    if isinstance(store, SQLiteStorage):
        await store.close()
    if pool is not None:
        await pool.disconnect()


def _limits(storage: Storage, **kwargs: object) -> RateLimits:
    options: dict[str, object] = {
        "api": "100/minute",
        "ip": "100/minute",
        "login": "10/minute",
        "login_failures": "3/15 minutes",
        "backoff": Backoff(after=5, max_seconds=60),
        **kwargs,
    }
    return RateLimits(storage, **options)  # type: ignore[arg-type]


async def _fail(limits: RateLimits, ip: str, name: str) -> bool:
    """One wrong password: False when it was refused before being checked."""
    try:
        await limits.sign_in_attempt(ip, name)
    except RateLimited:
        return False
    await limits.sign_in_result(ip, name, ok=False)
    return True


async def test_every_attempt_counts_per_address_whatever_the_account(storage: Storage) -> None:
    limits = _limits(storage, login="4/minute")
    for name in ("a", "b", "c", "d"):
        await limits.sign_in_attempt("10.0.0.1", name)
    with pytest.raises(RateLimited, match="from this address") as refused:
        await limits.sign_in_attempt("10.0.0.1", "e")
    assert 1 <= refused.value.retry_after <= 60
    await limits.sign_in_attempt("10.0.0.2", "e")


async def test_failures_count_per_account_and_address(storage: Storage) -> None:
    limits = _limits(storage)
    assert [await _fail(limits, "10.0.0.1", "ada") for _ in range(5)] == [True] * 3 + [False] * 2
    # The same address may still try another account, another address this one.
    assert await _fail(limits, "10.0.0.1", "bob")
    await limits.sign_in_attempt("10.0.0.2", "ada")


async def test_a_success_clears_the_addresss_failures_on_the_account(storage: Storage) -> None:
    limits = _limits(storage)
    for _ in range(2):
        await _fail(limits, "10.0.0.1", "ada")
    await limits.sign_in_attempt("10.0.0.1", "ada")
    await limits.sign_in_result("10.0.0.1", "ada", ok=True)
    assert [await _fail(limits, "10.0.0.1", "ada") for _ in range(4)] == [True] * 3 + [False]


async def test_one_address_alone_never_starts_the_accounts_backoff(storage: Storage) -> None:
    limits = _limits(storage)
    for _ in range(20):
        await _fail(limits, "10.0.0.1", "ada")
    await limits.sign_in_attempt("10.0.0.2", "ada")  # not held back


async def test_many_addresses_start_a_backoff_that_spares_known_addresses(
    storage: Storage,
) -> None:
    limits = _limits(storage)
    await limits.sign_in_attempt("10.0.0.9", "ada")
    await limits.sign_in_result("10.0.0.9", "ada", ok=True)  # the owner, earlier
    for i in range(5):  # five guessers: the fifth failure starts a 1 s wait
        assert await _fail(limits, f"10.0.1.{i}", "ada")
    with pytest.raises(RateLimited, match="addresses that have not signed in") as refused:
        await limits.sign_in_attempt("10.0.2.1", "ada")
    assert refused.value.retry_after == 1
    await limits.sign_in_attempt("10.0.0.9", "ada")  # the owner's address is known
    await limits.sign_in_attempt("10.0.2.1", "bob")  # other accounts are not concerned


async def test_a_password_alone_does_not_make_the_address_known_before_the_second_factor(
    storage: Storage,
) -> None:
    limits = _limits(storage)
    await limits.sign_in_result("10.0.0.9", "ada", ok=True, complete=False)
    for i in range(5):
        await _fail(limits, f"10.0.1.{i}", "ada")
    with pytest.raises(RateLimited):
        await limits.sign_in_attempt("10.0.0.9", "ada")


async def test_names_are_counted_without_case(storage: Storage) -> None:
    limits = _limits(storage)
    for name in ("Ada", "ADA", "ada"):
        await _fail(limits, "10.0.0.1", name)
    assert not await _fail(limits, "10.0.0.1", "aDa")


def test_processes_sharing_the_file_count_together_without_errors(tmp_path: Path) -> None:
    # Four processes, 400 hits on one limit of 300: counted together, exactly 300 pass.
    # A store error would let its hit through (the limits fail open), so 300 also means
    # that no write failed under contention.
    path = str(tmp_path / "limits.db")
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    workers = [context.Process(target=_hammer_300, args=(path, 100, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(results.get(timeout=5) for _ in workers) == 300


def _hammer_300(path: str, count: int, results: multiprocessing.Queue[int]) -> None:
    async def run() -> int:
        store = SQLiteStorage(path=Path(path))
        limits = _limits(store, login="300/minute")
        allowed = 0
        try:
            for _ in range(count):
                try:
                    await limits.hit(limits.login, "ip", "10.0.0.1")
                    allowed += 1
                except RateLimited:
                    pass
        finally:
            await store.close()
        return allowed

    results.put(asyncio.run(run()))


async def test_concurrent_requests_of_one_worker_count_exactly(storage: Storage) -> None:
    # A worker's requests run concurrently; on the shared file each hit is a transaction
    # on the worker's one connection, and a store error would let its hit through.
    limits = _limits(storage, login="50/minute")

    async def attempt() -> bool:
        try:
            await limits.hit(limits.login, "ip", "10.0.0.9")
        except RateLimited:
            return False
        return True

    outcomes = await asyncio.gather(*(attempt() for _ in range(100)))
    assert outcomes.count(True) == 50
