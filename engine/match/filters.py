"""The filters of `on:`, each a pure function of (trigger, event) -> None or why not, in words.

The order is the order a user reads a rule in, cheapest first; the changed files come last
because they may cost an API call. GitHub Actions' semantics throughout:
https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-syntax
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from engine.lang import catalogue
from engine.lang.model import EventTrigger, FilesFilter, LabelFilter, PeopleFilter
from engine.lang.patterns import PatternList
from engine.match.events import Event


@dataclass(frozen=True)
class Needed:
    """Facts a trigger still needs before it can be decided: the changed files, and/or
    whether some logins belong to some teams. The caller reads them and decides again."""

    files: bool = False
    memberships: tuple[tuple[str, str], ...] = ()  # (org/team-slug, login)

    def __or__(self, other: Needed) -> Needed:
        asks = dict.fromkeys(self.memberships + other.memberships)
        return Needed(self.files or other.files, tuple(asks))

    def describe(self, trigger: EventTrigger, subject: str) -> str:
        """What is missing, in words: `paths needs the changed files of the pull request`."""
        parts = []
        if self.files:
            parts.append(f"{files_filter_name(trigger)} needs the changed files of the {subject}")
        if self.memberships:
            asked = ", ".join(f"{login} in {team}" for team, login in self.memberships)
            parts.append(f"teams needs the team membership of {asked}")
        return " and ".join(parts)


FILES_NEEDED = Needed(files=True)
Reason = str | Needed | None


def evaluate(trigger: EventTrigger, event: Event) -> Reason:
    """None when every filter passes; why not, in words, when one rejects the event; else the
    facts still needed (a rejection by a cheaper filter wins, so no fact is read in vain)."""
    needed: Needed | None = None
    for key in trigger.decided_by:
        reason = CHECKS[key](trigger, event)
        if reason is None:
            continue
        if isinstance(reason, Needed):
            needed = reason if needed is None else needed | reason
            continue
        return reason
    return needed


# hookwise tags what it writes: `<!-- hookwise:...-->` in comment, review and issue bodies, and
# its check runs' external_id is the writing node's key, delivery:rule:node
_MARKER = "<!-- hookwise:"
_NODE_KEY = re.compile(r"[A-Za-z0-9._-]{1,100}:[a-z0-9][a-z0-9_-]*:[a-z][a-z0-9_]*")


def written_by_hookwise(event: Event) -> bool:
    """Whether a bot's delivery is about something hookwise wrote (its marker is on it), so the
    App is recognised even when its login could not be read from GitHub."""
    if not event.sender_is_bot:
        return False
    payload = event.payload
    for key in ("comment", "review", "issue", "pull_request"):
        subject = payload.get(key)
        if isinstance(subject, dict) and _MARKER in str(subject.get("body") or ""):
            return True
    check = payload.get("check_run")
    external = check.get("external_id") if isinstance(check, dict) else None
    return isinstance(external, str) and _NODE_KEY.fullmatch(external) is not None


def is_own_app(event: Event, app_login: str | None) -> bool:
    """Whether the delivery was caused by this App itself: its bot is the sender, or a bot's
    delivery carries hookwise's own marker."""
    if app_login and event.sender and event.sender.lower() == app_login.lower():
        return True
    return written_by_hookwise(event)


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


def _people(
    role: str, key: str, people: PeopleFilter | None, login: str | None, event: Event
) -> Reason:
    if people is None:
        return None
    name = login or ""
    if people.exclude is not None and people.exclude.selects(name):
        return f"{role} '{name}' is excluded by {key}.exclude {people.exclude.describe()}"
    if people.include is None and people.teams is None:
        return None
    if people.include is not None and people.include.selects(name):
        return None
    if not people.teams:
        assert people.include is not None
        return f"{role} '{name}' is not matched by {key}.include {people.include.describe()}"
    return _teams(role, key, people, name, event)


def _teams(role: str, key: str, people: PeopleFilter, name: str, event: Event) -> Reason:
    """Membership of one of the teams; a bot account is never a team member."""
    teams = people.teams or ()
    unknown, unreadable = [], []
    for team in teams:
        fact = False if is_bot_login(name) else event.memberships.get(membership_key(team, name))
        if fact is True:
            return None
        if fact is None:
            unknown.append((team, name))
        elif isinstance(fact, str):
            unreadable.append(f"{team} ({fact})")
    if unknown:
        return Needed(memberships=tuple(unknown))
    if unreadable:
        return (
            f"{role} {name}: membership of {', '.join(unreadable)} could not be read, "
            "so the rule does not match"
        )
    shown = f"team {teams[0]}" if len(teams) == 1 else "any of the teams " + ", ".join(teams)
    also = ""
    if people.include is not None:
        also = f" and is not matched by {key}.include {people.include.describe()}"
    return f"{role} {name} is not in {shown}{also}"


def membership_key(team: str, login: str) -> tuple[str, str]:
    """How a membership fact is keyed: team and login, both as GitHub compares them."""
    return team.lower(), login.lower()


def is_bot_login(login: str) -> bool:
    """App accounts (`name[bot]`) cannot belong to teams."""
    return login.lower().endswith("[bot]")


def _bots(trigger: EventTrigger, event: Event) -> str | None:
    if not (trigger.ignore_bots and event.sender_is_bot):
        return None
    allowed = trigger.bots_allowed
    if allowed is None:
        return f"sender '{event.sender}' is a bot and ignore-bots is true"
    if allowed.selects(event.sender or ""):
        return None
    return f"sender '{event.sender}' is a bot not matched by ignore-bots.except {allowed.describe()}"


def files_filter_name(trigger: EventTrigger) -> str:
    """`paths`, `paths-ignore` or `files`: the first filter of the trigger that reads files."""
    if trigger.paths is not None:
        return "paths"
    return "paths-ignore" if trigger.paths_ignore is not None else "files"


def _paths(trigger: EventTrigger, event: Event) -> Reason:
    if not trigger.has_path_filter or not _applies("paths", event):
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


def _files(trigger: EventTrigger, event: Event) -> Reason:
    """`files: {any, all, none}`; an empty change set satisfies only `none` (docs/design.md §2.1)."""
    wanted: FilesFilter | None = trigger.files
    if wanted is None or not _applies("files", event):
        return None
    files = event.changed_files
    if files is None:
        return FILES_NEEDED
    if not files and (wanted.any is not None or wanted.all is not None):
        which = "files.any" if wanted.any is not None else "files.all"
        deleted = f"the push deletes the {event.ref_kind or 'ref'}, so no files changed"
        why = deleted if event.deleted else "no files changed"
        return f"{which}: {why} (an empty change set satisfies only files.none)"
    if wanted.any is not None and not any(wanted.any.selects(path) for path in files):
        return f"files.any: no changed file is matched by {wanted.any.describe()} ({_count(files)})"
    if wanted.all is not None:
        missed = next((path for path in files if not wanted.all.selects(path)), None)
        if missed is not None:
            return f"files.all: {missed} is not matched by {wanted.all.describe()}"
    if wanted.none is not None:
        hit = next((path for path in files if wanted.none.selects(path)), None)
        if hit is not None:
            return f"files.none: {hit} is matched by {wanted.none.describe()}"
    return None


def _count(files: tuple[str, ...]) -> str:
    return f"{len(files)} file{'s' if len(files) != 1 else ''} changed"


Check = Callable[[EventTrigger, Event], Reason]

# filter key (EventTrigger.decided_by) -> its decision
CHECKS: dict[str, Check] = {
    "repository": _repository,
    "types": _types,
    "refs": _refs,
    "labels": lambda trigger, event: _labels(trigger.labels, event),
    "authors": lambda trigger, event: _people(
        "author", "authors", trigger.authors, event.author, event
    ),
    "actors": lambda trigger, event: _people(
        "sender", "actors", trigger.actors, event.sender, event
    ),
    "ignore-bots": _bots,
    "paths": _paths,
    "files": _files,
}
