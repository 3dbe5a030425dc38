"""10,000 rules against 10: server start and matching one delivery.

The 10,000-rule set is mixed as the issue asks: 90% name literal repositories (ten rules per
repository over 900 repositories), 5% use owner globs (`org-N/*` over 100 owners), 5% have no
repository filter (each on one of the catalogue's events, with its own activity types). The
10-rule set is ten rules on the event's own repository, all evaluated.

* Start: `hookwise serve` until /health answers, with each set (warm: the compiled-rule
  cache is filled by a first start, as on any restart; the cold first start is printed too).
* Match: one pull_request delivery, per-match time with each set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import peerkit
from bench.common import REPO, header
from engine.lang.files import load_rules
from engine.match.events import parse_event
from engine.match.index import RuleIndex
from engine.match.matcher import match

ITERATIONS = 20_000
SHAPES = [
    {"pull_request": {"branches": ["main", "release/**"]}},
    {"pull_request": {"types": ["opened", "synchronize"]}},
    {"issues": {"types": ["opened"]}},
    {"push": {"branches": ["main"]}},
    {"pull_request": {"types": ["labeled"]}, "issues": {"types": ["labeled"]}},
]
CATCH_ALL_EVENTS = [
    "issues",
    "issue_comment",
    "push",
    "release",
    "create",
    "workflow_run",
    "check_suite",
    "deployment",
    "pull_request_review",
    "star",
    "fork",
    "watch",
]


def _rule(i: int, on: dict[str, object]) -> str:
    body = {
        "name": f"rule-{i:05d}",
        "on": on,
        "nodes": {"log": {"uses": "core.log", "with": {"message": "${{ github.repository }}"}}},
    }
    return json.dumps(body)


def write_rules(folder: Path, count: int) -> None:
    """`count` rules in the mix above (count 10: ten literal rules on org-7/repo-7)."""
    folder.mkdir(parents=True)
    for i in range(count):
        events = SHAPES[i % len(SHAPES)]
        if count == 10:
            on = {"repository": ["org-7/repo-7"], "events": events}
        elif i % 20 == 0:  # 5%: owner globs
            on = {"repository": [f"org-{i % 100}/*"], "events": events}
        elif i % 20 == 1:  # 5%: no repository filter, spread over events and actions
            event = CATCH_ALL_EVENTS[(i // 20) % len(CATCH_ALL_EVENTS)]
            on = {"events": [event]}
        else:  # 90%: literal repositories, ten consecutive rules (every shape) per repository
            repo = (i // 10) % 900
            on = {"repository": [f"org-{repo % 100}/repo-{repo}"], "events": events}
        (folder / f"rule-{i:05d}.yaml").write_text(_rule(i, on))


def _start(rules: Path, cache: Path) -> float:
    port = peerkit.free_port()
    env = {
        **os.environ,
        "GITHUB_WEBHOOK_SECRET": peerkit.SECRET,
        "HOOKWISE_RULES": str(rules),
        "HOOKWISE_CACHE_DIR": str(cache),
        "DATABASE_URL": f"sqlite:///{rules.parent / 'h.db'}",
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=15)


def _per_match(index: RuleIndex, event: object) -> float:
    start = time.perf_counter()
    for _ in range(ITERATIONS):
        match(event, index)  # type: ignore[arg-type]
    return (time.perf_counter() - start) / ITERATIONS


def run() -> dict[str, str]:
    """Measure and print the start and match figures."""
    header("10,000 rules vs 10: server start and match per delivery")
    with tempfile.TemporaryDirectory(prefix="hookwise-rules-") as folder:
        small, large = Path(folder) / "small" / "rules", Path(folder) / "large" / "rules"
        write_rules(small, 10)
        write_rules(large, 10_000)
        cache = Path(folder) / "cache"
        cold = _start(large, cache)
        starts = {"small": [], "large": []}
        for _ in range(2):  # alternate, best of two
            starts["small"].append(_start(small, cache))
            starts["large"].append(_start(large, cache))
        t_small, t_large = min(starts["small"]), min(starts["large"])
        print(
            f"  start: 10 rules {t_small:.2f} s, 10,000 rules {t_large:.2f} s "
            f"(cold, compiling all: {cold:.2f} s)"
        )
        fixture = REPO / "vendor/shared/fixtures/github/webhooks/pull_request/opened.1.json"
        payload = json.loads(fixture.read_text())
        payload["repository"]["full_name"] = "org-7/repo-7"
        payload["pull_request"]["base"]["ref"] = "main"
        event = parse_event("pull_request", payload)
        small_index = RuleIndex(load_rules([str(small)]).rules)
        large_index = RuleIndex(load_rules([str(large)], cache_dir=str(cache)).rules)
        for _ in range(2):
            m_small = _per_match(small_index, event)
            m_large = _per_match(large_index, event)
        print(
            f"  candidates met: 10 rules {len(small_index.candidates(event))}, "
            f"10,000 rules {len(large_index.candidates(event))}"
        )
    start_line = (
        f"start, 10,000 rules vs 10: {t_large:.2f} s vs {t_small:.2f} s: "
        f"{t_large / t_small:.2f}x (target <= 3x)"
    )
    match_line = (
        f"match, 10,000 rules vs 10: {m_large * 1e6:.1f} us vs {m_small * 1e6:.1f} us per "
        f"delivery: {m_large / m_small:.2f}x (target <= 3x)"
    )
    print(start_line)
    print(match_line)
    return {"start": start_line, "match": match_line}
