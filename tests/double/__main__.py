"""`python -m tests.double`: the GitHub API double plus a hookwise server wired to it.

A demo of the whole loop without GitHub: the double holds installation 1 with the
Codertocat/Hello-World repository and pull request #2 (files under docs/), the server gets
App credentials for the double, and `hookwise deliver` can then post the shared pull_request
payload and watch the docs-label rule comment and label on the double.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.double import GitHubDouble

SECRET = "hookwise-development-secret"


FIXTURES = Path(__file__).resolve().parents[2] / "vendor" / "shared" / "fixtures" / "github" / "webhooks"
# a few real deliveries: a pull request most rules look at, an issue, a push, a ping
DEMO_DELIVERIES = (
    ("ping", "ping/ping.1"),
    ("installation", "installation/created.1"),
    ("pull_request", "pull_request/opened.2"),
    ("issues", "issues/opened.1"),
    ("pull_request", "pull_request/labeled.1"),
    ("push", "push/push.1"),
)


def _healthy(url: str, server: subprocess.Popen[bytes]) -> bool:
    """Wait for the server's /health (False if it exited)."""
    import httpx

    for _ in range(120):
        if server.poll() is not None:
            return False
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    return False


def _deliver(url: str, event: str, name: str, secret: str) -> None:
    """Sign and post one shared fixture, as GitHub would."""
    import httpx

    from engine.edge.verify import sign

    path = FIXTURES / f"{name}.json"
    if not path.exists():
        print(f"(no fixture {path}; skipped)", flush=True)
        return
    body = path.read_bytes()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
    }
    answer = httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=10)
    print(f"  {event} {name}: {answer.status_code} {answer.text[:120]}", flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _port_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port (the demo posts only to a server it started)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main() -> int:
    """Run the double and the server until interrupted (Ctrl-C or SIGTERM); 1 when the server
    cannot start."""
    signal.signal(signal.SIGTERM, _interrupt)
    port = os.environ.get("PORT", "8000")
    if not port.isdigit():
        print(f"demo: PORT must be a port number, not {port!r}", file=sys.stderr)
        return 1
    if not _port_free(int(port)):
        print(f"demo: port {port} on 127.0.0.1 is in use; choose another: PORT=N make demo", file=sys.stderr)
        return 1
    double = GitHubDouble().start()
    double.add_installation(1, "Codertocat")
    double.world.add_pull(
        "Codertocat/Hello-World",
        2,
        files=["docs/guide.md", "README.md"],
        labels=["bug"],
        head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
    )
    key = Path(tempfile.mkdtemp()) / "app.pem"
    key.write_text(double.private_key_pem)
    env = {
        **os.environ,
        "GITHUB_APP_ID": double.app_id,
        "GITHUB_APP_PRIVATE_KEY_PATH": str(key),
        "GITHUB_API_BASE_URL": double.url,
        "GITHUB_WEBHOOK_SECRET": os.environ.get("GITHUB_WEBHOOK_SECRET", SECRET),
    }
    print(f"GitHub API double on {double.url} (App {double.app_id}, installation 1)", flush=True)
    # its own database, never an exported DATABASE_URL (that may be the real one)
    env["DATABASE_URL"] = os.environ.get("DEMO_DATABASE_URL", "sqlite:///hookwise-demo.db")
    env.setdefault("HOOKWISE_REPO_RULES", "false")
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--rules", "rules/", "--port", port], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        if not _healthy(url, server):
            print(f"demo: the server did not start (exit code {server.poll()})", file=sys.stderr)
            return 1
        for event, name in DEMO_DELIVERIES:
            _deliver(url, event, name, env["GITHUB_WEBHOOK_SECRET"])
        print(f"demo deliveries sent: browse {url}/ui/ (database {env['DATABASE_URL']})", flush=True)
        while server.poll() is None:
            time.sleep(0.5)
        return 0 if server.returncode in (0, -signal.SIGINT) else 1
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=10)
        repo = double.world.repo("Codertocat", "Hello-World")
        print(
            f"on the double: labels {repo.issues[2].labels}, {len(repo.issues[2].comments)} comment(s)"
        )
        double.stop()


if __name__ == "__main__":
    sys.exit(main())
