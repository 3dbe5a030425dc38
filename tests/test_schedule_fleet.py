"""Rules on a clock across a fleet, as users run one: two `serve --workers 0` replicas and two
`hookwise worker` processes on one PostgreSQL database, an every-minute rule over the three
repositories of an installation (learnt from GitHub's real `installation` webhook), the
GitHub double behind them. Three minutes give exactly one run per repository per minute, each
started within 2 s of its minute, and one issue per run on GitHub; a worker SIGKILLed after
the first minute changes nothing. Real time: it takes a little over three minutes."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import shared
from tests.double import GitHubDouble
from tests.serverkit import (
    SECRET,
    free_port,
    signed,
    start_process,
    stop_process,
    wait_until,
    write_rule,
)

REPORT_RULE = """\
name: minute-report
on:
  repository: [octo-org/*]
  schedule:
    - cron: '* * * * *'   # hookwise: ignore=cron-frequency
nodes:
  report:
    uses: github.issue.create
    with:
      title: report ${{ event.schedule.tick }}
      body: the minute's report for ${{ github.repository }}
"""
REPOSITORIES = ["octo-org/api", "octo-org/docs", "octo-org/web"]
TICKS = 3


def installation_created() -> dict[str, Any]:
    """GitHub's real `installation` created payload, for installation 1 of octo-org with three
    repositories."""
    payload = json.loads(shared("github", "webhooks", "installation", "created.1.json").read_text())
    payload["installation"]["id"] = 1
    payload["installation"]["account"]["login"] = "octo-org"
    template = payload["repositories"][0]
    payload["repositories"] = [
        {**template, "id": index, "name": name.split("/")[1], "full_name": name}
        for index, name in enumerate(REPOSITORIES, start=1)
    ]
    return payload


@pytest.mark.slow
def test_every_minute_runs_once_per_repository_across_replicas_and_workers(
    tmp_path: Path, github: GitHubDouble, fresh_postgres_url: str
) -> None:
    database = fresh_postgres_url
    github.add_installation(1, "octo-org", repositories=REPOSITORIES)
    for name in [*REPOSITORIES, "octo-org/archive"]:  # the archive is not in the installation
        github.world.repo(*name.split("/"))
    rules = write_rule(tmp_path / "rules", "minute-report", REPORT_RULE)
    env = {
        **os.environ,
        "HOOKWISE_RULES": str(rules),
        "DATABASE_URL": database,
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_APP_ID": github.app_id,
        "GITHUB_APP_PRIVATE_KEY": github.private_key_pem,
        "GITHUB_API_BASE_URL": github.url,
        "HOOKWISE_REPO_RULES": "false",
        "HOOKWISE_GITHUB_WRITE_GAP": "0",
        "GITHUB_APP_SLUG": "hookwise-test",
        "HOOKWISE_LEASE_SECONDS": "3",
    }
    env.pop("HOOKWISE_LOG_LEVEL", None)  # the default level, as a user runs it
    upgrade = start_process(["db", "upgrade"], env, tmp_path / "db.log")
    assert upgrade.wait(timeout=60) == 0
    ports = [free_port(), free_port()]
    processes = [
        start_process(
            ["serve", "--port", str(port), "--workers", "0"],
            env,
            tmp_path / f"replica-{index}.log",
            health=f"http://127.0.0.1:{port}/health",
        )
        for index, port in enumerate(ports)
    ]
    workers = [
        start_process(["worker"], env, tmp_path / f"worker-{index}.log") for index in range(2)
    ]
    processes.extend(workers)
    try:
        body, headers = signed(installation_created(), "installation", "install-1")
        answer = httpx.post(f"http://127.0.0.1:{ports[0]}/webhooks/github", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        # every process is up: the first tick counted is the next whole minute
        first = (int(time.time() // 60) + 1) * 60.0
        ticks = [first + 60.0 * i for i in range(TICKS)]
        with psycopg.connect(database, autocommit=True) as db:

            def runs_of(tick: float) -> list[tuple[Any, ...]]:
                return db.execute(
                    "SELECT t.target, r.status, r.started_at FROM schedule_ticks t"
                    " JOIN runs r ON r.delivery_id = t.delivery_id"
                    " WHERE t.rule = 'minute-report' AND t.tick = %s",
                    (tick,),
                ).fetchall()

            wait_until(lambda: len(runs_of(ticks[0])) == 3, timeout=first - time.time() + 30, interval=0.2)
            workers[0].send_signal(signal.SIGKILL)  # midway: between the first and second minute
            workers[0].wait()
            wait_until(lambda: len(runs_of(ticks[-1])) == 3, timeout=ticks[-1] - time.time() + 30, interval=0.2)
            decided = db.execute(
                "SELECT target, tick, outcome, late FROM schedule_ticks WHERE rule = 'minute-report'"
                " AND tick >= %s AND tick <= %s ORDER BY tick, target",
                (ticks[0], ticks[-1]),
            ).fetchall()
            started = {tick: runs_of(tick) for tick in ticks}
        assert [(t, tick, o) for t, tick, o, _ in decided] == [
            (name, tick, "run") for tick in ticks for name in REPOSITORIES
        ]
        for tick, runs in started.items():
            assert sorted(r[0] for r in runs) == REPOSITORIES  # once per repository
            assert {r[1] for r in runs} == {"success"}
            late = [round(r[2] - tick, 3) for r in runs]
            assert all(0 <= s <= 2.0 for s in late), (datetime.fromtimestamp(tick, UTC), late)
        for name in REPOSITORIES:
            titles = sorted(i.title for i in github.world.repo(*name.split("/")).issues.values())
            wanted = sorted(
                f"report {datetime.fromtimestamp(t, UTC).isoformat().replace('+00:00', 'Z')}"
                for t in ticks
            )
            assert [t for t in titles if t in wanted] == wanted, (name, titles)
            assert len(titles) == len(set(titles)), (name, titles)  # no tick twice
        assert github.world.repo("octo-org", "archive").issues == {}
        metrics = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics").text
        assert "hookwise_schedule_ticks_total" in metrics
    finally:
        for process in processes:
            stop_process(process)
