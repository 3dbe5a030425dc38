"""The long-running commands and the database's own: `serve`, `worker`, `db upgrade|status`."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import signal
import socket
import time
from typing import IO, Any

from engine.errors import InputError

EXIT_OK = 0


def add_parsers(sub: Any) -> None:
    """Register `serve`, `worker` and `db` on the CLI's subparsers."""
    serve = sub.add_parser("serve", help="run the webhook server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port", type=int, default=None, help="default $PORT or 8000 (the image sets PORT)"
    )
    serve.add_argument(
        "--rules", default=None, help="rules path (default $HOOKWISE_RULES or rules/)"
    )
    serve.add_argument(
        "--env-file", default=None, help="read settings from this .env file (the environment wins)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="jobs this server runs at once (default $HOOKWISE_WORKERS or 16; 0: accept only)",
    )
    worker = sub.add_parser("worker", help="run jobs only (beside servers on one database)")
    worker.add_argument(
        "--concurrency", type=int, default=None, metavar="N", help="jobs at once (default $HOOKWISE_WORKERS or 16)"
    )
    worker.add_argument(
        "--rules", default=None, help="rules path (default $HOOKWISE_RULES or rules/)"
    )
    worker.add_argument(
        "--env-file", default=None, help="read settings from this .env file (the environment wins)"
    )
    database = sub.add_parser("db", help="the database schema: upgrade or status")
    actions = database.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for name, text in (("upgrade", "apply pending migrations"), ("status", "show migrations")):
        action = actions.add_parser(name, help=text)
        action.add_argument(
            "--database", metavar="URL", help="default $DATABASE_URL or sqlite:///hookwise.db"
        )
        action.add_argument("--format", choices=["text", "json"], default="text")


def _settings(args: argparse.Namespace) -> Any:
    from engine.cli.envfile import load_env_file
    from engine.settings import Settings

    if getattr(args, "env_file", None):
        load_env_file(args.env_file)

    settings = Settings.from_mapping(os.environ)
    return settings.with_rules(args.rules) if getattr(args, "rules", None) else settings


def serve(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """The webhook server on uvicorn (uvloop and httptools when installed)."""
    import uvicorn

    from engine.edge.web import configure_logging, create_app
    from engine.observe import logs

    settings = _settings(args)
    if args.port is None:
        port = os.environ.get("PORT", "8000")
        if not port.isdigit():
            raise InputError(f"PORT must be a port number, not {port!r}")
        args.port = int(port)
    listener = _listen(args.host, args.port)
    configure_logging(settings)
    app = create_app(settings, workers=args.workers)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    logs.get("hookwise.server").info(
        f"listening on http://{shown}:{args.port}",
        address=f"{args.host}:{args.port}",
        delivery_log=f"http://{shown}:{args.port}/ui/",
        database=_without_password(settings.database_url),
        access="sign in with HOOKWISE_UI_TOKEN" if settings.ui_token else "loopback clients only",
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        # X-Forwarded-For only from the proxies named; otherwise the peer is the client
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )
    with listener:
        uvicorn.Server(config).run(sockets=[listener])
    return EXIT_OK


def _without_password(url: str) -> str:
    """A database URL fit for a log line: its password left out."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else netloc))


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound before anything starts, so a busy port is one
    plain line naming it rather than a traceback from the event loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be opened ({exc.strerror})"
        raise InputError(
            f"port {port} on {host} {why}; choose another with --port N (make run: PORT=N make run)"
        ) from None
    return listener


def worker(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """A worker process: claim and run jobs until SIGTERM or SIGINT."""
    from engine.edge.web import configure_logging

    settings = _settings(args)
    configure_logging(settings)
    concurrency = args.concurrency if args.concurrency is not None else settings.workers
    if concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    asyncio.run(_work(settings, concurrency))
    return EXIT_OK


async def _work(settings: Any, concurrency: int) -> None:
    from engine.observe import logs
    from engine.runtime import assemble

    runtime = assemble(settings, kind="worker", concurrency=concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runtime.workers.start()
    runtime.scheduler.start()
    logs.get("hookwise.worker").info(
        "worker started",
        name=runtime.workers.name,
        concurrency=concurrency,
        rules=len(runtime.ruleset.rules),
    )
    try:
        await stop.wait()
    finally:
        await runtime.close()


def database(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """`db upgrade` (creates the database if needed) and `db status` (never creates it)."""
    from engine.settings import Settings
    from engine.store.migrate import Migrator
    from engine.store.open import open_store
    from engine.store.records import StoreMissing

    url = args.database or Settings.from_mapping(os.environ).database_url
    upgrading = args.action == "upgrade"
    try:
        store = open_store(url, create=upgrading, upgrade=False)
    except StoreMissing as exc:
        raise InputError(f"{exc}; `hookwise db upgrade` creates it") from None
    try:
        migrator = Migrator(store)
        applied = migrator.upgrade() if upgrading else []
        status = migrator.status()
    finally:
        store.close()
    if args.format == "json":
        report = {"applied": [m.version for m in applied], "migrations": status}
        stdout.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK
    if upgrading:
        stdout.write(
            f"applied {len(applied)} migration(s)\n" if applied else "the schema is up to date\n"
        )
    for step in status:
        when = step["applied_at"]
        shown = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when)) if when else "pending"
        stdout.write(f"  {step['version']:04d} {step['name']}: {shown}\n")
    return EXIT_OK
