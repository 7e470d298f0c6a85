"""deploy/kubernetes/ and deploy/systemd/ cannot run here (no cluster, no systemd as init),
so what can be wrong or drift from the code is checked directly: every manifest against
Kubernetes' schema, every command against the CLI, every STREAMER_* variable against the
settings, and every unit file against systemd's own parser."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streamer import cli
from streamer.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
SYSTEMD = ROOT / "deploy" / "systemd"
# Fixed, so the test does not change when kubernetes-validate ships newer schemas.
KUBERNETES_VERSION = "1.30.0"
SECRET_EXAMPLE = "secret.example.yaml"

KUSTOMIZATION: dict[str, Any] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
MANIFESTS = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")
APPLIED = [name for name in MANIFESTS if name != SECRET_EXAMPLE]
OBJECTS: dict[str, list[dict[str, Any]]] = {
    name: [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc]
    for name in MANIFESTS
}
DOCKERFILE = (ROOT / "Dockerfile").read_text()
# The image runs `streamer`: a container without `command` passes `args` to it.
ENTRYPOINT: list[str] = json.loads(re.findall(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE, re.M)[-1])


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec of a workload; empty for other kinds."""
    spec: dict[str, Any] = obj.get("spec", {})
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: dict[str, Any] = spec.get("template", {}).get("spec", {})
    return pod


def _containers() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for name in APPLIED:
        for obj in OBJECTS[name]:
            pod = _pod_spec(obj)
            for container in pod.get("containers", []):
                yield f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}", container, pod


CONTAINERS = {key: (container, pod) for key, container, pod in _containers()}


def _object(kind: str, name: str) -> dict[str, Any]:
    return next(
        obj
        for objs in OBJECTS.values()
        for obj in objs
        if obj["kind"] == kind and obj["metadata"]["name"] == name
    )


def _streamer_calls(argv: list[str]) -> Iterator[list[str]]:
    """Each `streamer ...` an argv runs, directly or as a line of an `sh -c` script."""
    while argv and argv[0] == "exec":
        argv = argv[1:]
    if not argv:
        return
    if Path(argv[0]).name == "streamer":
        yield argv[1:]
    elif Path(argv[0]).name == "sh" and argv[1] == "-c":
        for line in argv[2].splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            statement: list[str] = []
            for token in [*lexer, ";"]:
                if token in (";", "&&", "||", "|"):
                    yield from _streamer_calls(statement)
                    statement = []
                else:
                    statement.append(token)


def _container_argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", ENTRYPOINT), *container.get("args", [])]


def _environment(container: dict[str, Any]) -> dict[str, str]:
    """The STREAMER_* variables a container sees, with the Secret example's values."""
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            environment.update(_object("ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            environment.update(_object("Secret", source["secretRef"]["name"])["stringData"])
    for variable in container.get("env", []):
        environment[variable["name"]] = variable.get("value", "pod-name-from-the-downward-api")
    return {k: v for k, v in environment.items() if k.startswith("STREAMER_")}


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_manifest_is_valid_for_kubernetes(name: str) -> None:
    for obj in OBJECTS[name]:
        # Strict: a misspelt or misplaced field fails instead of being ignored.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", APPLIED)
def test_every_manifest_is_listed_in_the_kustomization(name: str) -> None:
    assert name in KUSTOMIZATION["resources"]


def test_the_kustomization_lists_only_existing_files() -> None:
    assert sorted(KUSTOMIZATION["resources"]) == APPLIED


def test_the_secret_example_is_never_applied_and_holds_only_placeholders() -> None:
    assert SECRET_EXAMPLE not in KUSTOMIZATION["resources"]
    (secret,) = OBJECTS[SECRET_EXAMPLE]
    assert all("CHANGE-ME" in value for value in secret["stringData"].values())


@pytest.mark.parametrize("name", APPLIED)
def test_every_object_is_in_the_streamer_namespace(name: str) -> None:
    for obj in OBJECTS[name]:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "streamer"
        else:
            assert obj["metadata"]["namespace"] == "streamer"


@pytest.mark.parametrize("key", CONTAINERS)
def test_each_container_runs_streamer_commands_that_parse_as_the_cli_does(key: str) -> None:
    calls = list(_streamer_calls(_container_argv(CONTAINERS[key][0])))
    assert calls, "runs no streamer command"
    for call in calls:
        cli._parser().parse_args(call)  # exits (SystemExit) on an unknown command or flag


@pytest.mark.parametrize("key", CONTAINERS)
def test_each_container_has_valid_settings(key: str) -> None:
    environment = _environment(CONTAINERS[key][0])
    settings = Settings.load(environment)  # raises SettingsError on a typo or a bad value
    assert settings.database_url is not None
    assert settings.database_url.startswith("postgresql")
    assert settings.job_broker == "redis"
    assert settings.upload_staging.startswith("s3://")  # the pods share no data directory


def test_the_cluster_runs_every_scheduled_and_one_off_command() -> None:
    commands = {
        call[0]
        for container, _ in CONTAINERS.values()
        for call in _streamer_calls(_container_argv(container))
    }
    assert commands == {"serve", "worker", "migrate", "backup", "cleanup"}


def test_serving_pods_leave_transcoding_to_the_workers() -> None:
    for container, _ in CONTAINERS.values():
        (call,) = _streamer_calls(_container_argv(container))
        if call[0] == "serve":
            assert Settings.load(_environment(container)).jobs_in_process is False
            assert "--no-scan" in call


def test_the_server_is_probed_on_healthz_and_readyz_at_its_port() -> None:
    container, _ = CONTAINERS["Deployment/streamer-server/streamer"]
    settings = Settings.load(_environment(container))
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    probes["readinessProbe"] = container["readinessProbe"]["httpGet"]
    assert {kind: probe["path"] for kind, probe in probes.items()} == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert all(probe["port"] == port["name"] for probe in probes.values())
    service = _object("Service", "streamer")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_the_server_has_time_for_its_graceful_stop() -> None:
    container, pod = CONTAINERS["Deployment/streamer-server/streamer"]
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    uvicorn_graceful_stop = 10  # timeout_graceful_shutdown in streamer/cli.py
    assert pod["terminationGracePeriodSeconds"] > pre_stop + uvicorn_graceful_stop


def test_the_worker_has_the_grace_period_of_the_compose_file() -> None:
    _, pod = CONTAINERS["Deployment/streamer-worker/streamer"]
    compose = yaml.safe_load((ROOT / "config" / "docker-compose.yml").read_text())
    assert (
        f"{pod['terminationGracePeriodSeconds']}s"
        == compose["services"]["worker"]["stop_grace_period"]
    )


@pytest.mark.parametrize("key", CONTAINERS)
def test_each_container_writes_only_to_its_volumes(key: str) -> None:
    container, pod = CONTAINERS[key]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
    # The image's data directory (metrics, work, uploads) and the temporary directory.
    assert {"/var/lib/streamer", "/tmp"} <= mounts
    assert "ENV STREAMER_DATA_DIR=/var/lib/streamer" in DOCKERFILE


@pytest.mark.parametrize("kind", ["Service", "PodDisruptionBudget"])
def test_selectors_match_the_server_pods(kind: str) -> None:
    deployment = _object("Deployment", "streamer-server")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    obj = next(o for objs in OBJECTS.values() for o in objs if o["kind"] == kind)
    selector = obj["spec"]["selector"]
    selector = selector.get("matchLabels", selector)
    assert selector.items() <= labels.items()


@pytest.mark.parametrize("name", ["streamer-server", "streamer-worker"])
def test_each_deployment_is_scaled_by_cpu_and_leaves_replicas_to_it(name: str) -> None:
    autoscaler = _object("HorizontalPodAutoscaler", name)
    assert autoscaler["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": name,
    }
    assert [m["resource"]["name"] for m in autoscaler["spec"]["metrics"]] == ["cpu"]
    deployment = _object("Deployment", name)
    assert "replicas" not in deployment["spec"]  # else each apply resets the autoscaler's count
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert "cpu" in container["resources"]["requests"]  # utilisation is measured against it


# systemd units

UNITS = sorted(p.name for p in SYSTEMD.iterdir())
INSTALLED_STREAMER = "/opt/streamer/venv/bin/streamer"


def _exec_lines(name: str) -> list[list[str]]:
    """ExecStart= and ExecStartPost= lines as argv, with systemd's escapes undone."""
    lines = []
    for line in (SYSTEMD / name).read_text().splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStart", "ExecStartPost"):
            value = value.replace("%%", "%").replace("$$", "$").lstrip("-@:+!")
            lines.append(shlex.split(value))
    return lines


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    for name in UNITS:
        # The installed path does not exist here; the checkout's streamer does.
        text = (
            (SYSTEMD / name)
            .read_text()
            .replace(INSTALLED_STREAMER, f"{Path(sys.executable).parent}/streamer")
        )
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Unknown keys are only warnings (exit 0): any output at all is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("name", [n for n in UNITS if n.endswith(".service")])
def test_each_systemd_service_runs_streamer_commands_that_parse_as_the_cli_does(name: str) -> None:
    calls = [call for argv in _exec_lines(name) for call in _streamer_calls(argv)]
    assert calls, "runs no streamer command"
    for call in calls:
        args = cli._parser().parse_args(call)
        assert args.config == Path("/etc/streamer/streamer.toml")


@pytest.mark.parametrize("name", [n for n in UNITS if n.endswith(".timer")])
def test_each_systemd_timer_has_its_service(name: str) -> None:
    assert name.removesuffix(".timer") + ".service" in UNITS
