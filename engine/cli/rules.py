"""The rule commands: `validate`, `schema`, `simulate` and `run`."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import IO, Any

from engine.cli.comments import command_decision, comment_payload, given_permissions
from engine.errors import InputError, UsageError
from engine.lang.diagnostics import RuleLoadError
from engine.lang.files import RuleSet, load_rules
from engine.lang.report import REPORTERS
from engine.lang.schema import build_schema
from engine.match.payload import PayloadError
from engine.nodes import default_registry
from engine.run.given_facts import UNDECIDED_HERE, GivenFacts

EXIT_OK = 0
EXIT_PROBLEMS = 1


def validate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.lang.files import validate_paths

    paths = args.paths or [_default_rules_path()]
    result = validate_paths(paths, default_registry(implementations=False))
    _validate_tests(paths, result)
    if result.files == 0:
        stderr.write(
            f"hookwise: no rule files (*.yaml, *.yml) under {', '.join(paths)}: nothing to check\n"
        )
        return EXIT_PROBLEMS
    lines = {path: doc.lines for path, doc in result.documents.items()}
    stdout.write(REPORTERS[args.format](result.files, result.diagnostics, lines))
    return EXIT_PROBLEMS if result.errors else EXIT_OK


def _validate_tests(paths: list[str], result: Any) -> None:
    """Rule test files (*.test.yaml) beside the rules are checked too, with line:col."""
    import os

    from engine.lang.diagnostics import Diagnostic, sort_diagnostics
    from engine.lang.files import find_test_files
    from engine.lang.ruletests import parse_test_file
    from engine.lang.source import decode

    found = find_test_files(paths)
    for path in found:
        with open(path, "rb") as handle:
            text, problem = decode(handle.read(), path)
        if text is None:
            result.diagnostics.append(problem)
            continue
        parsed = parse_test_file(text, path)
        result.diagnostics.extend(parsed.diagnostics)
        result.documents[path] = parsed.document
        for index, name in enumerate(parsed.rules or []):
            if not os.path.isfile(os.path.join(os.path.dirname(path), name)):
                where = parsed.document.source_map.value(("rules", index))
                message = f'no rule file "{name}" beside this test (rules: names files in its folder)'
                result.diagnostics.append(Diagnostic(path, where.line, where.column, "rule-test", message))
    if found:
        result.files += len(found)
        result.diagnostics = sort_diagnostics(result.diagnostics)


def _default_rules_path() -> str:
    """`rules/`; in a repository checkout without one, its `.github/hookwise/`."""
    import os

    if not os.path.isdir("rules") and os.path.isdir(".github/hookwise"):
        return ".github/hookwise"
    return "rules/"


def schema(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    stdout.write(schema_text())
    return EXIT_OK


def schema_text() -> str:
    """The published rule schema as JSON text (what schemas/rule.schema.json holds)."""
    return json.dumps(build_schema(default_registry(implementations=False)), indent=2) + "\n"


def read_payload(path: str) -> dict[str, Any]:
    """A JSON payload file as a dict; InputError when it is missing or malformed."""
    try:
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except FileNotFoundError:
        raise UsageError(f"no such payload file: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"payload {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"payload {path} must be a JSON object, found {type(data).__name__}")
    return data


def load_ruleset(path: str, stderr: IO[str]) -> RuleSet:
    """Load rules for a command; their problems go to stderr as an InputError."""
    try:
        return load_rules([path], default_registry(implementations=False))
    except RuleLoadError as exc:
        from engine.lang.files import find_rule_files

        stderr.write(REPORTERS["text"](len(find_rule_files([path])), exc.diagnostics, {}))
        raise InputError(
            f"the rules under {path} have problems; run `hookwise validate {path}`"
        ) from None


def read_changed_files(path: str | None) -> tuple[str, ...] | None:
    """The paths listed one per line in a file, or None without a file."""
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return tuple(line.strip() for line in handle if line.strip())
    except OSError as exc:
        raise UsageError(f"cannot read changed files {path}: {exc.strerror}") from None


def check_event_name(name: str) -> None:
    """An event GitHub sends (X-GitHub-Event), or an InputError with the closest name."""
    from engine.lang import catalogue
    from engine.text import suggest

    if name in catalogue.webhook_events() or name == "schedule":  # a tick of `on: schedule`
        return
    spelled = catalogue.spelled_as(name)
    hint = f'; did you mean "{spelled}"?' if spelled else suggest(name, catalogue.event_names())
    raise InputError(f'unknown event "{name}" (the X-GitHub-Event name){hint}')


def read_teams(values: list[str]) -> dict[str, set[str]]:
    """`--team org/slug=alice,bob`: each declared team's members (lower-cased)."""
    from engine.lang.checks.triggers import TEAM_PATTERN

    declared: dict[str, set[str]] = {}
    for value in values:
        team, sep, logins = value.partition("=")
        if not sep or not TEAM_PATTERN.fullmatch(team.strip()):
            raise UsageError(f"--team {value!r}: write org/team=login,login")
        members = declared.setdefault(team.strip().lower(), set())
        members.update(login.strip().lower() for login in logins.split(",") if login.strip())
    return declared


def decision_time(text: str | None) -> float:
    """`--at TIME` as seconds since the epoch (ISO 8601, UTC without an offset); now if None."""
    if text is None:
        return time.time()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--at {text!r}: write an ISO 8601 time such as 2026-12-04T16:30 or "
            "2026-12-04T16:30+01:00"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _payload_file(args: argparse.Namespace) -> dict[str, Any]:
    if not args.event or not args.payload:
        raise UsageError("give --event and --payload (or --comment TEXT for a slash command)")
    return read_payload(args.payload)


def _load(args: argparse.Namespace, stderr: IO[str]) -> tuple[RuleSet, Any]:
    """The rules and the payload's event a command decides on."""
    from engine.match.events import parse_event

    if args.event:
        check_event_name(args.event)  # before the payload is read: the name is the likelier slip
    payload = comment_payload(args, read_payload) if getattr(args, "comment", None) is not None else None
    payload = payload or _payload_file(args)
    check_event_name(args.event)
    ruleset = load_ruleset(args.rules, stderr)
    try:
        return ruleset, parse_event(args.event, payload, at=decision_time(args.at))
    except PayloadError as exc:
        raise InputError(f"{args.payload}: {exc}") from None


async def _decide(ruleset: RuleSet, event: Any, args: argparse.Namespace, github: Any) -> Any:
    """The one decision path (engine.match.matcher.decide_delivery), facts from the command
    line first, then from GitHub when `github` is given."""
    from engine.match.index import RuleIndex
    from engine.match.matcher import decide_delivery

    facts = GivenFacts(
        read_changed_files(args.changed_files), read_teams(getattr(args, "team", [])), github
    )
    return await decide_delivery(event, RuleIndex(ruleset.rules), facts)


def read_answers(path: str | None) -> Any:
    """The canned GitHub answers in a YAML or JSON file (--answers), or None."""
    if path is None:
        return None
    from engine.github.canned import CannedGitHub, parse_answers
    from engine.lang.source import load_document

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read answers {path}: {exc}") from None
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"answers {path} is not valid JSON: {exc}") from None
    else:  # YAML: a mapping with `answers:`, as in a rule test
        document = load_document(text, path)
        if document.diagnostics:
            first = document.diagnostics[0]
            raise InputError(
                f"{path}:{first.line}:{first.column}: {first.message.split(';')[0]}; "
                "write the answers under `answers:`"
            )
        data = document.data
    if isinstance(data, dict):
        data = data.get("answers")
    return CannedGitHub(parse_answers(data, path))


def _canned_facts(canned: Any, event: Any) -> Any:
    from engine.github.facts import GitHubFacts

    return GitHubFacts(canned, event.installation_id or 1) if canned is not None else None


def simulate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import asyncio

    ruleset, event = _load(args, stderr)
    canned = read_answers(getattr(args, "answers", None))
    result = asyncio.run(_decide(ruleset, event, args, _canned_facts(canned, event)))
    event = result.event
    matched = [
        {"rule": m.rule.name, "file": m.rule.file, **command_decision(m.rule, event, args)}
        for m in result.matched
    ]
    not_matched = [
        {"rule": r.rule.name, "file": r.rule.file, "reason": r.reason} for r in result.not_matched()
    ]
    undecided = [
        {"rule": r.rule.name, "file": r.rule.file, "reason": r.reason}
        for r in result.undecided(result.unknown or UNDECIDED_HERE)
    ]
    if args.format == "json":
        report = {
            "event": event.name,
            "action": event.action,
            "matched": matched,
            "not_matched": not_matched,
            "undecided": undecided,
        }
        stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    action = f" (action {event.action})" if event.action else ""
    where = f" in {event.repository}" if event.repository else ""
    stdout.write(f"event {event.name}{action}{where}\n")
    stdout.write(f"matched ({len(matched)}):\n")
    for item in matched:
        stdout.write(f"  {item['rule']}  {item['file']}\n")
        if "command" in item:
            stdout.write(f"      {item['command']['decision']}\n")
    if undecided:
        stdout.write(f"undecided ({len(undecided)}):\n")
        for item in undecided:
            stdout.write(f"  {item['rule']}  {item['file']}\n      {item['reason']}\n")
    stdout.write(f"not matched ({len(not_matched)}):\n")
    for item in not_matched:
        stdout.write(f"  {item['rule']}  {item['file']}\n      {item['reason']}\n")
    return EXIT_OK


def run(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import asyncio
    import os

    from engine.github.client import GitHubClient
    from engine.github.facts import GitHubFacts
    from engine.run.executor import ExecutionOptions, execute
    from engine.settings import Settings

    ruleset, event = _load(args, stderr)
    settings = Settings.from_mapping(os.environ)
    canned = read_answers(getattr(args, "answers", None))
    if canned is not None:
        return _run_canned(args, ruleset, event, canned, stdout)
    if not args.dry_run and settings.dry_run:
        stderr.write("hookwise: no GitHub App credentials (GITHUB_APP_ID); running as --dry-run\n")
    registry = default_registry()

    async def run_all() -> tuple[Any, list[Any]]:
        credentials = settings.app_credentials()
        installation = event.installation_id
        client = (
            GitHubClient(credentials, base_url=settings.github_api_base_url)
            if credentials is not None and installation is not None
            else None
        )
        github = client.installation(installation) if client and installation else None
        shared: dict[str, Any] = given_permissions(args, event)
        try:
            facts = GitHubFacts(github, installation, shared=shared) if github else None
            result = await _decide(ruleset, event, args, facts)
            options = ExecutionOptions(
                github=github,
                dry_run=args.dry_run or settings.dry_run,
                changed_files=read_changed_files(args.changed_files),
                shared=shared,
            )
            runs = [await execute(m.rule, result.event, registry, options) for m in result.matched]
            return result, runs
        finally:
            if client is not None:
                await client.aclose()

    result, records = asyncio.run(run_all())
    return _report_runs(args, result, records, stdout)


def _run_canned(
    args: argparse.Namespace, ruleset: RuleSet, event: Any, canned: Any, stdout: IO[str]
) -> int:
    """`run --answers`: offline, reads answered from the file, every write planned."""
    import asyncio

    from engine.run.executor import ExecutionOptions, execute

    registry = default_registry()

    async def run_all() -> tuple[Any, list[Any]]:
        result = await _decide(ruleset, event, args, _canned_facts(canned, event))
        options = ExecutionOptions(
            github=canned, dry_run=True, changed_files=read_changed_files(args.changed_files),
            shared=given_permissions(args, event),
        )
        return result, [await execute(m.rule, result.event, registry, options) for m in result.matched]

    result, records = asyncio.run(run_all())
    return _report_runs(args, result, records, stdout)


def _report_runs(args: argparse.Namespace, result: Any, records: list[Any], stdout: IO[str]) -> int:
    undecided = [
        {"rule": r.rule.name, "file": r.rule.file, "reason": r.reason}
        for r in result.undecided(result.unknown or UNDECIDED_HERE)
    ]
    if args.format == "json":
        report = {"runs": [r.to_json() for r in records], "undecided": undecided}
        stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        if not records and not undecided:
            stdout.write("no rule matches this payload (see `hookwise simulate`)\n")
        for record in records:
            stdout.write(f"{record.rule}: {record.status}\n")
            for node in record.nodes:
                why = node.error or node.reason
                stdout.write(f"  {node.id}: {node.status}" + (f" ({why})" if why else "") + "\n")
            for call in record.calls:
                state = "sent" if call.sent else "planned"
                if call.sent and getattr(args, "answers", None):
                    state = "canned"  # --answers: nothing reached GitHub
                status = f" -> {call.status}" if call.status else ""
                stdout.write(f"  {state} {call.method} {call.path}{status}\n")
        for item in undecided:
            stdout.write(f"{item['rule']}: undecided ({item['reason']})\n")
    return EXIT_OK if all(r.status == "success" for r in records) else EXIT_PROBLEMS
