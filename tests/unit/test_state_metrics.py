"""The figures /metrics reads at scrape time, as Prometheus families (pure)."""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamer.dependencies import Check
from streamer.state_metrics import StateSnapshot, node_processes, state_families


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
    found = samples(
        StateSnapshot(checks=[DB_OK], database_read=True, jobs={("transcode", "failed"): 2})
    )
    jobs = {
        dict(labels)["status"]: v for (name, labels), v in found.items() if name == "streamer_jobs"
    }
    assert jobs == {"queued": 0, "running": 0, "succeeded": 0, "failed": 2, "cancelled": 0}


def test_a_kind_or_status_the_code_does_not_know_is_still_reported() -> None:
    found = samples(
        StateSnapshot(checks=[DB_OK], database_read=True, jobs={("warm", "stalled"): 1})
    )
    assert found[("streamer_jobs", (("kind", "warm"), ("status", "stalled")))] == 1
    assert found[("streamer_jobs", (("kind", "warm"), ("status", "queued")))] == 0


def test_every_upload_status_is_reported() -> None:
    found = samples(StateSnapshot(checks=[DB_OK], database_read=True, uploads={"completed": 4}))
    uploads = {
        dict(lb)["status"]: v for (name, lb), v in found.items() if name == "streamer_uploads"
    }
    assert uploads == {"receiving": 0, "completed": 4, "failed": 0, "terminated": 0, "expired": 0}


def test_figures_the_database_did_not_give_are_left_out_not_zero() -> None:
    found = samples(StateSnapshot(checks=[DB_OK]))  # it answered, the reads then failed
    assert {name for name, _ in found} == {
        "streamer_dependency_up",
        "streamer_dependency_check_seconds",
    }


def test_without_the_database_the_database_figures_are_left_out() -> None:
    found = samples(StateSnapshot(checks=[Check("database", "", "OSError", 0.1)]))
    names = {name for name, _ in found}
    assert names == {"streamer_dependency_up", "streamer_dependency_check_seconds"}


def test_the_oldest_due_job_reads_zero_when_none_waits() -> None:
    found = samples(StateSnapshot(checks=[DB_OK], database_read=True))
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


def test_the_nodes_processes_are_reported_by_role() -> None:
    snap = StateSnapshot(processes={10: ("supervisor", 50_000_000, 3.5), 11: ("worker", 9, 0.25)})
    found = samples(snap)
    memory = "streamer_process_resident_memory_bytes"
    assert found[(memory, (("pid", "10"), ("role", "supervisor")))] == 50_000_000
    assert (
        found[("streamer_process_cpu_seconds_total", (("pid", "11"), ("role", "worker")))] == 0.25
    )


def test_the_processes_are_read_from_proc(tmp_path: Path) -> None:
    supervisor, worker = os.getppid(), 4242
    task = tmp_path / str(supervisor) / "task" / str(supervisor)
    task.mkdir(parents=True)
    (task / "children").write_text(f"{worker} ")
    for pid, ticks in ((supervisor, "100 50"), (worker, "30 20")):
        folder = tmp_path / str(pid)
        folder.mkdir(exist_ok=True)
        # A name with a space and a parenthesis: fields are counted after the last ")".
        (folder / "stat").write_text(f"{pid} (python (x)) S 1 2 3 4 5 6 7 8 9 10 {ticks} 0 0")
        (folder / "statm").write_text("1000 25 0 0 0 0 0")
    found = node_processes(tmp_path)
    page = os.sysconf("SC_PAGE_SIZE")
    ticks = os.sysconf("SC_CLK_TCK")
    assert found == {
        supervisor: ("supervisor", 25 * page, 150 / ticks),
        worker: ("worker", 25 * page, 50 / ticks),
    }


def test_without_a_supervisor_to_read_no_process_is_reported(tmp_path: Path) -> None:
    assert node_processes(tmp_path) == {}
