"""The `hookwise` command line: main(argv, stdout, stderr) -> exit code."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import IO, Any, NoReturn

from engine import __version__
from engine.cli import deliveries as cli_deliveries
from engine.cli import github_app as cli_app
from engine.cli import rules, service, testing
from engine.errors import HookwiseError, UsageError
from engine.lang.report import REPORTERS

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


TEAM_HELP = (
    "the members of a team that a `teams:` filter asks about, as org/team=login,login "
    "(repeatable; logins not listed are not members)"
)

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
    from engine.lang.model import PERMISSIONS
    AT_HELP = (
        "decide as at this time (ISO 8601, e.g. 2026-12-04T16:30+01:00; UTC when no offset): "
        "what within() conditions see (default: now)"
    )

    simulate = sub.add_parser("simulate", help="which rules match a payload, and why not")
    simulate.add_argument("--event", help="the X-GitHub-Event name (default issue_comment with --comment)")
    simulate.add_argument("--payload", help="a JSON payload file (with --comment: GitHub's example comment)")
    simulate.add_argument("--rules", default="rules/", help="rules path (default rules/)")
    simulate.add_argument(
        "--changed-files", help="a file with one changed path per line (a pull request's files)"
    )
    simulate.add_argument(
        "--team", action="append", default=[], metavar="ORG/TEAM=LOGINS", help=TEAM_HELP
    )
    simulate.add_argument("--format", choices=["text", "json"], default="text")
    simulate.add_argument("--at", metavar="TIME", help=AT_HELP)
    simulate.add_argument("--comment", metavar="TEXT", help="the comment's text (slash commands)")
    simulate.add_argument("--commenter", metavar="LOGIN", help="who wrote the comment")
    simulate.add_argument(
        "--permission", choices=PERMISSIONS, help="the commenter's repository permission (offline)"
    )
    simulate.add_argument(
        "--answers",
        metavar="FILE",
        help="canned GitHub answers for reads (YAML or JSON, as in a rule test's `answers:`); "
        "runs offline, writes planned",
    )

    run = sub.add_parser("run", help="execute the rules that match a payload")
    run.add_argument("--event", help="the X-GitHub-Event name (default issue_comment with --comment)")
    run.add_argument("--payload", help="a JSON payload file (with --comment: GitHub's example comment)")
    run.add_argument("--rules", default="rules/", help="rules path (default rules/)")
    run.add_argument("--changed-files", help="a file with one changed path per line")
    run.add_argument(
        "--team", action="append", default=[], metavar="ORG/TEAM=LOGINS", help=TEAM_HELP
    )
    run.add_argument(
        "--dry-run", action="store_true", help="record GitHub writes, do not send them"
    )
    run.add_argument("--format", choices=["text", "json"], default="text")
    run.add_argument("--at", metavar="TIME", help=AT_HELP)
    run.add_argument("--comment", metavar="TEXT", help="the comment's text (slash commands)")
    run.add_argument("--commenter", metavar="LOGIN", help="who wrote the comment")
    run.add_argument(
        "--permission", choices=PERMISSIONS, help="the commenter's repository permission (offline)"
    )
    run.add_argument(
        "--answers",
        metavar="FILE",
        help="canned GitHub answers for reads (YAML or JSON, as in a rule test's `answers:`); "
        "runs offline, writes planned",
    )

    testing.add_parser(sub)
    cli_deliveries.add_parsers(sub)

    service.add_parsers(sub)
    cli_app.add_parsers(sub)
    return parser


def main(
    argv: Sequence[str] | None = None, stdout: IO[str] | None = None, stderr: IO[str] | None = None
) -> int:
    """Run one hookwise command; return its exit code."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments in (["--version"], ["-V"]):
        stdout.write(f"hookwise {__version__}\n")
        return EXIT_OK
    parser = build_parser(stderr)
    try:
        args = parser.parse_args(arguments)
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


_COMMANDS: dict[str, Any] = {
    "run": rules.run,
    "deliver": cli_deliveries.deliver,
    "deliveries": cli_deliveries.deliveries,
    "validate": rules.validate,
    "schema": rules.schema,
    "serve": service.serve,
    "worker": service.worker,
    "db": service.database,
    "simulate": rules.simulate,
    "test": testing.test,
    "app": cli_app.app,
    "recover": cli_app.recover,
}


def entrypoint() -> None:
    """The console script: exit with main()'s code."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`... | head`): that is no error of ours, and no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 141  # as a shell reports a process ended by SIGPIPE
    sys.exit(code)
