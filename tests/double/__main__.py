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
from pathlib import Path

from tests.double import GitHubDouble

SECRET = "hookwise-development-secret"


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
    print(
        "try: .venv/bin/hookwise deliver ../shared/fixtures/github/webhooks/pull_request/opened.2.json "
        f"--event pull_request --url http://127.0.0.1:8000/webhooks/github --secret {env['GITHUB_WEBHOOK_SECRET']}",
        flush=True,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--rules", "rules/"], env=env
    )
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
