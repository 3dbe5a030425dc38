"""The rule index: which (rule, trigger) pairs a delivery meets at all.

Matching cost must not grow with the number of rules that cannot fire. Triggers are bucketed
by event name, then by action (their `types`, or the event's default types), then by
repository: a literal `owner/name`, an owner glob (`owner/*`), or the rest (other patterns,
and rules with no repository filter). A delivery meets the triggers of its event and action
in its repository's, its owner's and the rest's buckets; every other rule could not fire, and
its reason is derived only when someone asks (MatchResult.not_matched).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from engine.lang import catalogue
from engine.lang.model import EventTrigger, Rule
from engine.lang.patterns import PatternList, is_literal_name
from engine.match.events import Event

Entry = tuple[int, Rule, EventTrigger]  # (rule position, rule, trigger)
ANY = None  # any event / any action


@dataclass
class _Buckets:
    """The triggers of one (event, action), by repository."""

    repos: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    owners: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    rest: list[Entry] = field(default_factory=list)

    def add(self, trigger: EventTrigger, entry: Entry) -> None:
        kind, keys = repository_keys(trigger.repository)
        if kind == "repos":
            for key in keys:
                self.repos[key].append(entry)
        elif kind == "owners":
            for key in keys:
                self.owners[key].append(entry)
        else:
            self.rest.append(entry)

    def meet(self, repository: str, owner: str, into: list[Entry]) -> None:
        into.extend(self.repos.get(repository, ()))
        into.extend(self.owners.get(owner, ()))
        into.extend(self.rest)


def repository_keys(patterns: PatternList | None) -> tuple[str, list[str]]:
    """How a trigger's repository filter indexes: ("repos", names), ("owners", owners) or
    ("rest", []) for a filter that is absent, negates, or uses other wildcards."""
    if patterns is None or any(p.negated for p in patterns.patterns):
        return "rest", []
    sources = [p.source.lower() for p in patterns.patterns]
    if all(is_literal_name(s) for s in sources):
        return "repos", sorted(set(sources))
    owners = [s[:-2] for s in sources if s.endswith("/*") and is_literal_name(s[:-2])]
    if len(owners) == len(sources) and all("/" not in o for o in owners):
        return "owners", sorted(set(owners))
    return "rest", []


def action_keys(trigger: EventTrigger) -> list[str | None]:
    """The actions a trigger can fire for: its `types`, the event's defaults, or any."""
    if trigger.event is None:
        return [ANY]
    if trigger.types is not None:
        return list[str | None](sorted(trigger.types))
    default = catalogue.DEFAULT_TYPES.get(trigger.event)
    return list(default) if default else [ANY]


class RuleIndex:
    """Rules bucketed by event, action and repository (literal, owner glob, or the rest)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._buckets: dict[tuple[str | None, str | None], _Buckets] = defaultdict(_Buckets)
        for position, rule in enumerate(self.rules):
            for trigger in rule.triggers:
                entry = (position, rule, trigger)
                for action in action_keys(trigger):
                    self._buckets[(trigger.event, action)].add(trigger, entry)

    def candidates(self, event: Event) -> list[Entry]:
        """The (rule, trigger) pairs that could fire for this event, in rule order."""
        repository = (event.repository or "").lower()
        owner = repository.split("/", 1)[0]
        found: list[Entry] = []
        for key in {(event.name, event.action), (event.name, ANY), (ANY, ANY)}:
            buckets = self._buckets.get(key)
            if buckets is not None:
                buckets.meet(repository, owner, found)
        if len(found) > 1:  # one entry per rule (a list may name an event twice), in rule order
            found = sorted({e[0]: e for e in reversed(found)}.values(), key=lambda e: e[0])
        return found
