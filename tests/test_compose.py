"""compose.yaml and the Dockerfile: valid Compose, the right services, and fit the settings.

compose.yaml is validated against the Compose Specification's published JSON Schema, vendored
in ``tests/compose_spec/`` (its README names the source and version), so the check runs
everywhere the suite does. When the ``docker compose`` plugin is installed its offline
``config`` check runs too, otherwise that one test is skipped.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE_SCHEMA: dict[str, Any] = json.loads(
    (ROOT / "tests" / "compose_spec" / "compose-spec.json").read_text()
)


def _compose_errors(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(COMPOSE_SCHEMA)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_the_vendored_schema_is_itself_a_valid_draft_7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(COMPOSE_SCHEMA)
    assert COMPOSE_SCHEMA["title"] == "Compose Specification"


def test_compose_yaml_follows_the_compose_specification() -> None:
    assert _compose_errors(COMPOSE) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("services", "worker", "stop_grace_period"), ["40s"]),
        (("services", "worker", "restart_policy"), "on-failure"),
        (("services", "rabbitmq", "healthcheck", "retry"), 24),
        (("services", "worker", "depends_on", "rabbitmq", "condition"), "healthy"),
        (("volumes", "shared", "driver_opts"), "local"),
    ],
)
def test_the_schema_check_catches_a_mistake(path: tuple[str, ...], value: object) -> None:
    broken = copy.deepcopy(COMPOSE)
    parent = broken
    for key in path[:-1]:
        if parent.get(key) is None:  # `shared:` with no body is null in YAML
            parent[key] = {}
        parent = parent[key]
    parent[path[-1]] = value
    assert _compose_errors(broken), f"a compose file with {'.'.join(path)}={value!r} passed"


def _published(service: dict[str, Any]) -> set[str]:
    return {str(p).split(":")[-1] for p in service.get("ports", [])}


def test_services() -> None:
    assert set(SERVICES) == {"rabbitmq", "sandbox", "worker", "postgres"}


def test_postgres_is_pinned_healthchecked_persistent_and_only_in_the_fleet_profile() -> None:
    postgres = SERVICES["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+", postgres["image"])
    assert postgres["profiles"] == ["fleet"]
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "5432" in _published(postgres)
    assert "postgres-data" in COMPOSE["volumes"]
    assert any(str(v).startswith("postgres-data:") for v in postgres["volumes"])
    assert all("profiles" not in SERVICES[name] for name in ("rabbitmq", "sandbox", "worker"))


def test_rabbitmq_is_pinned_with_management_and_a_healthcheck() -> None:
    rabbit = SERVICES["rabbitmq"]
    assert re.fullmatch(r"rabbitmq:3\.13\.\d+-management", rabbit["image"])
    assert rabbit["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert {"5672", "15672"} <= _published(rabbit)


def test_sandbox_serves_both_fakes_and_writes_the_shared_env_file() -> None:
    sandbox = SERVICES["sandbox"]
    command = sandbox["command"]
    assert command[:2] == ["sipline", "sandbox"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--env-file") + 1] == "/shared/sandbox.env"
    assert {"8080", "8081"} <= _published(sandbox)
    assert "healthcheck" in sandbox
    assert "shared:/shared" in sandbox["volumes"]


def test_worker_is_built_from_the_project_and_waits_for_its_dependencies() -> None:
    worker = SERVICES["worker"]
    assert worker["build"] in (".", {"context": "."})
    assert worker["command"] == ["sipline", "run", "--env-file", "/shared/sandbox.env"]
    env = worker["environment"]
    assert env["SIPLINE_AMQP_URL"] == "amqp://guest:guest@rabbitmq:5672/"
    assert env["SIPLINE_METRICS_HOST"] == "0.0.0.0"
    assert "9464" in _published(worker)
    assert worker["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert worker["depends_on"]["sandbox"]["condition"] in ("service_started", "service_healthy")
    assert any(str(v).startswith("shared:/shared") for v in worker["volumes"])
    assert "shared" in COMPOSE["volumes"]
    # the liveness probe that means something (issue 9, item 13), not /metrics
    assert "/healthz" in " ".join(worker["healthcheck"]["test"])


@pytest.mark.parametrize("service", ["sandbox", "worker"])
def test_environment_names_only_real_settings(service: str) -> None:
    known = {f"SIPLINE_{name.upper()}" for name in Settings.model_fields}
    assert set(SERVICES[service].get("environment", {})) <= known


def test_dockerfile_installs_the_project_as_a_non_root_user() -> None:
    assert "python:3.11-slim" in DOCKERFILE
    assert re.search(r"^COPY pyproject\.toml", DOCKERFILE, re.MULTILINE)
    assert re.search(r"pip (wheel|install)\b.*\s\.$", DOCKERFILE, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.MULTILINE)
    assert users
    assert users[-1] not in ("root", "0")


def _compose_plugin() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return None
    probe = subprocess.run(
        [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    return docker if probe.returncode == 0 else None


def test_docker_compose_config_accepts_the_file() -> None:
    docker = _compose_plugin()
    if docker is None:
        pytest.skip("the docker compose plugin is not installed")
    result = subprocess.run(
        [docker, "compose", "-f", str(ROOT / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
