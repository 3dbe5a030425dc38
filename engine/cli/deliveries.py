"""`hookwise deliver` and `hookwise deliveries list|show|replay`."""

from __future__ import annotations

import argparse
import json
import os
import uuid
from typing import IO, TYPE_CHECKING, Any

from engine.errors import InputError, UsageError
from engine.settings import Settings

if TYPE_CHECKING:  # the store loads only when a delivery command runs
    from engine.store.interface import Store
    from engine.store.records import StoredDelivery


def add_parsers(sub: Any) -> None:
    """Register the subcommands on the CLI's subparsers."""
    deliver = sub.add_parser("deliver", help="sign and post a payload, as GitHub would")
    deliver.add_argument("payload", metavar="PAYLOAD", help="a JSON payload file")
    deliver.add_argument("--event", required=True, help="the X-GitHub-Event name")
    deliver.add_argument("--url", required=True, help="the webhook URL")
    deliver.add_argument("--secret", help="the webhook secret (default $GITHUB_WEBHOOK_SECRET)")
    deliver.add_argument("--delivery", help="the X-GitHub-Delivery id (default a new UUID)")

    deliveries = sub.add_parser("deliveries", help="the delivery log")
    actions = deliveries.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--database", metavar="URL", help="the database (default $DATABASE_URL or sqlite:///hookwise.db)"
    )
    listing = actions.add_parser("list", help="recent deliveries, newest first", parents=[database])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--format", choices=["text", "json"], default="text")
    show = actions.add_parser(
        "show", help="one delivery with its match trace, jobs and runs", parents=[database]
    )
    show.add_argument("id", metavar="ID")
    show.add_argument("--format", choices=["text", "json"], default="text")
    replay = actions.add_parser(
        "replay", help="re-match a delivery against the rules now, run it anew", parents=[database]
    )
    replay.add_argument("id", metavar="ID")
    replay.add_argument(
        "--rules", default=None, help="rules path (default $HOOKWISE_RULES or rules/)"
    )
    replay.add_argument("--format", choices=["text", "json"], default="text")


def deliver(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """Sign and post one payload."""
    import httpx

    from engine.edge.verify import sign

    secret = args.secret if args.secret is not None else os.environ.get("GITHUB_WEBHOOK_SECRET", "")
    try:
        with open(args.payload, "rb") as handle:
            body = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {args.payload}: {exc.strerror}") from None
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/hookwise-deliver",
        "X-GitHub-Event": args.event,
        "X-GitHub-Delivery": args.delivery or str(uuid.uuid4()),
    }
    if secret:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    try:
        response = httpx.post(args.url, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise InputError(f"could not deliver to {args.url}: {exc}") from None
    stdout.write(f"{response.status_code} {response.text}\n")
    return 0 if response.is_success else 1


def open_log(url: str | None) -> Store:
    """The delivery log's database; never created here (a typo must not make an empty one)."""
    from engine.store.open import open_store
    from engine.store.records import StoreMissing

    url = url or Settings.from_mapping(os.environ).database_url
    try:
        return open_store(url, create=False)
    except StoreMissing as exc:
        raise InputError(f"{exc}; is DATABASE_URL (or --database) right?") from None


def deliveries(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    """The delivery log."""
    store = open_log(args.database)
    try:
        if args.action == "list":
            from engine.edge.deliverylog import summary

            items = [summary(d) for d in store.deliveries(args.limit)]
            if args.format == "json":
                stdout.write(json.dumps(items, indent=2) + "\n")
            else:
                for item in items:
                    action = f".{item['action']}" if item["action"] else ""
                    stdout.write(
                        f"{item['received_at']}  {item['delivery']}  {item['event']}{action}  "
                        f"{item['repository'] or '-'}  {item['status']}\n"
                    )
            return 0
        delivery = store.delivery(args.id) or _by_prefix(store, args.id)
        if args.action == "show":
            return _show(store, delivery, args.format, stdout)
        return _replay(store, delivery, args, stdout)
    finally:
        store.close()


PREFIX_LENGTH = 4  # the shortest id prefix taken, as git takes a short hash


def _by_prefix(store: Store, prefix: str) -> StoredDelivery:
    """The one delivery whose id starts with `prefix`; an InputError naming the candidates."""
    found = store.delivery_ids_starting(prefix, limit=6) if len(prefix) >= PREFIX_LENGTH else []
    delivery = store.delivery(found[0]) if len(found) == 1 else None
    if delivery is not None:
        return delivery
    if len(found) > 1:
        shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
        raise InputError(f"delivery id prefix {prefix!r} is ambiguous: {shown}")
    short = f" (a prefix needs at least {PREFIX_LENGTH} characters)" if len(prefix) < PREFIX_LENGTH else ""
    raise InputError(f"no delivery {prefix!r}{short}")


def _show(store: Store, delivery: StoredDelivery, fmt: str, stdout: IO[str]) -> int:
    from engine.edge.deliverylog import MATCHED, NOT_MATCHED, UNDECIDED, WAITING, describe

    view = describe(delivery, store.jobs(delivery.delivery_id), store.runs(delivery.delivery_id))
    if fmt == "json":
        detail = {
            **view.summary(),
            "installation": delivery.installation_id,
            "rules": [
                {"rule": r.rule, "outcome": r.outcome, "reason": r.reason, "source": r.source}
                for r in view.rules
            ],
            "repository_rules": {
                "sources": view.sources, "skipped": view.skipped, "replaced": view.replaced
            },
            "match_trace": delivery.match_trace,
            "jobs": [
                {k: j[k] for k in ("rule", "generation", "kind", "state", "attempts", "error")}
                for j in view.jobs
            ],
            "runs": [
                {"rule": r["rule"], "generation": r["generation"], **r["record"]} for r in view.runs
            ],
            "payload_kept": delivery.payload is not None,
        }
        stdout.write(json.dumps(detail, indent=2, default=str) + "\n")
        return 0
    head = view.summary()
    stdout.write(f"delivery {head['delivery']}: {head['event']} {head['action'] or ''}\n")
    stdout.write(
        f"  repository {head['repository']}, received {head['received_at']}, "
        f"status {head['status']}\n"
    )
    for source in view.sources:
        stdout.write(f"  rules from {source}\n")
    for skipped in view.skipped:
        stdout.write(f"  skipped {skipped['file']} ({skipped['source']}): {skipped['reason']}\n")
    for note in view.replaced:
        stdout.write(f"  {note}\n")
    for outcome in (MATCHED, WAITING, UNDECIDED, NOT_MATCHED):
        for item in view.outcomes(outcome):
            why = f": {item.reason}" if item.reason else ""
            where = f" ({item.source})" if item.source != "server" else ""
            stdout.write(f"  {outcome}: {item.rule}{where}{why}\n")
    if view.not_candidates:
        stdout.write(f"  ({view.not_candidates} more rules do not listen to this event and action)\n")
    for run in view.runs:
        record = run["record"]
        stdout.write(f"  run {run['rule']} #{run['generation']}: {run['status']}\n")
        for node in record["nodes"]:
            why = node.get("error") or node.get("reason")
            stdout.write(f"    {node['id']}: {node['status']}" + (f" ({why})" if why else "") + "\n")
    return 0


def _replay(
    store: Store, delivery: StoredDelivery, args: argparse.Namespace, stdout: IO[str]
) -> int:
    import asyncio

    from engine.runtime import assemble

    if delivery.payload is None:
        raise InputError(f"the payload of {delivery.delivery_id} was pruned; it cannot be replayed")
    settings = Settings.from_mapping(os.environ)
    if args.rules:
        settings = settings.with_rules(args.rules)
    # the servers' runtime, on the log's store: the same jobs, the same shared rate budget
    runtime = assemble(settings, kind="cli", concurrency=1, store=store)

    async def run() -> int | None:
        try:
            generation = await runtime.queue_replay(delivery, settings.app_login)
            if generation is not None:
                await runtime.workers.drain(delivery.delivery_id)
            return generation
        finally:
            await runtime.close()

    generation = asyncio.run(run())
    runs = [r for r in store.runs(delivery.delivery_id) if r["generation"] == generation]
    if args.format == "json":
        payload = {
            "delivery": delivery.delivery_id,
            "generation": generation,
            "runs": [{"rule": r["rule"], "status": r["status"]} for r in runs],
        }
        stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        stdout.write(f"replayed {delivery.delivery_id} as run #{generation}: {len(runs)} rule(s)\n")
        for r in runs:
            stdout.write(f"  {r['rule']}: {r['status']}\n")
    return 0
