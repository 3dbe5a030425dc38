"""`within('Mon-Fri 09:00-17:00', 'Europe/Berlin')`: whether a moment falls in a weekly time
window. Pure: the moment is the decision time the caller gives (a delivery's arrival, a
schedule's tick, or `--at`), never the clock.

Two forms (docs/rules.md "Time windows"); the end is excluded:
- `DAYS HH:MM-HH:MM`: on each of DAYS (`Mon`, `Mon-Fri`, `Sat,Sun`, `Fri-Mon`), from the start
  to the end time; an end at or before the start runs into the next day (`Mon-Fri 22:00-06:00`);
- `DAY HH:MM-DAY HH:MM`: one span across days, such as `Fri 15:00-Mon 08:00`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_A_WEEK = 7 * 24 * 60
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_TIME = r"(\d{1,2}):(\d{2})"
_DAILY = re.compile(rf"\s*({_DAY}(?:\s*[-,]\s*{_DAY})*)\s+{_TIME}\s*-\s*{_TIME}\s*", re.I)
_SPAN = re.compile(rf"\s*({_DAY})\s+{_TIME}\s*-\s*({_DAY})\s+{_TIME}\s*", re.I)
FORMS = "'Mon-Fri 09:00-17:00' (days, then hours) or 'Fri 15:00-Mon 08:00' (one span)"


class WindowError(ValueError):
    """A window or zone that cannot be read; the message shows the forms."""


@dataclass(frozen=True)
class Window:
    """Spans of the week, as (start, end) minutes from Monday 00:00, end excluded."""

    spans: tuple[tuple[int, int], ...]

    def contains(self, minute_of_week: int) -> bool:
        """Whether that minute of the week is inside a span (spans may wrap past Sunday)."""
        for start, end in self.spans:
            if start <= end and start <= minute_of_week < end:
                return True
            if start > end and (minute_of_week >= start or minute_of_week < end):
                return True
        return False


@cache
def parse_window(text: str) -> Window:
    """The window a `within()` text describes, or WindowError."""
    span = _SPAN.fullmatch(text)
    if span:
        start = _day(span.group(1)) * 1440 + _minute(span.group(2), span.group(3), text)
        end = _day(span.group(4)) * 1440 + _minute(span.group(5), span.group(6), text)
        if start == end:
            raise WindowError(f"window {text!r} starts where it ends")
        return Window(((start, end),))
    daily = _DAILY.fullmatch(text)
    if not daily:
        raise WindowError(f"window {text!r} is not one of the forms {FORMS}")
    first = _minute(daily.group(2), daily.group(3), text)
    last = _minute(daily.group(4), daily.group(5), text)
    length = (last - first) % 1440 or 1440
    spans = []
    for day in _days(daily.group(1), text):
        start = day * 1440 + first
        spans.append((start, (start + length) % MINUTES_A_WEEK))
    return Window(tuple(spans))


def within(text: str, zone: str, moment: float) -> bool:
    """Whether `moment` (seconds since the epoch) falls in the window, read in `zone`."""
    window = parse_window(text)
    local = datetime.fromtimestamp(moment, UTC).astimezone(zone_of(zone))
    return window.contains(local.weekday() * 1440 + local.hour * 60 + local.minute)


@cache
def zone_of(name: str) -> ZoneInfo:
    """The IANA zone, or WindowError."""
    try:
        if name and len(name) <= 64 and not name.startswith(("/", ".")) and ".." not in name:
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder, a name too long, ...
        pass
    raise WindowError(f"unknown time zone {name[:64]!r} (IANA names such as Europe/Berlin or UTC)")


def _day(word: str) -> int:
    return DAYS.index(word[:3].lower())


def _minute(hours: str, minutes: str, text: str) -> int:
    h, m = int(hours), int(minutes)
    if h > 24 or m > 59 or (h == 24 and m):
        raise WindowError(f"window {text!r}: {hours}:{minutes} is not a time of day (00:00-24:00)")
    return h * 60 + m


def _days(spec: str, text: str) -> list[int]:
    """`Mon-Fri`, `Sat,Sun`, `Fri-Mon` (a range may wrap past Sunday) as weekday numbers."""
    found: list[int] = []
    for part in re.split(r"\s*,\s*", spec.strip()):
        ends = re.split(r"\s*-\s*", part)
        if len(ends) == 1:
            found.append(_day(ends[0]))
        elif len(ends) == 2:
            first, last = _day(ends[0]), _day(ends[1])
            found.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            raise WindowError(f"window {text!r}: {part!r} is not a day or a range of days")
    return found


_SPAN_PART = re.compile(r"(\d+)([smhdw])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def span_seconds(text: str) -> int | None:
    """`30d`, `12h`, `2w`, `1d12h` as seconds (None when it is not such a span): ago()'s spans."""
    value = text.strip().lower()
    if not value or len(value) > 32 or not re.fullmatch(r"(?:[0-9]{1,9}[smhdw])+", value):
        return None
    return sum(int(n) * _UNIT[u] for n, u in _SPAN_PART.findall(value))


def ago(span: str, moment: float) -> str:
    """`moment` less a span (s, m, h, d, w), as ISO 8601 in UTC: the form GitHub's search takes
    (`updated:<${{ ago('30d') }}`)."""
    seconds = span_seconds(span)
    if seconds is None:
        raise WindowError(f"{span[:40]!r} is not a span such as 30d, 12h, 2w or 90m")
    try:
        return datetime.fromtimestamp(moment - seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        raise WindowError(f"{span[:40]!r} reaches before the year 1") from None
