"""match(event, index) -> which rules fire, and for the others the first filter that said no.

Pure and two-phase (sans-I/O): `match` evaluates every filter it can from the payload, then
the rule's own `if:`. Rules whose only open questions are facts the payload lacks (the changed
files of a pull request or a cut push, a login's team membership) come back as `pending`,
each with what it needs; the caller reads those facts once and calls `complete`.
`decide_delivery` is the one path every caller takes (ingest, the workers, repository rules,
`simulate`, `run`, replay): it does exactly that, given a `Facts` to read from.

The index (engine.match.index) keeps matching cost flat as rule sets grow: an event only meets
the rules that could fire for it. Reasons for the other rules are derived on demand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from engine.errors import HookwiseError
from engine.lang.cron import parse_cron
from engine.lang.model import CommandSpec, EventTrigger, Rule
from engine.match.commands import command_lines, command_of, comment_text
from engine.match.condition import condition_reason
from engine.match.events import Event
from engine.match.filters import Needed, Reason, evaluate, is_own_app
from engine.match.index import RuleIndex


@dataclass(frozen=True)
class Match:
    """A rule that fires (or may, once `needs` is read), with the trigger that let it."""

    rule: Rule
    trigger: EventTrigger
    needs: Needed | None = None


def decide(rule: Rule, trigger: EventTrigger, event: Event) -> Reason:
    """The filters of `trigger`, then the rule's `if:` (which needs no facts, so it is decided
    even while facts are missing: a false `if:` spares their reading)."""
    reason = evaluate(trigger, event)
    if reason is None or isinstance(reason, Needed):
        if rule.command is not None and command_of(rule.command, event.name, event.payload) is None:
            return _no_command(rule.command, event)
        return condition_reason(rule, event) or reason
    return reason


@dataclass(frozen=True)
class Rejection:
    """A rule that does not fire, with the first filter that rejected the event, in words."""

    rule: Rule
    reason: str


@dataclass
class MatchResult:
    """The outcome of matching one event against a rule index."""

    event: Event
    index: RuleIndex
    matched: list[Match] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)  # candidates that did not fire
    pending: list[Match] = field(default_factory=list)  # waiting for facts (Match.needs)
    app_login: str | None = None
    unknown: str | None = None  # why some facts could not be read (the undecided rules' why)

    @property
    def needs_files(self) -> bool:
        """Whether some rule's decision waits for the changed files."""
        return any(m.needs is not None and m.needs.files for m in self.pending)

    @property
    def needs(self) -> Needed | None:
        """Every fact some pending rule waits for, or None."""
        found = [m.needs for m in self.pending if m.needs is not None]
        if not found:
            return None
        total = found[0]
        for more in found[1:]:
            total = total | more
        return total

    def undecided(self, why: str | None = None) -> list[Rejection]:
        """The rules left waiting for facts, each with why they are undecided."""
        return [
            Rejection(
                waiting.rule,
                f"{(waiting.needs or Needed()).describe(waiting.trigger, self.event.subject)}, "
                f"{why or self.unknown or 'which are not known here'}",
            )
            for waiting in self.pending
        ]

    def not_matched(self) -> list[Rejection]:
        """Every rule that does not fire (undecided ones aside), with its reason, in order."""
        decided = {id(m.rule) for m in self.matched} | {id(m.rule) for m in self.pending}
        reasons = {id(r.rule): r for r in self.rejected}
        result = []
        for rule in self.index.rules:
            if id(rule) in decided:
                continue
            found = reasons.get(id(rule))
            result.append(found or Rejection(rule, explain(rule, self.event, self.app_login)))
        return result


def match(event: Event, index: RuleIndex, *, app_login: str | None = None) -> MatchResult:
    """Decide which rules fire for `event` with what the event itself carries."""
    result = MatchResult(event, index, app_login=app_login)
    if event.name == SCHEDULE_EVENT:
        for rule in index.rules:
            if rule.schedules and not rule.disabled and _tick_is_for(rule, event):
                _place(result, rule, SCHEDULE_TRIGGER, _schedule_reason(rule, event))
        return result
    if is_own_app(event, app_login):
        return result  # every rule is rejected; not_matched() explains why
    for _, rule, trigger in index.candidates(event):
        _place(result, rule, trigger, decide(rule, trigger, event))
    return result


# A tick of a schedule (engine.workers.scheduler) is a delivery of this event: it is decided
# by the rule's `repository` filter and its `if:` only; GitHub never sends it (ingest refuses
# event names outside GitHub's catalogue)
SCHEDULE_EVENT = "schedule"
SCHEDULE_TRIGGER = EventTrigger(event=SCHEDULE_EVENT, ignore_bots=False)


def _no_command(spec: CommandSpec, event: Event) -> str:
    """Why a comment does not run the rule's command: not there (or unchanged), or there but
    in a place the rule does not read."""
    where = " or ".join(w.replace("_", " ") for w in spec.where)
    text = comment_text(event.name, event.payload)
    if text is not None and text.where not in spec.where:
        lines = command_lines(text.body, text.before)
        if any(c.name == spec.name for c in lines):
            place = "an issue" if text.where == "issues" else "a pull request"
            return f"/{spec.name} is read on {where}; this comment is on {place}"
    return f"no new /{spec.name} line in the comment (read on {where})"


def _tick_is_for(rule: Rule, event: Event) -> bool:
    """A tick names its rule (`event.schedule.rule`); one without a name (a rule test's, a
    simulated one) is for every scheduled rule."""
    schedule = event.payload.get("schedule")
    named = schedule.get("rule") if isinstance(schedule, dict) else None
    return not named or named == rule.name


def _schedule_reason(rule: Rule, event: Event) -> Reason:
    """Why a scheduled rule does not run for this tick's target, or None: the tick must be
    one of the rule's crons (a simulated or tested tick can be any time), the target one its
    repository filter selects, and its `if:` true at the tick."""
    if event.at is None:
        return "a tick needs its time: event.schedule.tick (ISO 8601)"
    moment = datetime.fromtimestamp(event.at, UTC)
    crons = [parse_cron(s.cron, s.timezone) for s in rule.schedules]
    if not any(c.at_or_before(moment) == moment for c in crons):
        shown = ", ".join(f"{c.expression} ({c.timezone})" for c in crons)
        return f"{moment.strftime('%Y-%m-%dT%H:%M:%SZ')} is no tick of {shown}"
    patterns = rule.schedules[0].repository
    if event.repository is not None and patterns is not None and not patterns.selects(event.repository):
        return f"repository '{event.repository}' is not in {patterns.describe()}"
    return condition_reason(rule, event)


def _place(result: MatchResult, rule: Rule, trigger: EventTrigger, reason: Reason) -> None:
    if reason is None:
        result.matched.append(Match(rule, trigger))
    elif isinstance(reason, Needed):
        result.pending.append(Match(rule, trigger, reason))
    else:
        result.rejected.append(Rejection(rule, reason))


def complete(
    result: MatchResult,
    files: Iterable[str] | None = None,
    memberships: Mapping[tuple[str, str], bool | str] | None = None,
) -> MatchResult:
    """Decide the pending rules again with the facts now known (files, memberships); rules
    that still lack a fact stay pending."""
    event = result.event
    if files is not None:
        event = event.with_files(tuple(files))
    if memberships:
        event = event.with_memberships(memberships)
    done = MatchResult(
        event,
        result.index,
        list(result.matched),
        list(result.rejected),
        [],
        result.app_login,
        result.unknown,
    )
    for waiting in result.pending:
        _place(done, waiting.rule, waiting.trigger, decide(waiting.rule, waiting.trigger, event))
    order = {id(rule): i for i, rule in enumerate(result.index.rules)}
    done.matched.sort(key=lambda m: order[id(m.rule)])
    return done


class FactUnknown(HookwiseError):
    """A fact that cannot be known here (too many files to list, no credentials, no
    `--changed-files`): the rules waiting for it stay undecided, with this message."""


class Facts(Protocol):
    """Where the facts a payload lacks come from: GitHub (engine.github.facts) for the
    workers and `hookwise run`, the command line for `hookwise simulate`."""

    async def changed_files(self, event: Event) -> Iterable[str]:
        """The files the event changes (FactUnknown when they cannot be listed in full)."""
        ...

    async def memberships(
        self, event: Event, asks: tuple[tuple[str, str], ...]
    ) -> Mapping[tuple[str, str], bool | str]:
        """(team, login) -> member or not (or why unknown); unanswered asks stay pending."""
        ...


async def decide_delivery(
    event: Event,
    index: RuleIndex,
    facts: Facts | None = None,
    *,
    app_login: str | None = None,
) -> MatchResult:
    """The one decision path: match with what the payload carries, then read each missing
    fact once, and only if some rule is left waiting for it (no `facts`: decide with the
    payload alone, as ingest does). A fact that cannot be known leaves its rules undecided,
    with why in `unknown`; GitHub's errors reach the caller, classified (engine.github.api)."""
    result = match(event, index, app_login=app_login)
    if facts is None:
        return result
    if result.needs_files:
        try:
            result = complete(result, await facts.changed_files(result.event))
        except FactUnknown as exc:
            result.unknown = str(exc)
    needs = result.needs
    if needs is not None and needs.memberships:
        try:
            result = complete(
                result, memberships=await facts.memberships(result.event, needs.memberships)
            )
        except FactUnknown as exc:
            result.unknown = str(exc)
    return result


def explain(rule: Rule, event: Event, app_login: str | None = None) -> str:
    """Why `rule` does not fire for `event` (the first filter that rejects it)."""
    if is_own_app(event, app_login):
        return f"sender '{event.sender}' is this App; its own events never trigger rules"
    trigger = next((t for t in rule.triggers if t.event == event.name), None)
    trigger = trigger or next((t for t in rule.triggers if t.event is None), None)
    if trigger is None:
        names = sorted(t.event for t in rule.triggers if t.event is not None)
        if not names and rule.schedules:
            crons = ", ".join(s.cron for s in rule.schedules)
            return f"the rule runs on its schedule ({crons}), not on webhook events"
        if event.name == SCHEDULE_EVENT and not rule.schedules:
            return f"the rule has no schedule; it runs on [{', '.join(names)}]"
        return f"event '{event.name}' is not in [{', '.join(names)}]"
    reason = decide(rule, trigger, event)
    if isinstance(reason, Needed):
        return f"{reason.describe(trigger, event.subject)}, which are not known"
    return reason or "the rule matches"


