"""`hookwise app manifest|create` (the GitHub App manifest flow) and `hookwise recover`."""

from __future__ import annotations

import argparse
import asyncio
import base64
import html
import json
import os
import secrets
import time
from typing import IO, Any
from urllib.parse import quote, urlsplit

from engine.errors import InputError, UsageError
from engine.settings import Settings
from engine.text import seconds_of

EXIT_OK = 0
API_VERSION = "2022-11-28"


def add_parsers(sub: Any) -> None:
    """Register `app` and `recover` on the CLI's subparsers."""
    app = sub.add_parser("app", help="create the GitHub App: manifest flow")
    actions = app.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    manifest = actions.add_parser(
        "manifest", help="print a GitHub App manifest: the events and least permissions the rules need"
    )
    manifest.add_argument("--url", required=True, help="where hookwise is served, e.g. https://hooks.example.com")
    manifest.add_argument("--org", default=None, help="create the App in this organisation")
    manifest.add_argument("--rules", default=None, help="rules path (default $HOOKWISE_RULES or rules/)")
    manifest.add_argument("--name", default="hookwise", help="the App's name (unique on GitHub)")
    manifest.add_argument("--public", action="store_true", help="let other accounts install it")
    manifest.add_argument(
        "--no-repo-rules",
        action="store_true",
        help="leave out what repository rules (.github/hookwise) need (HOOKWISE_REPO_RULES=false)",
    )
    manifest.add_argument(
        "--format",
        choices=["json", "html", "text"],
        default="json",
        help="json: the manifest; html: a page that posts it to GitHub; text: why each permission",
    )
    create = actions.add_parser(
        "create",
        help="exchange a manifest code for the App's credentials",
        description="Exchange the code GitHub redirected with, after you created the App from "
        "its manifest, for the App's id, private key, webhook secret and client secret, and "
        "write them to an .env file (mode 0600) that `hookwise serve` reads.",
    )
    create.add_argument("--code", required=True, help="the code GitHub redirected with")
    create.add_argument("--env-file", default=".env", help="where to write them (default .env)")
    create.add_argument("--force", action="store_true", help="replace an existing file")
    recover = sub.add_parser(
        "recover",
        help="ask GitHub to redeliver the failed deliveries the store does not hold",
        description="List the App's webhook deliveries GitHub recorded in the window, and ask "
        "GitHub to redeliver each one that failed and is not in the delivery log (GitHub never "
        "redelivers on its own). The server does this every HOOKWISE_RECOVER_INTERVAL too.",
    )
    recover.add_argument("--since", default="1h", help="the window: 90m, 6h, 3d (default 1h)")
    recover.add_argument("--dry-run", action="store_true", help="list what would be redelivered")
    recover.add_argument("--database", metavar="URL", help="default $DATABASE_URL")
    recover.add_argument("--env-file", default=None, help="read settings from this .env file too")
    recover.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="json: one object per delivery, for scripts (docs/operations.md)",
    )


def app(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """`app manifest` or `app create`."""
    if args.action == "manifest":
        return _manifest(args, stdout, stderr)
    return _create(args, stdout, stderr)


def _manifest(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    from engine.lang.files import load_rules
    from engine.lang.manifest import manifest, plan
    from engine.nodes import default_registry

    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"--url must be an http(s) address such as https://hooks.example.com, not {args.url!r}")
    settings = Settings.from_mapping(os.environ)
    registry = default_registry()
    ruleset = load_rules([args.rules or settings.rules_path], registry)
    found = plan(ruleset.rules, registry, repository_rules=settings.repo_rules and not args.no_repo_rules)
    document = manifest(found, args.url, name=args.name, public=args.public)
    for warning in found.warnings:
        stderr.write(f"hookwise: warning: {warning}\n")
    if args.format == "json":
        stdout.write(json.dumps(document, indent=2) + "\n")
    elif args.format == "text":
        stdout.write(f"events: {', '.join(document['default_events']) or '(none)'}\n")
        for name, level in document["default_permissions"].items():
            reasons = found.why.get(f"{name}: {level}", ["every App has it"])
            stdout.write(f"{name}: {level}\n" + "".join(f"  {r}\n" for r in reasons))
    else:
        stdout.write(_page(document, settings.github_web_url, args.org, found.why))
    return EXIT_OK


def _page(
    document: dict[str, Any], web_url: str, org: str | None, reasons: dict[str, list[str]]
) -> str:
    """An HTML page whose button posts the manifest to GitHub's App registration."""
    base = web_url.rstrip("/")
    where = f"{base}/organizations/{quote(org, safe='')}/settings/apps/new" if org else f"{base}/settings/apps/new"
    state = secrets.token_urlsafe(16)
    owner = f"the {org} organisation" if org else "your account"
    why = "\n".join(
        f"<li><code>{html.escape(name)}: {html.escape(level)}</code>: "
        + html.escape("; ".join(reasons.get(f"{name}: {level}", ["every App has it"])))
        + "</li>"
        for name, level in document["default_permissions"].items()
    )
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Create the {html.escape(document["name"])} GitHub App</title></head>
<body>
<h1>Create the {html.escape(document["name"])} GitHub App</h1>
<p>The button sends this manifest to GitHub, which shows the App for {html.escape(owner)} before
creating it. GitHub then returns to {html.escape(document["redirect_url"])} with a code and the
state <code>{html.escape(state)}</code>: check that the page there shows this same state, then run
<code>hookwise app create --code CODE</code> within the hour.</p>
<p>App names are unique on GitHub: if "{html.escape(document["name"])}" is taken, rename it on
GitHub's page or make this page again with <code>--name</code>.</p>
<h2>Permissions, and why</h2>
<ul>
{why}
</ul>
<pre>{html.escape(json.dumps(document, indent=2))}</pre>
<form action="{html.escape(where)}?state={html.escape(state)}" method="post">
<input type="hidden" name="manifest" value="{html.escape(json.dumps(document), quote=True)}">
<button type="submit">Create the GitHub App</button>
</form>
</body>
</html>
"""


def _create(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    import httpx

    from engine.cli.envfile import write_env_file

    settings = Settings.from_mapping(os.environ)
    code = args.code.strip()
    if not code or "/" in code:
        raise UsageError("--code is the code GitHub added to the redirect (?code=...)")
    url = f"{settings.github_api_base_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "hookwise",
    }
    try:
        response = httpx.post(url, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise InputError(f"could not reach GitHub at {settings.github_api_base_url}: {exc}") from None
    if response.status_code == 404:
        raise InputError("GitHub does not know that code: a code works once, within an hour of the redirect")
    if response.status_code != 201:
        raise InputError(f"GitHub answered {response.status_code}: {response.text[:300]}")
    created = response.json()
    values = {
        "GITHUB_APP_ID": str(created["id"]),
        "GITHUB_APP_SLUG": str(created.get("slug") or ""),
        "GITHUB_APP_PRIVATE_KEY": str(created["pem"]),
        "GITHUB_WEBHOOK_SECRET": str(created.get("webhook_secret") or ""),
        "GITHUB_CLIENT_ID": str(created["client_id"]),
        "GITHUB_CLIENT_SECRET": str(created["client_secret"]),
        # for the install flow: states that survive a restart, credentials sealed at rest
        "HOOKWISE_STATE_SECRET": secrets.token_urlsafe(32),
        "ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    if settings.github_api_base_url != Settings.github_api_base_url:
        values["GITHUB_API_BASE_URL"] = settings.github_api_base_url
    if settings.github_web_url != Settings.github_web_url:
        values["GITHUB_WEB_URL"] = settings.github_web_url
    values = {k: v for k, v in values.items() if v}
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (
        f"The GitHub App {created.get('slug') or created['id']}, written by `hookwise app create` on {stamp}.\n"
        "Secrets: keep this file to its owner (mode 0600) and out of version control."
    )
    write_env_file(args.env_file, values, header, force=args.force)
    page = created.get("html_url") or ""
    stdout.write(
        f"created the GitHub App {created.get('name') or created['id']} (id {created['id']})\n"
        f"wrote {args.env_file} (mode 0600): {', '.join(values)}\n"
        f"next: `make run` reads it; install the App at {page}/installations/new\n"
    )
    return EXIT_OK


def recover(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """Ask GitHub to redeliver what it failed to deliver in the window (or list it)."""
    from engine.cli.envfile import load_env_file
    from engine.github.client import GitHubClient
    from engine.store.open import open_store
    from engine.workers.recover import recover as recover_pass

    if args.env_file:
        load_env_file(args.env_file)
    try:
        window = seconds_of(args.since)
    except ValueError as exc:
        raise UsageError(f"--since: {exc}") from None
    if window <= 0:
        raise UsageError("--since must be longer than 0")
    settings = Settings.from_mapping(os.environ)
    credentials = settings.app_credentials()
    if credentials is None:
        raise InputError(
            "recover needs the App's credentials, even with --dry-run (it reads the App's "
            "deliveries from GitHub): set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (or "
            "GITHUB_APP_PRIVATE_KEY_PATH), or pass --env-file .env as `hookwise app create` wrote it"
        )
    url = args.database or settings.database_url
    store = open_store(url, create=False, upgrade=url.startswith("sqlite:"))

    async def run() -> Any:
        client = GitHubClient(credentials, base_url=settings.github_api_base_url)
        try:
            return await recover_pass(client, store, window, dry_run=args.dry_run)
        finally:
            await client.aclose()

    try:
        report = asyncio.run(run())
    finally:
        store.close()
    if args.format == "json":
        stdout.write(json.dumps({"dry_run": args.dry_run, **report.to_json()}, indent=2) + "\n")
        return EXIT_OK if not report.errors else 1
    verb = "would ask" if args.dry_run else "asked"
    stdout.write(
        f"{report.attempts} delivery attempt(s) since {report.to_json()['window_start']}; "
        f"{report.failed} event(s) never delivered; {len(report.stored)} of them stored anyway; "
        f"{len(report.refused)} refused by hookwise (4xx; they would fail again); "
        f"{len(report.already_asked)} already asked for\n"
        f"{verb} GitHub to redeliver {len(report.redeliver)}:\n"
    )
    for item in report.redeliver:
        action = f".{item.action}" if item.action else ""
        stdout.write(f"  {item.guid}  {item.event}{action}  (attempt {item.id})\n")
    for error in report.errors:
        stdout.write(f"  refused: {error}\n")
    return EXIT_OK if not report.errors else 1
