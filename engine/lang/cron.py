"""Schedules (`on: schedule`): GitHub Actions' five-field cron in an IANA time zone, and which
ticks to run or record as missed. Pure: times in, times out (cronsim does the calendar).

GitHub Actions' cron has five fields (minute, hour, day of month, month, day of week) with
`* , - /` and month and day names; cronsim also reads seconds, `L`, `W`, `#` and `?`, which
GitHub does not, so those are refused here before cronsim sees the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from cronsim import CronSim, CronSimError

from engine.expr.windows import WindowError, zone_of

FIELDS = ("minute", "hour", "day of month", "month", "day of week")
_NAMES = re.compile(
    r"\b(?:JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT)\b", re.I
)
_FIELD = re.compile(r"[0-9*,/-]+")
# A period under GitHub's shortest interval is allowed, but said (it is often a typo for 0 * ...)
SHORTEST_USUAL = timedelta(minutes=5)
# Ticks recorded as missed after downtime, at most (older ones are summed in one count)
MISSED_KEPT = 100


class CronError(ValueError):
    """A cron expression or time zone that cannot be used; the message says why."""


@dataclass(frozen=True)
class Cron:
    """One `schedule:` entry: its expression and zone."""

    expression: str
    timezone: str = "UTC"

    def zone(self) -> ZoneInfo:
        """The entry's time zone."""
        return zone_named(self.timezone)

    def after(self, moment: datetime) -> Iterator[datetime]:
        """The ticks strictly after `moment`, in UTC."""
        local = moment.astimezone(self.zone())
        for tick in CronSim(self.expression, local):
            # in an hour a clock change repeats, cronsim may give a tick already past: skip it
            # (otherwise a scheduler waiting for the next tick would not wait at all)
            if tick.astimezone(UTC) > moment:
                yield tick.astimezone(UTC)

    def at_or_before(self, moment: datetime) -> datetime:
        """The last tick at or before `moment`, in UTC."""
        local = moment.astimezone(self.zone()) + timedelta(seconds=1)
        return next(iter(CronSim(self.expression, local, reverse=True))).astimezone(UTC)

    def next_times(self, moment: datetime, count: int = 3) -> list[datetime]:
        """The next `count` ticks after `moment`."""
        ticks = self.after(moment)
        return [next(ticks) for _ in range(count)]


def parse_cron(expression: str, timezone: str | None = None) -> Cron:
    """A checked Cron, or CronError naming the field or zone at fault."""
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise CronError(
            f"cron {expression!r} has {len(fields)} field(s); GitHub Actions' cron has five: "
            "minute hour day-of-month month day-of-week (e.g. '30 5 * * 1-5')"
        )
    for name, text in zip(FIELDS, fields, strict=True):
        if not _FIELD.fullmatch(_NAMES.sub("0", text)):
            raise CronError(
                f"cron {expression!r}: the {name} field {text!r} is not GitHub Actions' syntax "
                "(numbers, names such as MON or JAN, and * , - /)"
            )
    cron = Cron(expression, timezone or "UTC")
    cron.zone()
    try:
        next(iter(CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))))
    except CronSimError as exc:
        raise CronError(f"cron {expression!r}: {_why(str(exc), fields)}") from None
    except StopIteration:
        raise CronError(f"cron {expression!r} never fires") from None
    return cron


_RANGES = {
    "minute": "0-59",
    "hour": "0-23",
    "day of month": "1-31",
    "month": "1-12 or JAN-DEC",
    "day of week": "0-6 or SUN-SAT",
}


def _why(message: str, fields: list[str]) -> str:
    """cronsim's "Bad minute" as the field, what was written and the range it takes."""
    for index, name in enumerate(FIELDS):
        if message.lower() == f"bad {name.replace(' ', '-')}":
            return f"the {name} field {fields[index]!r} is out of range ({name} takes {_RANGES[name]})"
    return message.lower()


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone (engine.expr.windows reads zone names for both), or CronError."""
    try:
        return zone_of(name)
    except WindowError:
        raise CronError(f"unknown time zone {name[:64]!r}") from None


@cache
def zone_names() -> frozenset[str]:
    """Every IANA zone name this Python knows."""
    return frozenset(available_timezones())


def period(cron: Cron, moment: datetime) -> timedelta:
    """The time from the first tick after `moment` to the next (the schedule's period there)."""
    first, second = cron.next_times(moment, 2)
    return second - first


@dataclass(frozen=True)
class TickPlan:
    """What to do about the ticks since one was last decided: run one, record the others."""

    run: datetime | None
    missed: tuple[datetime, ...] = ()
    missed_beyond: int = 0  # missed ticks older than the kept ones, counted only


def plan_ticks(cron: Cron, last: datetime, now: datetime) -> TickPlan:
    """The ticks after `last` (the newest already decided, or when deciding began) up to
    `now`: the newest runs (it is younger than one period, since no later tick has come), the
    older ones were missed while nothing ran; they are recorded, never run in a burst. Only the
    newest MISSED_KEPT are listed; older ones are counted from the period (so a year of
    downtime costs as little to decide as an hour)."""
    newest = cron.at_or_before(now)
    if newest <= last:
        return TickPlan(run=None)
    missed: list[datetime] = []
    before = newest.astimezone(cron.zone()) - timedelta(seconds=1)
    for tick in CronSim(cron.expression, before + timedelta(seconds=1), reverse=True):
        moment = tick.astimezone(UTC)
        if moment >= newest:
            continue
        if moment <= last or len(missed) == MISSED_KEPT:
            break
        missed.append(moment)
    beyond = 0
    if len(missed) == MISSED_KEPT:
        every = (newest - missed[-1]) / MISSED_KEPT
        beyond = int((missed[-1] - last) // every) if every.total_seconds() > 0 else 0
    return TickPlan(run=newest, missed=tuple(reversed(missed)), missed_beyond=beyond)
