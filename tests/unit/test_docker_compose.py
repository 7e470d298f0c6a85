"""config/docker-compose.yml cannot run here (no Docker engine), so what can drift from the
code without anyone noticing is checked directly: each service's settings load, each
command parses as the CLI's, and the shield's rewrite of the nginx config matches."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamer import cli
from streamer.settings import Settings

CONFIG = Path(__file__).resolve().parents[2] / "config"
COMPOSE: dict[str, Any] = yaml.safe_load((CONFIG / "docker-compose.yml").read_text())
STREAMERS = [name for name, s in COMPOSE["services"].items() if "build" in s]


def test_the_stack_has_two_serving_nodes_and_a_worker() -> None:
    commands = sorted(COMPOSE["services"][name]["command"][0] for name in STREAMERS)
    assert commands == ["serve", "serve", "worker"]


@pytest.mark.parametrize("service", STREAMERS)
def test_each_streamer_service_has_valid_settings(service: str) -> None:
    environment = {k: str(v) for k, v in COMPOSE["services"][service]["environment"].items()}
    assert all(key.startswith("STREAMER_") for key in environment)
    settings = Settings.load(environment)  # raises SettingsError on a typo or bad value
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql")
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.job_broker == "redis"
    assert settings.upload_staging.startswith("s3://")  # the nodes share no data directory


@pytest.mark.parametrize("service", STREAMERS)
def test_each_streamer_command_parses_as_the_cli_does(service: str) -> None:
    args = cli._parser().parse_args(COMPOSE["services"][service]["command"])
    assert args.command in ("serve", "worker")


def test_serving_nodes_leave_transcoding_to_the_worker() -> None:
    for name in STREAMERS:
        service = COMPOSE["services"][name]
        in_process = service["environment"].get("STREAMER_JOBS_IN_PROCESS", "true")
        assert (in_process == "false") == (service["command"][0] == "serve")


def test_the_shield_rewrite_matches_the_shipped_nginx_config() -> None:
    script = COMPOSE["services"]["shield"]["command"][-1]
    sed = re.search(r"sed '(s/.*?/.*?/)'", script)
    assert sed is not None
    pattern = shlex.split(f"'{sed.group(1)}'")[0].split("/")[1]
    shipped = (CONFIG / "nginx-shield.conf").read_text()
    # Without a match sed changes nothing and the shield would proxy to itself.
    assert pattern in shipped
    for node in ("streamer-a", "streamer-b"):
        assert f"server {node}:8000" in script
        assert node in COMPOSE["services"]
