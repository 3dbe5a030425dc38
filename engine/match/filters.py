"""The filters of `on:`, each a pure function of (trigger, event) -> None or why not, in words.

The order is the order a user reads a rule in, cheapest first; the changed files come last
because they may cost an API call. GitHub Actions' semantics throughout:
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax
"""

from __future__ import annotations

from collections.abc import Callable

from engine.lang import catalogue
from engine.lang.model import EventTrigger, LabelFilter, PeopleFilter
from engine.lang.patterns import PatternList
from engine.match.events import Event

FILES_NEEDED = "files needed"  # sentinel reason: only the path filter is left to decide


def evaluate(trigger: EventTrigger, event: Event) -> str | None:
    """None when every filter passes; FILES_NEEDED when only the paths are left; else why not."""
    for key in trigger.decided_by:
        reason = CHECKS[key](trigger, event)
        if reason is not None:
            return reason
    return None


def is_own_app(event: Event, app_login: str | None) -> bool:
    """Whether the delivery was caused by this App itself (its bot is the sender)."""
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


def path_filter_name(trigger: EventTrigger) -> str:
    """`paths` or `paths-ignore`, whichever the trigger has."""
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


Check = Callable[[EventTrigger, Event], "str | None"]

# filter key (EventTrigger.decided_by) -> its decision
CHECKS: dict[str, Check] = {
    "repository": _repository,
    "types": _types,
    "refs": _refs,
    "labels": lambda trigger, event: _labels(trigger.labels, event),
    "authors": lambda trigger, event: _people("author", "authors", trigger.authors, event.author),
    "actors": lambda trigger, event: _people("sender", "actors", trigger.actors, event.sender),
    "ignore-bots": _bots,
    "paths": _paths,
}
