"""The `hookwise` command line: main(argv, stdout, stderr) -> exit code."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from engine import cli_deliveries
from engine.diagnostics import HookwiseError, InputError, RuleLoadError, UsageError
from engine.registry import default_registry
from engine.report import REPORTERS
from engine.ruleset import RuleSet, load_rules
from engine.schema import build_schema

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2


class _UsageExit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that writes to our streams and never calls sys.exit."""

    stream: IO[str] = sys.stderr

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (file if file is sys.stdout else self.stream).write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self.stream.write(message)
        raise _UsageExit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self.stream)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(stderr: IO[str]) -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    _Parser.stream = stderr
    parser = _Parser(prog="hookwise", description="A declarative workflow rules engine for GitHub")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    validate = sub.add_parser("validate", help="lint rule files")
    validate.add_argument(
        "paths", nargs="*", metavar="PATH", help="rule files or folders (default rules/)"
    )
    validate.add_argument("--format", choices=sorted(REPORTERS), default="text")

    sub.add_parser("schema", help="print the rule JSON Schema")

    simulate = sub.add_parser("simulate", help="which rules match a payload, and why not")
    simulate.add_argument("--event", required=True, help="the X-GitHub-Event name")
    simulate.add_argument("--payload", required=True, help="a JSON payload file")
    simulate.add_argument("--rules", default="rules/", help="rules path (default rules/)")
    simulate.add_argument(
        "--changed-files", help="a file with one changed path per line (a pull request's files)"
    )
    simulate.add_argument("--format", choices=["text", "json"], default="text")

    run = sub.add_parser("run", help="execute the rules that match a payload")
    run.add_argument("--event", required=True, help="the X-GitHub-Event name")
    run.add_argument("--payload", required=True, help="a JSON payload file")
    run.add_argument("--rules", default="rules/", help="rules path (default rules/)")
    run.add_argument("--changed-files", help="a file with one changed path per line")
    run.add_argument(
        "--dry-run", action="store_true", help="record GitHub writes, do not send them"
    )
    run.add_argument("--format", choices=["text", "json"], default="text")

    cli_deliveries.add_parsers(sub)

    serve = sub.add_parser("serve", help="run the webhook server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--rules", default=None, help="rules path (default $HOOKWISE_RULES or rules/)"
    )
    return parser


def main(
    argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """Run one hookwise command; return its exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser(stderr)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except _UsageExit as exc:
        return exc.code
    handler = _COMMANDS[args.command]
    try:
        return int(handler(args, stdout, stderr))
    except UsageError as exc:
        stderr.write(f"hookwise: error: {exc}\n")
        return EXIT_USAGE
    except HookwiseError as exc:
        stderr.write(f"hookwise: {exc}\n")
        return EXIT_PROBLEMS


def _validate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.ruleset import validate_paths

    result = validate_paths(args.paths or ["rules/"], default_registry())
    lines = {path: doc.lines for path, doc in result.documents.items()}
    stdout.write(REPORTERS[args.format](result.files, result.diagnostics, lines))
    return EXIT_PROBLEMS if result.diagnostics else EXIT_OK


def _schema(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    stdout.write(schema_text())
    return EXIT_OK


def schema_text() -> str:
    """The published rule schema as JSON text (what schemas/rule.schema.json holds)."""
    return json.dumps(build_schema(default_registry()), indent=2) + "\n"


def _serve(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import os

    import uvicorn

    from engine.settings import Settings
    from engine.web import configure_logging, create_app

    settings = Settings.from_mapping(os.environ)
    if args.rules:
        settings = settings.with_rules(args.rules)
    configure_logging(settings)
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)
    return EXIT_OK


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
        return load_rules([path], default_registry())
    except RuleLoadError as exc:
        stderr.write(REPORTERS["text"](len(exc.diagnostics), exc.diagnostics, {}))
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


def _match(
    args: argparse.Namespace, stderr: IO[str]
) -> tuple[RuleSet, Any, tuple[str, ...] | None]:
    from engine.events import parse_event
    from engine.matcher import RuleIndex, complete, match

    payload = read_payload(args.payload)
    ruleset = load_ruleset(args.rules, stderr)
    event = parse_event(args.event, payload)
    result = match(event, RuleIndex(ruleset.rules))
    files = read_changed_files(args.changed_files)
    if result.needs_files and files is not None:
        result = complete(result, files)
    return ruleset, result, files


def _simulate(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    _, result, _ = _match(args, stderr)
    event = result.event
    matched = [{"rule": m.rule.name, "file": m.rule.file} for m in result.matched]
    not_matched = [
        {"rule": r.rule.name, "file": r.rule.file, "reason": r.reason} for r in result.not_matched()
    ]
    if args.format == "json":
        report = {
            "event": event.name,
            "action": event.action,
            "matched": matched,
            "not_matched": not_matched,
        }
        stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    action = f" (action {event.action})" if event.action else ""
    where = f" in {event.repository}" if event.repository else ""
    stdout.write(f"event {event.name}{action}{where}\n")
    stdout.write(f"matched ({len(matched)}):\n")
    for item in matched:
        stdout.write(f"  {item['rule']}  {item['file']}\n")
    stdout.write(f"not matched ({len(not_matched)}):\n")
    for item in not_matched:
        stdout.write(f"  {item['rule']}  {item['file']}\n      {item['reason']}\n")
    return EXIT_OK


def _run(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import asyncio
    import os

    from engine.changed_files import fetch_changed_files
    from engine.executor import ExecutionOptions, run_rule
    from engine.github import github_for_event
    from engine.matcher import complete
    from engine.settings import Settings

    _, result, files = _match(args, stderr)
    settings = Settings.from_mapping(os.environ)
    if not args.dry_run and settings.dry_run:
        stderr.write("hookwise: no GitHub App credentials (GITHUB_APP_ID); running as --dry-run\n")
    registry = default_registry()

    async def run_all() -> list[Any]:
        nonlocal result
        async with github_for_event(settings, result.event) as github:
            shared: dict[str, Any] = {}
            if result.needs_files and github is not None:
                result = complete(result, await fetch_changed_files(github, result.event, shared))
            options = ExecutionOptions(
                github=github,
                dry_run=args.dry_run or settings.dry_run,
                changed_files=files,
                shared=shared,
            )
            return [await run_rule(m.rule, result.event, registry, options) for m in result.matched]

    records = asyncio.run(run_all())
    if args.format == "json":
        stdout.write(json.dumps({"runs": [r.to_json() for r in records]}, indent=2) + "\n")
    else:
        if not records:
            stdout.write("no rule matches this payload (see `hookwise simulate`)\n")
        for record in records:
            stdout.write(f"{record.rule}: {record.status}\n")
            for node in record.nodes:
                error = f" ({node.error})" if node.error else ""
                stdout.write(f"  {node.id}: {node.status}{error}\n")
            for call in record.calls:
                state = "sent" if call.sent else "planned"
                stdout.write(f"  {state} {call.method} {call.path}\n")
    return EXIT_OK if all(r.status == "success" for r in records) else EXIT_PROBLEMS


_COMMANDS: dict[str, Any] = {
    "run": _run,
    "deliver": cli_deliveries.deliver,
    "deliveries": cli_deliveries.deliveries,
    "validate": _validate,
    "schema": _schema,
    "serve": _serve,
    "simulate": _simulate,
}


def entrypoint() -> None:
    """The console script: exit with main()'s code."""
    sys.exit(main())
