"""`python -m tests.double`: the GitHub API double plus a hookwise server wired to it.

A demo of the whole loop without GitHub: the double holds installation 1 with the
Codertocat/Hello-World repository and pull request #2 (files under docs/), the server gets
App credentials for the double, and `hookwise deliver` can then post the shared pull_request
payload and watch the docs-label rule comment and label on the double.
"""

from __future__ import annotations

import os
import signal
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

    from engine.server.verify import sign

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


def main() -> int:
    """Run the double and the server until interrupted (Ctrl-C or SIGTERM)."""
    signal.signal(signal.SIGTERM, _interrupt)
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
    port = os.environ.get("PORT", "8000")
    env.setdefault("DATABASE_URL", "sqlite:///hookwise-demo.db")
    env.setdefault("HOOKWISE_REPO_RULES", "false")
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--rules", "rules/", "--port", port], env=env
    )
    url = f"http://127.0.0.1:{port}"
    if _healthy(url, server):
        for event, name in DEMO_DELIVERIES:
            _deliver(url, event, name, env["GITHUB_WEBHOOK_SECRET"])
        print(f"demo deliveries sent: browse {url}/ui/ (database {env['DATABASE_URL']})", flush=True)
    try:
        while server.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)
    finally:
        repo = double.world.repo("Codertocat", "Hello-World")
        print(
            f"on the double: labels {repo.issues[2].labels}, {len(repo.issues[2].comments)} comment(s)"
        )
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
