"""match(event, index) -> which rules fire, and for the others the first filter that said no.

Pure and two-phase (sans-I/O): `match` evaluates every filter it can from the payload. Rules
whose only open question is their path filter while the changed files are not in the payload
(a pull request, a cut push) come back as `pending`; the caller fetches the files once and
calls `complete`. `match_delivery` is the async helper that does exactly that.

The index (engine.match.index) keeps matching cost flat as rule sets grow: an event only meets
the rules that could fire for it. Reasons for the other rules are derived on demand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from engine.lang.model import EventTrigger, Rule
from engine.match.events import Event
from engine.match.filters import FILES_NEEDED, evaluate, is_own_app, path_filter_name
from engine.match.index import RuleIndex


@dataclass(frozen=True)
class Match:
    """A rule that fires, with the trigger (event entry) that let it."""

    rule: Rule
    trigger: EventTrigger


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
    pending: list[Match] = field(default_factory=list)  # waiting for the changed files
    app_login: str | None = None

    @property
    def needs_files(self) -> bool:
        """Whether some rule's decision waits for the changed files."""
        return bool(self.pending)

    def undecided(self, why: str | None = None) -> list[Rejection]:
        """The rules left waiting for the changed files, each with why they are undecided."""
        return [
            Rejection(
                waiting.rule,
                f"{path_filter_name(waiting.trigger)} needs the changed files of the "
                f"{self.event.subject}, {why or 'which are not known here'}",
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
    if is_own_app(event, app_login):
        return result  # every rule is rejected; not_matched() explains why
    for _, rule, trigger in index.candidates(event):
        reason = evaluate(trigger, event)
        if reason is None:
            result.matched.append(Match(rule, trigger))
        elif reason is FILES_NEEDED:
            result.pending.append(Match(rule, trigger))
        else:
            result.rejected.append(Rejection(rule, reason))
    return result


def complete(result: MatchResult, files: Iterable[str]) -> MatchResult:
    """Decide the pending rules now that the changed files are known."""
    event = result.event.with_files(tuple(files))
    done = MatchResult(
        event, result.index, list(result.matched), list(result.rejected), [], result.app_login
    )
    for waiting in result.pending:
        reason = evaluate(waiting.trigger, event)
        if reason is None:
            done.matched.append(waiting)
        else:
            done.rejected.append(Rejection(waiting.rule, reason))
    order = {id(rule): i for i, rule in enumerate(result.index.rules)}
    done.matched.sort(key=lambda m: order[id(m.rule)])
    return done


ChangedFiles = Callable[[Event], Awaitable[Iterable[str]]]


async def match_delivery(
    event: Event, index: RuleIndex, changed_files: ChangedFiles, *, app_login: str | None = None
) -> MatchResult:
    """Match, fetching the changed files (once) only if some rule is left waiting for them."""
    result = match(event, index, app_login=app_login)
    if result.needs_files:
        result = complete(result, await changed_files(event))
    return result


def explain(rule: Rule, event: Event, app_login: str | None = None) -> str:
    """Why `rule` does not fire for `event` (the first filter that rejects it)."""
    if is_own_app(event, app_login):
        return f"sender '{event.sender}' is this App; its own events never trigger rules"
    trigger = next((t for t in rule.triggers if t.event == event.name), None)
    trigger = trigger or next((t for t in rule.triggers if t.event is None), None)
    if trigger is None:
        names = sorted(t.event for t in rule.triggers if t.event is not None)
        return f"event '{event.name}' is not in [{', '.join(names)}]"
    reason = evaluate(trigger, event)
    if reason is FILES_NEEDED:
        return f"{path_filter_name(trigger)} needs the changed files, which are not known"
    return reason or "the rule matches"


