"""Checking `on: schedule`: each cron is GitHub Actions' five-field cron, each time zone an
IANA name, and the filters only a webhook carries are not applied to a scheduled run."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from typing import Any

from engine.lang.checks.base import DocumentChecker
from engine.lang.cron import SHORTEST_USUAL, CronError, parse_cron, period, zone_names
from engine.lang.model import Schedule

# the one filter a scheduled run can be decided by: which repositories it runs for
SCHEDULE_FILTERS = frozenset({"repository"})
# validate shows the next times from a fixed moment, so its output does not change by the day
SHOWN_FROM = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


class ScheduleChecker(DocumentChecker):
    """Checks `on: schedule` and compiles it into Schedules."""

    def schedules(self, on: dict[str, Any], repository: Any) -> tuple[Schedule, ...]:
        """The compiled entries (`repository`: the rule's compiled repository patterns)."""
        entries = on.get("schedule")
        if not isinstance(entries, list):
            return ()
        for key in on:
            if key not in SCHEDULE_FILTERS and key not in ("events", "schedule"):
                where = "move it under its event in `events:`" if "events" in on else "drop it"
                self.at_key(
                    ("on", key),
                    "filter-not-allowed",
                    f'"{key}" filters webhook deliveries; a scheduled run has none to filter '
                    f"(only \"repository\" applies to `schedule`): {where}",
                )
        result = []
        for index, entry in enumerate(entries):
            if isinstance(entry, dict) and isinstance(entry.get("cron"), str):
                found = self.schedule(entry, ("on", "schedule", index), repository)
                if found is not None:
                    result.append(found)
        return tuple(result)

    def schedule(
        self, entry: dict[str, Any], path: tuple[Any, ...], repository: Any
    ) -> Schedule | None:
        zone = entry.get("timezone")
        if isinstance(zone, str):
            try:
                parse_cron("0 0 * * *", zone)
            except CronError:
                self.at_value(
                    (*path, "timezone"),
                    "bad-timezone",
                    f"unknown time zone {zone!r}{_near_zone(zone)}"
                    " (IANA names such as Europe/Paris, America/New_York or UTC)",
                )
                return None
        try:
            cron = parse_cron(entry["cron"], zone if isinstance(zone, str) else None)
        except CronError as exc:
            self.at_value((*path, "cron"), "bad-cron", str(exc))
            return None
        every = period(cron, SHOWN_FROM)
        if every < SHORTEST_USUAL:
            times = ", ".join(t.astimezone(cron.zone()).strftime("%H:%M") for t in
                              cron.next_times(SHOWN_FROM))
            self.at(
                self.doc.source_map.value((*path, "cron")),
                "cron-frequency",
                f"cron {cron.expression!r} fires every {_minutes(every)} (at {times}, ... "
                f"{cron.timezone}); GitHub Actions' shortest interval is 5 minutes: "
                "did you mean a fixed minute such as '0 * * * *' (hourly)?",
                severity="warning",
            )
        return Schedule(
            cron.expression, cron.timezone, str(entry.get("per", "repository")), repository
        )


def _near_zone(zone: str) -> str:
    """`; did you mean "X"?` for a close IANA name (never the whole list of ~600)."""
    close = difflib.get_close_matches(zone, sorted(zone_names()), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _minutes(every: Any) -> str:
    minutes = int(every.total_seconds() // 60)
    return "minute" if minutes == 1 else f"{minutes} minutes"
