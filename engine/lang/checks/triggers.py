"""Compiling and checking `on:`: events, activity types, which filters apply, patterns.

Filters at the top of `on:` apply to every listed event that can carry them; filters inside
one event replace the top-level value of the same key for that event (docs/design.md §2.1).
"""

from __future__ import annotations

import re
from typing import Any

from engine.lang import catalogue
from engine.lang.checks.base import DocumentChecker, as_list, get_path
from engine.lang.model import EventTrigger, FilesFilter, LabelFilter, PeopleFilter
from engine.lang.patterns import (
    PatternError,
    PatternList,
    compile_filter_pattern,
    compile_name_pattern,
    regex_lookalike,
)
from engine.lang.source import Path
from engine.text import suggest

_FILTER_PATTERN_KEYS = {
    "branches",
    "branches-ignore",
    "tags",
    "tags-ignore",
    "paths",
    "paths-ignore",
    "files",
}
_INCLUDE_KEYS = {"branches", "tags", "paths", "repository"}
# the keys an event's own mapping takes (an event's filters)
_EVENT_FILTER_KEYS = {"types", "repository", *_FILTER_PATTERN_KEYS, "labels", "authors", "actors",
                      "ignore-bots", "teams"}
_SUB_LISTS = {
    "labels": ("any", "all", "none", "added"),
    "authors": ("include", "exclude"),
    "actors": ("include", "exclude"),
    "files": ("any", "all", "none"),
    "ignore-bots": ("except",),
}
_SUB_INCLUDE = {
    ("labels", "any"),
    ("labels", "all"),
    ("labels", "added"),
    ("authors", "include"),
    ("actors", "include"),
    ("files", "any"),
    ("files", "all"),
    ("ignore-bots", "except"),
}
# org/team-slug as GitHub spells a team in CODEOWNERS and in its REST paths
TEAM_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?/[A-Za-z0-9._-]+")


class TriggerChecker(DocumentChecker):
    """Checks `on:` and compiles it into EventTriggers."""

    def trigger(self, on: dict[str, Any]) -> list[EventTrigger]:
        top = {k: on[k] for k in catalogue.FILTER_KEYS if k in on}
        self.exclusive(top, ("on",))
        top_compiled = {k: self.filter_value(k, v, ("on", k)) for k, v in top.items()}
        events = on.get("events")
        names: list[tuple[str, Path, dict[str, Any]]] = []
        if isinstance(events, list):
            for i, name in enumerate(events):
                if isinstance(name, str):
                    names.append((name, ("on", "events", i), {}))
        elif isinstance(events, dict):
            for name, filters in events.items():
                names.append(
                    (name, ("on", "events", name), filters if isinstance(filters, dict) else {})
                )
        known = []
        for name, path, filters in names:
            canonical = self.known_event(name, path)
            if canonical is not None:
                known.append((canonical, path, filters))
        self.top_level_applicability(top, [n for n, _, _ in known] if events is not None else None)
        if events is None:
            return [self.event_trigger(None, top_compiled, {})]
        result = []
        for name, path, filters in known:
            self.exclusive(filters, path)
            own = {k: self.filter_value(k, v, (*path, k)) for k, v in filters.items()}
            for key in filters:
                allowed = catalogue.events_for_filter(key)
                if allowed is not None and name not in allowed:
                    self.at_key(
                        (*path, key),
                        "filter-not-allowed",
                        f'"{key}" does not apply to event "{name}"; it applies to '
                        + ", ".join(sorted(allowed)),
                    )
            for key in top:
                if key not in filters:
                    own.setdefault(key, top_compiled[key])
            self.check_types(name, filters.get("types"), (*path, "types"))
            result.append(self.event_trigger(name, own, filters))
        if "types" in top and events is not None:
            self.check_top_types(top["types"], [n for n, _, _ in known])
        return result

    def known_event(self, name: str, path: Path) -> str | None:
        """The event's X-GitHub-Event name, or None (reported) when GitHub has no such event."""
        if name in catalogue.webhook_events():
            return name
        pos = self.doc.source_map.key(path) if path[-1] == name else self.doc.source_map.value(path)
        spelled = catalogue.spelled_as(name)
        if spelled is not None:
            self.at(
                pos,
                "event-spelling",
                f'event "{name}" is sent as "{spelled}" (X-GitHub-Event uses underscores); '
                f'did you mean "{spelled}"?',
                severity="warning",
            )
            return spelled
        hint = suggest(name, catalogue.event_names())
        dedented = self.dedented_hint(name, path)
        if dedented is not None:
            hint = dedented
        if name == "pull_request_target":
            hint = '; hookwise receives webhooks, so use "pull_request"'
        self.at(pos, "unknown-event", f'unknown event "{name}"{hint}')
        return None

    def top_level_applicability(self, top: dict[str, Any], events: list[str] | None) -> None:
        if events is None or not events:
            return
        for key in top:
            allowed = catalogue.events_for_filter(key)
            if allowed is not None and not any(e in allowed for e in events):
                self.at_key(
                    ("on", key),
                    "filter-not-allowed",
                    f'"{key}" does not apply to any of the events ({", ".join(events)}); '
                    f"it applies to {', '.join(sorted(allowed))}",
                )

    def exclusive(self, filters: dict[str, Any], path: Path) -> None:
        for include, ignore in catalogue.EXCLUSIVE_PAIRS:
            if include in filters and ignore in filters:
                self.at_key(
                    (*path, ignore),
                    "conflicting-filters",
                    f'"{include}" and "{ignore}" cannot be used together for the same event; '
                    f'use "!" patterns in "{include}" instead',
                )

    def check_types(self, event: str, value: Any, path: Path) -> None:
        types = as_list(value)
        if types is None:
            return
        if catalogue.free_form_actions(event):
            return  # the action is the sender's own event_type: any value can arrive
        actions = catalogue.actions_of(event)
        if not actions:
            self.at_key(
                path,
                "unknown-activity-type",
                f'event "{event}" has no activity types; remove "types"',
            )
            return
        for i, action in enumerate(types):
            if isinstance(action, str) and action not in actions:
                item = path if isinstance(value, str) else (*path, i)
                hint = suggest(action, actions)
                message = f'unknown activity type "{action}" for event "{event}"{hint}'
                self.at_value(item, "unknown-activity-type", message)

    def check_top_types(self, value: Any, events: list[str]) -> None:
        if any(catalogue.free_form_actions(e) for e in events):
            return
        union = sorted({a for e in events for a in catalogue.actions_of(e)})
        for i, action in enumerate(as_list(value) or []):
            if isinstance(action, str) and action not in union:
                item = ("on", "types") if isinstance(value, str) else ("on", "types", i)
                hint = suggest(action, union)
                message = f'activity type "{action}" belongs to none of the events{hint}'
                self.at_value(item, "unknown-activity-type", message)

    def filter_value(self, key: str, value: Any, path: Path) -> Any:
        """Compile one filter's patterns (reporting problems); return the compiled form."""
        if key in _SUB_LISTS:
            if not isinstance(value, dict):
                return value if key == "ignore-bots" else None
            parts = {
                sub: self.patterns(key, sub, value[sub], (*path, sub))
                for sub in _SUB_LISTS[key]
                if sub in value
            }
            if key == "labels":
                return LabelFilter(**parts)
            if key == "files":
                return FilesFilter(**parts)
            if key == "ignore-bots":
                return parts.get("except")
            return PeopleFilter(**parts, teams=self.teams(value.get("teams"), (*path, "teams")))
        if key == "types":
            return value
        return self.patterns(key, None, value, path)

    def teams(self, value: Any, path: Path) -> tuple[str, ...] | None:
        """`teams: [org/team-slug]`, each checked for its shape."""
        items = as_list(value)
        if items is None:
            return None
        good = []
        for i, team in enumerate(items):
            if not isinstance(team, str):
                continue
            if TEAM_PATTERN.fullmatch(team):
                good.append(team)
                continue
            item = path if isinstance(value, str) else (*path, i)
            self.at_value(
                item,
                "bad-team",
                f'team "{team}" must be written as org/team-slug, e.g. "octo-org/reviewers"',
            )
        return tuple(good)

    def patterns(self, key: str, sub: str | None, value: Any, path: Path) -> PatternList | None:
        items = as_list(value)
        if items is None or not all(isinstance(i, str) for i in items):
            return None
        compiled = []
        ok = True
        for i, text in enumerate(items):
            item_path = path if isinstance(value, str) else (*path, i)
            try:
                if key in _FILTER_PATTERN_KEYS:
                    compiled.append(compile_filter_pattern(text))
                    self.regex_lookalike(text, item_path)
                else:
                    compiled.append(compile_name_pattern(text, crosses_slash=key != "repository"))
            except PatternError as exc:
                ok = False
                self.at_value(item_path, "bad-pattern", f'invalid pattern "{text}": {exc}')
        if not ok:
            return None
        result = PatternList(tuple(compiled))
        include = key in _INCLUDE_KEYS or (key, sub) in _SUB_INCLUDE
        if include and result.only_negations:
            name = f"{key}.{sub}" if sub else key
            self.at_value(
                path,
                "negation-only",
                f'"{name}" holds only "!" patterns, so it selects nothing; '
                "add a positive pattern before them (e.g. '**')",
            )
        return result

    def dedented_hint(self, name: str, path: Path) -> str | None:
        """When a key under `events:` is a filter or an activity type of the event above it
        (its indentation lost), say so instead of listing every event."""
        if len(path) < 2 or path[-1] != name:
            return None
        siblings = get_path(self.data, path[:-1])
        keys = list(siblings) if isinstance(siblings, dict) else []
        before = keys[: keys.index(name)] if name in keys else []
        above = next((k for k in reversed(before) if k in catalogue.webhook_events()), None)
        if name in _EVENT_FILTER_KEYS:
            where = f'under "{above}:"' if above else "under the event it filters"
            return f'; "{name}" is a filter of an event, not an event: indent it {where}'
        owners = [e for e in ([above] if above else []) if name in catalogue.actions_of(e)]
        if owners:
            return (
                f'; "{name}" is an activity type of {owners[0]}: write it under '
                f'"{owners[0]}:" as types: [{name}]'
            )
        return None

    def regex_lookalike(self, text: str, path: Path) -> None:
        """A warning for a glob written as a regular expression (it would match literally)."""
        meant = regex_lookalike(text)
        if meant is None:
            return
        globs = " and ".join(f"'{g}'" for g in meant)
        several = "the patterns " if len(meant) > 1 else ""
        self.at(
            self.doc.source_map.value(path),
            "regex-pattern",
            f"pattern '{text}' looks like a regular expression, but filter patterns are globs "
            "(*, **, ?, +, [...], a leading !; ^ $ ( ) | and . are literal); "
            f"did you mean {several}{globs}?",
            severity="warning",
        )

    def event_trigger(
        self, event: str | None, filters: dict[str, Any], raw: dict[str, Any]
    ) -> EventTrigger:
        types = as_list(filters.get("types"))
        ignore_bots = filters.get("ignore-bots", True)
        bots_allowed = ignore_bots if isinstance(ignore_bots, PatternList) else None
        return EventTrigger(
            event=event,
            types=frozenset(t for t in types if isinstance(t, str)) if types is not None else None,
            repository=filters.get("repository"),
            branches=filters.get("branches"),
            branches_ignore=filters.get("branches-ignore"),
            tags=filters.get("tags"),
            tags_ignore=filters.get("tags-ignore"),
            paths=filters.get("paths"),
            paths_ignore=filters.get("paths-ignore"),
            labels=filters.get("labels"),
            authors=filters.get("authors"),
            actors=filters.get("actors"),
            ignore_bots=ignore_bots if isinstance(ignore_bots, bool) else True,
            bots_allowed=bots_allowed,
            files=filters.get("files"),
        )

    # --- the graph -------------------------------------------------------------------
