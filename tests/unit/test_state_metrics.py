"""The figures /metrics reads at scrape time, as Prometheus families (pure)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamer.dependencies import Check
from streamer.state_metrics import StateSnapshot, state_families


def samples(snap: StateSnapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as Prometheus would read it from the exposition text."""

    class Collector:
        def collect(self):  # type: ignore[no-untyped-def]
            return state_families(snap)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


DB_OK = Check("database", "", None, 0.002)


def test_a_failed_check_reads_zero_and_keeps_its_target() -> None:
    found = samples(StateSnapshot(checks=[DB_OK, Check("storage", "s3://music", "Timeout", 3.0)]))
    assert found[("streamer_dependency_up", (("dependency", "database"), ("target", "")))] == 1
    up = ("streamer_dependency_up", (("dependency", "storage"), ("target", "s3://music")))
    assert found[up] == 0
    seconds = ("streamer_dependency_check_seconds", up[1])
    assert found[seconds] == 3.0


def test_every_job_status_is_reported_even_at_zero() -> None:
    found = samples(StateSnapshot(checks=[DB_OK], jobs={("transcode", "failed"): 2}))
    jobs = {
        dict(labels)["status"]: v for (name, labels), v in found.items() if name == "streamer_jobs"
    }
    assert jobs == {"queued": 0, "running": 0, "succeeded": 0, "failed": 2, "cancelled": 0}


def test_a_kind_or_status_the_code_does_not_know_is_still_reported() -> None:
    found = samples(StateSnapshot(checks=[DB_OK], jobs={("warm", "stalled"): 1}))
    assert found[("streamer_jobs", (("kind", "warm"), ("status", "stalled")))] == 1
    assert found[("streamer_jobs", (("kind", "warm"), ("status", "queued")))] == 0


def test_every_upload_status_is_reported() -> None:
    found = samples(StateSnapshot(checks=[DB_OK], uploads={"completed": 4}))
    uploads = {
        dict(lb)["status"]: v for (name, lb), v in found.items() if name == "streamer_uploads"
    }
    assert uploads == {"receiving": 0, "completed": 4, "failed": 0, "terminated": 0, "expired": 0}


def test_without_the_database_the_database_figures_are_left_out() -> None:
    found = samples(StateSnapshot(checks=[Check("database", "", "OSError", 0.1)]))
    names = {name for name, _ in found}
    assert names == {"streamer_dependency_up", "streamer_dependency_check_seconds"}


def test_the_oldest_due_job_reads_zero_when_none_waits() -> None:
    found = samples(StateSnapshot(checks=[DB_OK]))
    assert found[("streamer_jobs_oldest_due_seconds", ())] == 0


def test_disks_listeners_and_key_expiry_are_reported_when_known() -> None:
    snap = StateSnapshot(
        disks={"/data": (10, 100)},
        listeners_now=7,
        listeners_scope="cluster",
        next_key_expiry=1_800_000_000.0,
    )
    found = samples(snap)
    assert found[("streamer_disk_free_bytes", (("path", "/data"),))] == 10
    assert found[("streamer_disk_size_bytes", (("path", "/data"),))] == 100
    assert found[("streamer_listeners_now", (("scope", "cluster"),))] == 7
    assert found[("streamer_api_key_next_expiry_timestamp_seconds", ())] == 1.8e9
