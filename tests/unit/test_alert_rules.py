"""The monitoring configuration that ships in config/: Prometheus alert rules checked and
unit-tested by Debian's promtool, Alertmanager's configuration and routes by amtool, and
every alert tied to a runbook in docs/monitoring.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "config" / "prometheus"
ALERTMANAGER = ROOT / "config" / "alertmanager" / "alertmanager.yml"
MONITORING = ROOT / "docs" / "monitoring.md"

RULES: dict[str, Any] = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
ALERTS = [rule for group in RULES["groups"] for rule in group["rules"] if "alert" in rule]
UNIT_TESTS: dict[str, Any] = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: `make test` installs it (scripts/test-services)")
    return found


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_promtool_accepts_the_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    result = _run(_tool("promtool"), "test", "rules", str(PROMETHEUS / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_example_prometheus_configuration() -> None:
    result = _run(_tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("alert", [a["alert"] for a in ALERTS])
def test_every_alert_fires_in_a_unit_test(alert: str) -> None:
    firing = [
        case
        for test in UNIT_TESTS["tests"]
        for case in test.get("alert_rule_test", [])
        if case["alertname"] == alert and case.get("exp_alerts")
    ]
    assert firing, f"{alert} is never seen firing in alerts.test.yml"


@pytest.mark.parametrize("rule", ALERTS, ids=[a["alert"] for a in ALERTS])
def test_every_alert_has_a_severity_summary_and_runbook(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning"}
    annotations = rule["annotations"]
    assert annotations["summary"]
    assert annotations["description"]
    path, _, anchor = annotations["runbook_url"].partition("#")
    assert path == "docs/monitoring.md"
    assert anchor == rule["alert"].lower()
    assert anchor in _anchors(MONITORING.read_text()), f"no section {rule['alert']} in {path}"


def test_alertmanager_accepts_its_configuration() -> None:
    result = _run(_tool("amtool"), "check-config", str(ALERTMANAGER))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=StreamerDown"], "on-call-pager"),
        (["severity=warning", "alertname=StreamerDiskFilling"], "team-tickets"),
        (["alertname=SomethingElse"], "team-tickets"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = _run(
        _tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver
