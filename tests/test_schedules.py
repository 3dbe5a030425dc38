"""Rules on a clock: GitHub Actions' cron in a zone, which ticks run or were missed after
downtime, `within()` windows, and `simulate --at` deciding a window both ways."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.expr.windows import WindowError, parse_window, within
from engine.lang.cron import CronError, parse_cron, plan_ticks
from tests.conftest import CliResult, shared

Cli = Callable[..., CliResult]
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 12, 4, 10, 7, 30, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("expression", "zone", "after", "expected"),
    [
        ("30 5 * * 1-5", "Europe/Paris", T0, ["2026-12-07T04:30", "2026-12-08T04:30"]),
        ("*/15 * * * *", None, T0, ["2026-12-04T10:15", "2026-12-04T10:30"]),
        ("0 12 * * SAT", None, T0, ["2026-12-05T12:00", "2026-12-12T12:00"]),
        ("0 0 1 JAN *", None, T0, ["2027-01-01T00:00", "2028-01-01T00:00"]),
    ],
)
def test_cron_ticks_are_githubs_in_the_zone(
    expression: str, zone: str | None, after: datetime, expected: list[str]
) -> None:
    ticks = parse_cron(expression, zone).next_times(after, 2)
    assert [t.strftime("%Y-%m-%dT%H:%M") for t in ticks] == expected


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("* * * * * *", None, "has 6 field(s)"),
        ("@daily", None, "has 1 field(s)"),
        ("0 L * * *", None, "the hour field 'L' is not GitHub Actions' syntax"),
        ("0 12 * * 1#2", None, "day of week field '1#2'"),
        ("61 * * * *", None, "the minute field '61' is out of range (minute takes 0-59)"),
        ("0 0 31 2 *", None, "day of month field '31'"),
        ("0 0 * * *", "Europe/Pariss", "unknown time zone 'Europe/Pariss'"),
        ("0 0 * * *", "../../etc/passwd", "unknown time zone"),
    ],
)
def test_bad_crons_and_zones_say_why(expression: str, zone: str | None, says: str) -> None:
    with pytest.raises(CronError, match=None) as raised:
        parse_cron(expression, zone)
    assert says in str(raised.value)


def test_after_downtime_the_newest_tick_runs_and_the_older_ones_are_missed() -> None:
    every_minute = parse_cron("* * * * *")
    last = datetime(2026, 12, 4, 10, 3, tzinfo=UTC)  # decided before everything stopped
    plan = plan_ticks(every_minute, last, T0)
    assert plan.run == datetime(2026, 12, 4, 10, 7, tzinfo=UTC)
    assert [t.minute for t in plan.missed] == [4, 5, 6]
    # the same moment again: nothing to do (the newest tick was decided)
    assert plan_ticks(every_minute, plan.run, T0 + timedelta(seconds=20)).run is None


def test_a_long_downtime_keeps_a_bounded_list_of_missed_ticks() -> None:
    plan = plan_ticks(parse_cron("* * * * *"), T0 - timedelta(days=1), T0)
    assert len(plan.missed) == 100 and plan.missed_beyond == 24 * 60 - 101


@pytest.mark.parametrize(
    ("window", "zone", "moment", "inside"),
    [
        ("Fri 15:00-Mon 08:00", "Europe/Berlin", datetime(2026, 12, 4, 16, 0, tzinfo=BERLIN), True),
        ("Fri 15:00-Mon 08:00", "Europe/Berlin", datetime(2026, 12, 4, 14, 59, tzinfo=BERLIN), False),
        ("Fri 15:00-Mon 08:00", "Europe/Berlin", datetime(2026, 12, 7, 7, 59, tzinfo=BERLIN), True),
        ("Fri 15:00-Mon 08:00", "Europe/Berlin", datetime(2026, 12, 7, 8, 0, tzinfo=BERLIN), False),
        # 14:30 UTC is 15:30 in Berlin: the zone decides
        ("Fri 15:00-Mon 08:00", "Europe/Berlin", datetime(2026, 12, 4, 14, 30, tzinfo=UTC), True),
        ("Fri 15:00-Mon 08:00", "UTC", datetime(2026, 12, 4, 14, 30, tzinfo=UTC), False),
        ("Mon-Fri 09:00-17:00", "UTC", datetime(2026, 12, 4, 9, 0, tzinfo=UTC), True),
        ("Mon-Fri 09:00-17:00", "UTC", datetime(2026, 12, 4, 17, 0, tzinfo=UTC), False),
        ("Mon-Fri 09:00-17:00", "UTC", datetime(2026, 12, 5, 10, 0, tzinfo=UTC), False),
        ("Sat,Sun 00:00-24:00", "UTC", datetime(2026, 12, 6, 23, 59, tzinfo=UTC), True),
        ("Mon-Fri 22:00-06:00", "UTC", datetime(2026, 12, 5, 5, 0, tzinfo=UTC), True),
        ("Mon-Fri 22:00-06:00", "UTC", datetime(2026, 12, 7, 5, 0, tzinfo=UTC), False),
        ("Fri-Mon 12:00-13:00", "UTC", datetime(2026, 12, 6, 12, 30, tzinfo=UTC), True),
    ],
)
def test_within_decides_weekly_windows(
    window: str, zone: str, moment: datetime, inside: bool
) -> None:
    assert within(window, zone, moment.timestamp()) is inside


@pytest.mark.parametrize("window", ["Mon-Fri 9-17", "Fri 15:00-Fri 15:00", "Mon 25:00-26:00", "Fri"])
def test_unreadable_windows_are_errors(window: str) -> None:
    with pytest.raises(WindowError):
        parse_window(window)


FREEZE = """\
name: merge-freeze
on:
  events:
    pull_request:
      types: [opened]
if: ${{ !within('Fri 15:00-Mon 08:00', 'Europe/Berlin') }}
nodes:
  log:
    uses: core.log
    with:
      message: outside the freeze
"""


@pytest.mark.parametrize(
    ("at", "matched"),
    [("2026-12-04T16:00+01:00", False), ("2026-12-03T16:00+01:00", True), ("2026-12-07T07:00Z", True)],
)
def test_simulate_at_decides_a_window_both_ways(
    tmp_path: Path, cli: Cli, at: str, matched: bool
) -> None:
    (tmp_path / "freeze.yaml").write_text(FREEZE)
    payload = shared("github", "webhooks", "pull_request", "opened.1.json")
    code, out, err = cli(
        "simulate", "--event", "pull_request", "--payload", str(payload),
        "--rules", str(tmp_path), "--at", at, "--format", "json",
    )
    assert (code, err) == (0, "")
    decided = json.loads(out)
    assert [m["rule"] for m in decided["matched"]] == (["merge-freeze"] if matched else [])
    if not matched:
        [reason] = decided["not_matched"]
        assert "within('Fri 15:00-Mon 08:00', 'Europe/Berlin')" in reason["reason"]


def test_at_must_be_a_time(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "freeze.yaml").write_text(FREEZE)
    payload = shared("github", "webhooks", "pull_request", "opened.1.json")
    code, _, err = cli(
        "simulate", "--event", "pull_request", "--payload", str(payload),
        "--rules", str(tmp_path), "--at", "friday afternoon",
    )
    assert code == 2 and "--at 'friday afternoon': write an ISO 8601 time" in err


# --- the scheduler on a real store (both backends) ------------------------------------------

EVERY_MINUTE = """\
name: every-minute
on:
  repository: [octo-org/*]
  schedule:
    - cron: '* * * * *'
nodes:
  log:
    uses: core.log
    with:
      message: tick for ${{ github.repository }} at ${{ event.schedule.tick }}
"""
REPOSITORIES = ["octo-org/api", "octo-org/web", "octo-org/docs", "other-org/secret"]
MINUTE = 60.0
START = datetime(2026, 12, 4, 10, 0, 30, tzinfo=UTC).timestamp()


def _scheduled_rule(tmp_path: Path, text: str = EVERY_MINUTE) -> Any:
    from engine.lang.files import load_rules
    from engine.nodes import default_registry

    (tmp_path / "rule.yaml").write_text(text)
    [rule] = load_rules([str(tmp_path / "rule.yaml")], default_registry()).rules
    return rule


def _schedulers(store: Any, rule: Any, now: list[float], count: int) -> list[Any]:
    from engine.observe.metrics import Metrics
    from engine.workers.scheduler import Scheduler

    return [Scheduler(store, [rule], Metrics(), clock=lambda: now[0]) for _ in range(count)]


def test_two_schedulers_run_each_tick_once_per_selected_repository(
    store_factory: Any, tmp_path: Path
) -> None:
    import asyncio

    store = store_factory()
    store.upsert_installation(7, account="octo-org", account_type="Organization",
                              repositories=REPOSITORIES)
    rule = _scheduled_rule(tmp_path)
    now = [START]
    first, second = _schedulers(store, rule, now, 2)

    async def minutes() -> list[int]:
        claimed = []
        for minute in range(1, 4):
            now[0] = START - 30 + minute * MINUTE + 0.2  # 0.2 s after the minute
            claimed.append(sum(await asyncio.gather(first.decide(now[0]), second.decide(now[0]))))
        return claimed

    assert asyncio.run(minutes()) == [3, 3, 3]  # three repositories of octo-org, once each
    ticks = store.schedule_ticks("every-minute")
    per_repository = {t["target"]: sum(1 for x in ticks if x["target"] == t["target"]) for t in ticks}
    assert per_repository == {"octo-org/api": 3, "octo-org/web": 3, "octo-org/docs": 3}
    assert all(t["outcome"] == "run" and 0 <= t["late"] < 2 for t in ticks)
    deliveries = [store.delivery(t["delivery_id"]) for t in ticks]
    assert {d.event for d in deliveries} == {"schedule"}
    assert {d.repository for d in deliveries} == set(per_repository)
    assert store.queue_stats().queued == 9


def test_after_downtime_the_last_tick_runs_once_and_the_others_are_missed(
    store_factory: Any, tmp_path: Path
) -> None:
    import asyncio

    store = store_factory()
    store.upsert_installation(7, account="octo-org", account_type="Organization",
                              repositories=["octo-org/api"])
    rule = _scheduled_rule(tmp_path)
    now = [START]
    [before] = _schedulers(store, rule, now, 1)
    now[0] = START + 30.1  # 10:01:00.1
    assert asyncio.run(before.decide(now[0])) == 1
    # every process stops for three periods; two come back at 10:04:20
    now[0] = START + 3 * MINUTE + 50
    again = _schedulers(store, rule, now, 2)

    async def restart() -> int:
        return sum(await asyncio.gather(*(s.decide(now[0]) for s in again)))

    assert asyncio.run(restart()) == 1
    ticks = sorted(store.schedule_ticks("every-minute"), key=lambda t: t["tick"])
    shown = [(datetime.fromtimestamp(t["tick"], UTC).strftime("%H:%M"), t["outcome"]) for t in ticks]
    assert shown == [("10:01", "run"), ("10:02", "missed"), ("10:03", "missed"), ("10:04", "run")]
    assert ticks[-1]["late"] == pytest.approx(20.0)
    assert store.queue_stats().queued == 2


def test_a_false_if_records_the_tick_without_a_run(store_factory: Any, tmp_path: Path) -> None:
    import asyncio

    store = store_factory()
    store.upsert_installation(7, account="octo-org", account_type="Organization",
                              repositories=["octo-org/api"])
    text = EVERY_MINUTE.replace("nodes:", "if: ${{ !within('Fri 10:00-Fri 10:02', 'UTC') }}\nnodes:")
    rule = _scheduled_rule(tmp_path, text)
    now = [START]
    [scheduler] = _schedulers(store, rule, now, 1)
    outcomes = []
    for minute in (1, 2, 3):  # Friday 10:01 is inside the window; its end, 10:02, is not
        now[0] = START - 30 + minute * MINUTE + 0.1
        asyncio.run(scheduler.decide(now[0]))
    for tick in sorted(store.schedule_ticks("every-minute"), key=lambda t: t["tick"]):
        outcomes.append(tick["outcome"])
    assert outcomes == ["skipped", "run", "run"]
    assert store.queue_stats().queued == 2


def test_the_delivery_log_shows_a_tick_beside_webhooks(tmp_path: Path) -> None:
    """A tick decided by the scheduler is a delivery of the event `schedule`: listed, and its
    page shows the schedule, the tick, the target and the run."""
    import asyncio

    from fastapi.testclient import TestClient

    from engine.edge.web import create_app
    from engine.observe.metrics import Metrics
    from engine.workers.scheduler import Scheduler
    from tests.serverkit import server_settings

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rule.yaml").write_text(EVERY_MINUTE)
    settings = server_settings(tmp_path, rules, workers=1)
    with TestClient(
        create_app(settings), base_url="http://localhost:8000", client=("127.0.0.1", 50000)
    ) as client:
        store = client.app.state.hookwise.store  # type: ignore[attr-defined]
        store.upsert_installation(7, account="octo-org", account_type="Organization",
                                  repositories=["octo-org/api"])
        rule = _scheduled_rule(tmp_path)
        now = [time.time()]
        scheduler = Scheduler(store, [rule], Metrics(), clock=lambda: now[0])
        scheduler.started = now[0] - 61  # as if it had run for a minute
        asyncio.run(scheduler.decide(now[0]))
        [tick] = [t for t in store.schedule_ticks("every-minute") if t["outcome"] == "run"]
        listed = client.get("/ui/?event=schedule")
        assert listed.status_code == 200 and tick["delivery_id"] in listed.text
        page = client.get(f"/ui/deliveries/{tick['delivery_id']}")
        assert page.status_code == 200
        assert "octo-org/api" in page.text and "* * * * *" in page.text
        metrics = client.get("/metrics").text
        assert "hookwise_schedule_ticks_total" in metrics


def test_the_installations_repositories_are_read_from_github(
    store_factory: Any, tmp_path: Path, github: Any
) -> None:
    """At start (and every hour) each active installation's repositories are read from
    GET /installation/repositories, all pages, and kept; the ticks then run for them."""
    import asyncio

    from engine.github.client import GitHubClient
    from engine.github.credentials import AppCredentials
    from engine.observe.metrics import Metrics
    from engine.workers.scheduler import Scheduler
    from tests.double import APP_ID

    github.add_installation(7, "octo-org", repositories=["octo-org/api", "octo-org/web"])
    for name in ("api", "web", "private"):
        github.world.repo("octo-org", name)
    store = store_factory()
    store.upsert_installation(7, account="octo-org", account_type="Organization")
    rule = _scheduled_rule(tmp_path)

    async def refresh() -> None:
        client = GitHubClient(AppCredentials.from_pem(APP_ID, github.private_key_pem), base_url=github.url)
        try:
            scheduler = Scheduler(store, [rule], Metrics(), installation_api=client.installation)
            await scheduler.refresh_repositories()
        finally:
            await client.aclose()

    asyncio.run(refresh())
    assert store.installation(7)["repositories"] == ["octo-org/api", "octo-org/web"]
    assert len(github.calls("apps/list-repos-accessible-to-installation")) == 1


def test_run_at_decides_a_window_too(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "freeze.yaml").write_text(FREEZE)
    payload = shared("github", "webhooks", "pull_request", "opened.1.json")
    base = ["run", "--dry-run", "--event", "pull_request", "--payload", str(payload),
            "--rules", str(tmp_path), "--format", "json"]
    _, frozen, _ = cli(*base, "--at", "2026-12-04T16:00+01:00")
    _, open_, _ = cli(*base, "--at", "2026-12-03T16:00+01:00")
    assert json.loads(frozen)["runs"] == []
    assert [r["rule"] for r in json.loads(open_)["runs"]] == ["merge-freeze"]


# --- what an attack on schedules found, kept fixed ---------------------------------------------


def test_in_the_hour_a_clock_change_repeats_the_next_tick_is_ahead() -> None:
    berlin = parse_cron("30 2 * * *", "Europe/Berlin")
    moment = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET, after 02:30 CEST passed
    assert next(berlin.after(moment)) > moment


def test_a_year_of_downtime_is_decided_at_once() -> None:
    import time as clock

    started = clock.perf_counter()
    plan = plan_ticks(parse_cron("* * * * *"), T0 - timedelta(days=365), T0)
    assert clock.perf_counter() - started < 0.5
    assert len(plan.missed) == 100 and plan.missed_beyond == 365 * 24 * 60 - 101


@pytest.mark.parametrize("zone", ["Europe", "x" * 300, "../etc/passwd", "Europe/../../etc"])
def test_zone_names_that_are_no_zone_are_errors_not_crashes(zone: str) -> None:
    with pytest.raises(CronError):
        parse_cron("0 0 * * *", zone)
    with pytest.raises(WindowError):
        within("Mon 00:00-Tue 00:00", zone, 0.0)


@pytest.mark.parametrize("span", ["999999999d", "9" * 5000 + "d", "99999999w", "1x"])
def test_ago_beyond_the_calendar_is_an_evaluation_error(span: str) -> None:
    from engine.expr.evaluate import EvaluationError, evaluate
    from engine.expr.parse import parse_condition
    from engine.expr.tree import DECISION_TIME

    with pytest.raises(EvaluationError):
        evaluate(parse_condition(f"ago('{span}')"), {DECISION_TIME: 1.7e9})


def test_a_tick_off_the_rules_cron_does_not_run_it(tmp_path: Path, cli: Cli) -> None:
    weekdays = EVERY_MINUTE.replace("'* * * * *'", "'0 9 * * 1-5'\n      timezone: Europe/Paris")
    (tmp_path / "rule.yaml").write_text(weekdays)
    tick = {"repository": {"full_name": "octo-org/api", "name": "api", "owner": {"login": "octo-org"}},
            "installation": {"id": 1}}
    decided = {}
    for when in ("2026-12-04T08:00:00Z", "2026-12-05T08:00:00Z", "2026-12-04T08:01:00Z"):  # Fri, Sat
        (tmp_path / "tick.json").write_text(json.dumps({**tick, "schedule": {"tick": when}}))
        _, out, _ = cli("simulate", "--event", "schedule", "--payload", str(tmp_path / "tick.json"),
                        "--rules", str(tmp_path / "rule.yaml"), "--format", "json")
        result = json.loads(out)
        decided[when] = "run" if result["matched"] else result["not_matched"][0]["reason"]
    assert decided == {
        "2026-12-04T08:00:00Z": "run",
        "2026-12-05T08:00:00Z": "2026-12-05T08:00:00Z is no tick of 0 9 * * 1-5 (Europe/Paris)",
        "2026-12-04T08:01:00Z": "2026-12-04T08:01:00Z is no tick of 0 9 * * 1-5 (Europe/Paris)",
    }


def test_a_rule_test_gives_the_time_a_window_is_decided_at(tmp_path: Path, cli: Cli) -> None:
    (tmp_path / "freeze.yaml").write_text(FREEZE)
    (tmp_path / "freeze.test.yaml").write_text(
        "cases:\n"
        "  - name: frozen on Friday afternoon\n    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n    at: '2026-12-04T16:00+01:00'\n"
        "    expect: {matched: [], not-matched: {merge-freeze: within}}\n"
        "  - name: open on Thursday\n    event: pull_request\n"
        "    payload: {example: pull_request/opened.1}\n    at: '2026-12-03T16:00+01:00'\n"
        "    expect: {matched: [merge-freeze]}\n"
    )
    code, out, _ = cli("test", str(tmp_path))
    assert code == 0, out
