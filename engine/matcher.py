"""match(event, index) -> which rules fire, and for the others the first filter that said no.

Pure and two-phase (sans-I/O): `match` evaluates every filter it can from the payload. Rules
whose only open question is their path filter while the changed files are not in the payload
(a pull request, a cut push) come back as `pending`; the caller fetches the files once and
calls `complete`. `match_delivery` is the async helper that does exactly that.

The index keeps matching cost flat as rule sets grow: rules are bucketed by event name and,
where every `repository` pattern is a literal name, by repository, so an event only meets
the rules that could fire for it. Reasons for the other rules are derived on demand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from engine import catalogue
from engine.events import Event
from engine.model import EventTrigger, LabelFilter, PeopleFilter, Rule
from engine.patterns import PatternList, is_literal_name

Entry = tuple[int, Rule, EventTrigger]  # (rule position, rule, trigger)
FILES_NEEDED = "files needed"  # sentinel reason: only the path filter is left to decide


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


class RuleIndex:
    """Rules bucketed by event name and literal repository."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._by_event: dict[str | None, dict[str | None, list[Entry]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for position, rule in enumerate(self.rules):
            for trigger in rule.triggers:
                for repo in _literal_repositories(trigger.repository):
                    self._by_event[trigger.event][repo].append((position, rule, trigger))

    def candidates(self, event: Event) -> list[Entry]:
        """The (rule, trigger) pairs that could fire for this event, in rule order."""
        repo = (event.repository or "").lower()
        found: list[Entry] = []
        for name in (event.name, None):
            buckets = self._by_event.get(name)
            if buckets:
                found.extend(buckets.get(repo, ()))
                found.extend(buckets.get(None, ()))
        if len(found) > 1:  # one entry per rule (a list may name an event twice), in rule order
            found = sorted({e[0]: e for e in reversed(found)}.values(), key=lambda e: e[0])
        return found


def _literal_repositories(patterns: PatternList | None) -> list[str | None]:
    """The index keys of a trigger: its literal repository names, or [None] for any."""
    if patterns is None or not all(is_literal_name(p.source) for p in patterns.patterns):
        return [None]
    keys: list[str | None] = [*sorted({p.source.lower() for p in patterns.patterns})]
    return keys


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

    def not_matched(self) -> list[Rejection]:
        """Every rule that does not fire, each with its reason, in rule order."""
        decided = {id(m.rule) for m in self.matched}
        reasons = {id(r.rule): r for r in self.rejected}
        for waiting in self.pending:
            reasons[id(waiting.rule)] = Rejection(
                waiting.rule,
                f"{_path_filter_name(waiting.trigger)} needs the changed files of the "
                f"{self.event.subject}, which are not known (pass --changed-files)",
            )
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
    if _is_own_app(event, app_login):
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
    if _is_own_app(event, app_login):
        return f"sender '{event.sender}' is this App; its own events never trigger rules"
    trigger = next((t for t in rule.triggers if t.event == event.name), None)
    trigger = trigger or next((t for t in rule.triggers if t.event is None), None)
    if trigger is None:
        names = sorted(t.event for t in rule.triggers if t.event is not None)
        return f"event '{event.name}' is not in [{', '.join(names)}]"
    reason = evaluate(trigger, event)
    if reason is FILES_NEEDED:
        return f"{_path_filter_name(trigger)} needs the changed files, which are not known"
    return reason or "the rule matches"


# --- filters --------------------------------------------------------------------------


def evaluate(trigger: EventTrigger, event: Event) -> str | None:
    """None when every filter passes; FILES_NEEDED when only the paths are left; else why not."""
    return (
        _repository(trigger, event)
        or _types(trigger, event)
        or _refs(trigger, event)
        or _labels(trigger.labels, event)
        or _people("author", "authors", trigger.authors, event.author)
        or _people("sender", "actors", trigger.actors, event.sender)
        or _bots(trigger, event)
        or _paths(trigger, event)
    )


def _is_own_app(event: Event, app_login: str | None) -> bool:
    return bool(app_login and event.sender and event.sender.lower() == app_login.lower())


def _applies(key: str, event: Event) -> bool:
    allowed = catalogue.events_for_filter(key)
    return allowed is None or event.name in allowed


def _repository(trigger: EventTrigger, event: Event) -> str | None:
    if trigger.repository is None:
        return None
    name = event.repository or ""
    if trigger.repository.selects(name):
        return None
    return f"repository '{name}' is not matched by {trigger.repository.describe()}"


def _types(trigger: EventTrigger, event: Event) -> str | None:
    if trigger.types is not None:
        if event.action in trigger.types:
            return None
        return f"action '{event.action}' is not in types [{', '.join(sorted(trigger.types))}]"
    default = catalogue.DEFAULT_TYPES.get(event.name)
    if default is None or event.action in default:
        return None
    return f"action '{event.action}' is not in the default types [{', '.join(default)}]"


def _refs(trigger: EventTrigger, event: Event) -> str | None:
    branch_filters = _applies("branches", event) and (
        trigger.branches is not None or trigger.branches_ignore is not None
    )
    tag_filters = _applies("tags", event) and (
        trigger.tags is not None or trigger.tags_ignore is not None
    )
    if not branch_filters and not tag_filters:
        return None
    kind, name = event.ref_kind, event.ref_name or ""
    if kind == "branch" and branch_filters:
        what = "base branch" if event.name in catalogue.PR_EVENTS else "branch"
        return _include_or_ignore(what, name, trigger.branches, trigger.branches_ignore, "branches")
    if kind == "tag" and tag_filters:
        return _include_or_ignore("tag", name, trigger.tags, trigger.tags_ignore, "tags")
    if kind == "branch":
        return f"branch '{name}' was pushed, but the rule has only tag filters"
    if kind == "tag":
        return f"tag '{name}' was pushed, but the rule has only branch filters"
    return f"the {event.name} event has no branch or tag to filter on"


def _include_or_ignore(
    what: str, name: str, include: PatternList | None, ignore: PatternList | None, key: str
) -> str | None:
    if include is not None and not include.selects(name):
        return f"{what} '{name}' is not matched by {include.describe()}"
    if ignore is not None and ignore.selects(name):
        return f"{what} '{name}' is ignored by {key}-ignore {ignore.describe()}"
    return None


def _labels(labels: LabelFilter | None, event: Event) -> str | None:
    if labels is None or event.name not in catalogue.LABEL_EVENTS:
        return None
    have = event.labels
    shown = "[" + ", ".join(have) + "]"
    if labels.any is not None and not any(labels.any.selects(name) for name in have):
        wanted = labels.any.describe()
        return f"no label of the {event.subject} {shown} is matched by labels.any {wanted}"
    if labels.all is not None:
        for pattern in labels.all.patterns:
            if not pattern.negated and not any(pattern.matches(name) for name in have):
                return f"labels.all pattern '{pattern.source}' matches none of the labels {shown}"
    if labels.none is not None:
        hit = next((name for name in have if labels.none.selects(name)), None)
        if hit is not None:
            return f"label '{hit}' is excluded by labels.none {labels.none.describe()}"
    if labels.added is not None:
        if event.label is None:
            return f"action '{event.action}' is not about one label, so labels.added cannot match"
        if not labels.added.selects(event.label):
            return f"label '{event.label}' is not matched by labels.added {labels.added.describe()}"
    return None


def _people(role: str, key: str, people: PeopleFilter | None, login: str | None) -> str | None:
    if people is None:
        return None
    name = login or ""
    if people.exclude is not None and people.exclude.selects(name):
        return f"{role} '{name}' is excluded by {key}.exclude {people.exclude.describe()}"
    if people.include is not None and not people.include.selects(name):
        return f"{role} '{name}' is not matched by {key}.include {people.include.describe()}"
    return None


def _bots(trigger: EventTrigger, event: Event) -> str | None:
    if trigger.ignore_bots and event.sender_is_bot:
        return f"sender '{event.sender}' is a bot and ignore-bots is true"
    return None


def _path_filter_name(trigger: EventTrigger) -> str:
    return "paths" if trigger.paths is not None else "paths-ignore"


def _paths(trigger: EventTrigger, event: Event) -> str | None:
    if not trigger.needs_files or not _applies("paths", event):
        return None
    if event.ref_kind == "tag" and event.name == "push":
        return None  # GitHub: path filters are not evaluated for pushes of tags
    files = event.changed_files
    if files is None:
        return FILES_NEEDED
    if not files:
        if event.deleted:
            return "the push deletes the branch, so no files changed"
        return "no files changed"
    if trigger.paths is not None:
        if any(trigger.paths.selects(path) for path in files):
            return None
        return f"no changed file is matched by paths {trigger.paths.describe()} ({_count(files)})"
    assert trigger.paths_ignore is not None
    if all(trigger.paths_ignore.selects(path) for path in files):
        ignored = trigger.paths_ignore.describe()
        return f"every changed file is ignored by paths-ignore {ignored} ({_count(files)})"
    return None


def _count(files: tuple[str, ...]) -> str:
    return f"{len(files)} file{'s' if len(files) != 1 else ''} changed"
