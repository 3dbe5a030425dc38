"""The rule file's JSON Schema, built from the node registry (its errors become diagnostics
in engine.lang.schema_errors).

One function builds two variants from the same declarations: the published schema
(schemas/rule.schema.json, for editors) selects each node's `with` schema by `uses` and lets
any typed input be a `${{ }}` expression instead; the validation variant leaves `with` to a
per-node-type check (engine.lang.compile), which gives sharper messages and is faster.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from engine.declarations.registry import Registry
from engine.lang.model import PERMISSIONS, WHERE
from engine.lang.schema_errors import DURATION_PATTERN, schema_diagnostics

SCHEMA_ID = "https://hookwise.dev/schemas/rule.schema.json"
RULE_NAME_PATTERN = "^[a-z0-9][a-z0-9_-]*$"
NODE_ID_PATTERN = "^[a-z][a-z0-9_]*$"
EXPRESSION_PATTERN = r"^\s*\$\{\{[\s\S]*\}\}\s*$"


def _patterns(description: str) -> dict[str, Any]:
    return {
        "type": ["string", "array"],
        "minLength": 1,
        "minItems": 1,
        "items": {"type": "string", "minLength": 1},
        "description": description,
    }


def _object(properties: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "description": description,
        **extra,
    }


def _filter_properties() -> dict[str, Any]:
    ref = "Filter patterns (GitHub Actions syntax: * ** ? + [] !), last match wins"
    return {
        "repository": _patterns("Name patterns over owner/name; `*` does not cross `/`"),
        "types": _patterns("Allowed webhook `action` values; omitted = GitHub Actions' defaults"),
        "branches": _patterns(f"Branches to run on. {ref}"),
        "branches-ignore": _patterns(f"Branches to skip. {ref}"),
        "tags": _patterns(f"Tags to run on. {ref}"),
        "tags-ignore": _patterns(f"Tags to skip. {ref}"),
        "paths": _patterns(f"Run when at least one changed file matches. {ref}"),
        "paths-ignore": _patterns(f"Skip when every changed file matches. {ref}"),
        "labels": _object(
            {
                "any": _patterns("Run when the subject has at least one matching label"),
                "all": _patterns("Run when every pattern matches one of the subject's labels"),
                "none": _patterns("Skip when the subject has any matching label"),
                "added": _patterns("The label a labeled/unlabeled event is about must match"),
            },
            "Label name patterns over the labels of the pull request or issue",
        ),
        "authors": _object(
            {
                "include": _patterns("Login patterns of authors to run for"),
                "exclude": _patterns("Login patterns of authors to skip"),
                "teams": _teams("authors"),
            },
            "The subject's author: PR/issue/comment/review author, else pusher, else sender",
        ),
        "actors": _object(
            {
                "include": _patterns("Login patterns of senders to run for"),
                "exclude": _patterns("Login patterns of senders to skip"),
                "teams": _teams("senders"),
            },
            "The sender who triggered this delivery (the labeler, the merger)",
        ),
        "ignore-bots": {
            "anyOf": [
                {"type": "boolean"},
                _object(
                    {"except": _patterns("Login patterns of the bots still let through")},
                    "Skip bots except these",
                    required=["except"],
                ),
            ],
            "description": "Skip deliveries sent by bots (default true); "
            "{except: [login patterns]} lets those bots through",
        },
        "files": _object(
            {
                "any": _patterns(f"At least one changed file matches. {ref}"),
                "all": _patterns(f"Every changed file matches (e.g. docs-only changes). {ref}"),
                "none": _patterns(f"No changed file matches. {ref}"),
            },
            "Filter patterns over the changed files; an empty change set satisfies only none",
            minProperties=1,
        ),
    }


def _teams(who: str) -> dict[str, Any]:
    return {
        "type": ["string", "array"],
        "minLength": 1,
        "minItems": 1,
        "items": {"type": "string", "minLength": 1},
        "description": f"Run for {who} who are members of one of these teams (org/team-slug)",
    }


def _node_schema() -> dict[str, Any]:
    duration = {"$ref": "#/$defs/duration"}
    return _object(
        {
            "uses": {"type": "string", "minLength": 1, "description": "The node type"},
            "name": {"type": "string", "description": "A display name"},
            "description": {"type": "string", "description": "What the node is for"},
            "with": {"type": "object", "description": "Inputs, as the node type declares"},
            "needs": {
                "type": ["string", "array"],
                "items": {"type": "string"},
                "description": "Node id(s) that must finish first",
            },
            "if": {
                "type": ["string", "boolean"],
                "description": "Run only when this expression is true; default ${{ success() }}",
            },
            "retry": _object(
                {
                    "attempts": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 20,
                        "description": "Total tries, the first included",
                    },
                    "delay": {**duration, "description": "Wait before the second try"},
                    "backoff": {
                        "type": "number",
                        "minimum": 1,
                        "description": "Multiply the delay by this after each try",
                    },
                },
                "Retry on errors the node marks retryable",
            ),
            "timeout": {**duration, "description": "Per-try time limit, e.g. 30s or 5m"},
            "continue-on-error": {
                "type": ["boolean", "string"],
                "description": "When true, a failure of this node does not fail the run",
            },
            "for-each": {
                "type": "string",
                "pattern": EXPRESSION_PATTERN,
                "description": "Run the node once per item of this list (a ${{ }} expression); "
                "its inputs read the item as ${{ item }}, and each output becomes a list",
            },
            "max-items": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000,
                "description": "With for-each: at most this many items per run (default 100)",
            },
        },
        "A node of the graph",
        required=["uses"],
    )


def _editor_inputs(schema: dict[str, Any]) -> dict[str, Any]:
    """Let every non-string input also be written as one `${{ }}` expression."""
    result = copy.deepcopy(schema)
    for name, prop in list(result.get("properties", {}).items()):
        # a plain string already admits an expression; anything narrower needs the alternative
        if prop.get("type") != "string" or set(prop) - {"type", "description"}:
            if prop.get("type") == "object" and "properties" in prop:
                prop = _editor_inputs(prop)
            description = prop.get("description", "")
            result["properties"][name] = {
                "description": description,
                "anyOf": [prop, {"$ref": "#/$defs/expression"}],
            }
    return result


def build_schema(registry: Registry, *, editor: bool = True) -> dict[str, Any]:
    """The rule file JSON Schema (draft 2020-12) for the node types in `registry`."""
    filters = _filter_properties()
    trigger_props = dict(filters)
    trigger_props["events"] = {
        "type": ["array", "object"],
        "items": {"type": "string", "minLength": 1},
        "additionalProperties": {"$ref": "#/$defs/event_filters"},
        "description": "Webhook event names, or a map of event name to filters for that event",
    }
    trigger_props["schedule"] = {
        "type": "array",
        "minItems": 1,
        "items": _object(
            {
                "cron": {
                    "type": "string",
                    "description": "GitHub Actions' five-field cron: minute hour day-of-month "
                    "month day-of-week (e.g. '30 5 * * 1-5')",
                },
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone the cron is read in (default UTC)",
                },
                "per": {
                    "enum": ["repository", "installation"],
                    "description": "Run once per repository the rule selects (default), or once "
                    "per installation",
                },
            },
            "One schedule: the rule runs at each tick",
            required=["cron"],
        ),
        "description": "Run the rule on a clock (docs/rules.md \"Rules on a clock\")",
    }
    trigger_props["command"] = _object(
        {
            "name": {
                "type": "string",
                "pattern": "^[A-Za-z][A-Za-z0-9_-]*$",
                "description": "The command, without its slash: `label` for /label",
            },
            "args": {
                "type": "object",
                "additionalProperties": {"type": "object"},
                "description": "Argument name -> JSON Schema, in order: the words after the "
                "command fill them in turn; an array argument (last) takes the rest",
            },
            "permission": {
                "enum": list(PERMISSIONS),
                "description": "The least repository permission the commenter needs (read from "
                "GitHub; default write)",
            },
            "where": {
                "type": "array",
                "items": {"enum": list(WHERE)},
                "minItems": 1,
                "description": "Where the command is read: issues, pull_requests (default both)",
            },
            "description": {"type": "string", "description": "What it does, for /help"},
        },
        "Run when a comment holds this slash command (docs/rules.md \"Slash commands\")",
        required=["name"],
    )
    defs: dict[str, Any] = {
        "expression": {
            "type": "string",
            "pattern": EXPRESSION_PATTERN,
            "description": "A ${{ }} expression",
        },
        "duration": {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration such as 500ms, 30s, 5m, 1h or 1m30s",
        },
        "event_filters": {
            **_object(filters, "Filters for this event; they replace the top-level ones"),
            "type": ["object", "null"],
        },
        "trigger": _object(trigger_props, "When the rule runs"),
        "node": _node_schema(),
    }
    if editor:
        selections = []
        for node_type in registry:
            key = f"with.{node_type.name}"
            defs[key] = {
                **_editor_inputs(node_type.inputs),
                "description": node_type.description,
            }
            selections.append(
                {
                    "if": {"properties": {"uses": {"const": node_type.name}}, "required": ["uses"]},
                    "then": {"properties": {"with": {"$ref": f"#/$defs/{key}"}}},
                }
            )
        defs["node"]["allOf"] = selections
        defs["node"]["properties"]["uses"]["examples"] = registry.names()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "hookwise rule",
        "description": "One hookwise rule: when a GitHub event matches `on`, run `nodes`",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "on", "nodes"],
        "properties": {
            "name": {
                "type": "string",
                "pattern": RULE_NAME_PATTERN,
                "description": "Unique name of the rule: lowercase letters, digits, - and _",
            },
            "description": {"type": "string", "description": "What the rule is for"},
            "on": {
                "anyOf": [
                    {"$ref": "#/$defs/trigger"},
                    {"type": "string", "minLength": 1, "description": "One event, no filters"},
                    {
                        "type": "array",
                        "items": {"type": "string", "minLength": 1},
                        "minItems": 1,
                        "description": "Events, no filters",
                    },
                ],
                "description": "When the rule runs: filters and events, or GitHub Actions' "
                "short forms `on: push` and `on: [push, pull_request]`",
            },
            "concurrency": {
                "type": ["string", "object"],
                "additionalProperties": False,
                "required": ["group"],
                "properties": {
                    "group": {"type": "string", "description": "Group key (expressions allowed)"},
                    "cancel-in-progress": {
                        "type": ["boolean", "string"],
                        "description": "Cancel the running run of the group instead of waiting",
                    },
                },
                "description": "At most one run per group at a time",
            },
            "if": {
                "type": ["string", "boolean"],
                "description": "Run only when this expression is true; decided at match time "
                "from the contexts event, github, rule and vars (e.g. a title check)",
            },
            "disabled": {
                "type": "boolean",
                "description": "true: the rule never runs; in a repository, it also switches "
                "off the organisation default of the same name",
            },
            "timeout": {"$ref": "#/$defs/duration", "description": "Deadline for the whole run"},
            "operations-per-run": {
                "type": "integer",
                "minimum": 1,
                "description": "At most this many GitHub requests per run, as actions/stale's "
                "operations-per-run: past it, for-each items and nodes left are skipped until "
                "the next run",
            },
            "vars": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_-]*$"},
                "description": "Values the nodes read as ${{ vars.NAME }}",
            },
            "nodes": {
                "type": "object",
                "minProperties": 1,
                "propertyNames": {"pattern": NODE_ID_PATTERN},
                "additionalProperties": {"$ref": "#/$defs/node"},
                "description": "The graph: node id -> node",
            },
        },
        "$defs": defs,
    }


@cache
def rule_validator() -> Draft202012Validator:
    """A compiled validator of the rule structure (node inputs are checked per node type)."""
    return Draft202012Validator(build_schema(Registry(), editor=False))


__all__ = ["build_schema", "rule_validator", "schema_diagnostics"]
