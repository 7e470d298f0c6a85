"""The Grafana dashboards in config/grafana/dashboards/ are what config/grafana/dashboards.py
builds (never edited by hand, never stale), and every panel is complete: a title, a
description, the data source variable, a query. That each query returns data is checked
against a real Prometheus in tests/integration/test_prometheus.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "config" / "grafana"
BOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def panels() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in BOARDS:
        board = json.loads(path.read_text())
        found += [(path.stem, p) for p in board["panels"] if p["type"] != "row"]
    return found


def test_the_dashboards_are_what_the_code_builds() -> None:
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "dashboards.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_there_is_an_overview_and_an_audience_dashboard() -> None:
    assert [path.stem for path in BOARDS] == ["streamer-audience", "streamer-overview"]


@pytest.mark.parametrize(
    ("board", "panel"), panels(), ids=[f"{b}: {p['title']}" for b, p in panels()]
)
def test_every_panel_is_described_and_queries_the_chosen_prometheus(
    board: str, panel: dict[str, Any]
) -> None:
    assert panel["description"]
    assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert panel["targets"]
    assert all(target["expr"] for target in panel["targets"])


def test_dashboard_uids_are_stable() -> None:
    # Links and provisioning name dashboards by uid: changing one breaks bookmarks.
    uids = {json.loads(path.read_text())["uid"] for path in BOARDS}
    assert uids == {"streamer-overview", "streamer-audience"}
