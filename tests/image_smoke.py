"""`make image-test`: the container image's own files answer a signed delivery.

`podman run` cannot start containers on these machines (setrlimit is refused), so the image
runs with `buildah run --isolation chroot`: the image's filesystem, user and environment, on
the host's network. Its `hookwise db upgrade` prepares a PostgreSQL database on the host, its
`hookwise serve` answers /health and a signed real delivery, which is then read back from
PostgreSQL. Not part of `make test` (it needs the image that `make image` builds).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import shared
from tests.serverkit import SECRET, free_port, signed, wait_until
from tests.storekit import new_postgres_url, require_postgres

IMAGE = os.environ.get("IMAGE", "hookwise")


def inspect() -> dict[str, object]:
    done = subprocess.run(
        ["podman", "image", "inspect", IMAGE], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"no image {IMAGE!r}: run `make image` first ({done.stderr})"
    image = json.loads(done.stdout)[0]
    # podman reports the healthcheck beside Config (docker inspect puts it inside)
    config = dict(image["Config"], Healthcheck=image.get("Healthcheck"))
    return config


@pytest.fixture
def container() -> Iterator[str]:
    if shutil.which("buildah") is None:
        pytest.fail("buildah is not installed (make image-test installs it)")
    inspect()
    name = f"hookwise-smoke-{uuid.uuid4().hex[:8]}"
    subprocess.run(["buildah", "from", "--name", name, IMAGE], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["buildah", "rm", name], check=False, capture_output=True)


def in_image(container: str, env: dict[str, str], *argv: str, **options: object) -> list[str]:
    """The command line that runs argv inside the image, as its own user."""
    flags = [item for key, value in env.items() for item in ("--env", f"{key}={value}")]
    return ["buildah", "run", "--isolation", "chroot", *flags, container, "--", *argv]


def test_the_image_is_non_root_with_a_healthcheck_and_hookwise_as_entrypoint() -> None:
    config = inspect()
    assert config["User"] == "hookwise:hookwise"
    assert config["Entrypoint"] == ["hookwise"]
    health = config.get("Healthcheck")
    assert isinstance(health, dict) and "/health" in " ".join(health["Test"])
    assert "8000/tcp" in (config.get("ExposedPorts") or {})


def test_the_images_server_stores_a_signed_delivery_in_postgres(
    container: str, tmp_path: Path
) -> None:
    require_postgres()
    from tests.storekit import drop_database

    database = new_postgres_url("hookwise_image")
    port = free_port()
    env = {"DATABASE_URL": database, "GITHUB_WEBHOOK_SECRET": SECRET, "PORT": str(port)}
    identity = subprocess.run(
        in_image(container, env, "id", "-u"), capture_output=True, text=True, check=True
    )
    assert identity.stdout.strip() == "10001"  # not root
    upgrade = subprocess.run(
        in_image(container, env, "hookwise", "db", "upgrade"), capture_output=True, text=True
    )
    assert upgrade.returncode == 0, upgrade.stderr
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            in_image(container, env, "hookwise", "serve", "--host", "127.0.0.1", "--port", str(port)),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # buildah's child, the server, is stopped with it
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout=60)
        # the image's HEALTHCHECK command, run in the image, agrees
        check = inspect()["Healthcheck"]
        assert isinstance(check, dict)
        probe = subprocess.run(in_image(container, env, *check["Test"][1:]), capture_output=True)
        assert probe.returncode == 0, probe.stderr
        payload = json.loads(shared("github", "webhooks", "issues", "opened.1.json").read_text())
        body, headers = signed(payload, "issues", "image-smoke-1")
        answer = httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        assert answer.json()["delivery"] == "image-smoke-1"
        with psycopg.connect(database) as db:
            row = db.execute(
                "SELECT event, action FROM deliveries WHERE delivery_id = %s", ("image-smoke-1",)
            ).fetchone()
        assert row == ("issues", "opened")
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        drop_database(database)
    # the server's lines (buildah adds its own about the stop)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line["message"] == f"listening on http://127.0.0.1:{port}" for line in lines)
