"""Checking one webhook request: size, content type, signature, headers, body. Pure.

GitHub signs the raw body with HMAC-SHA256 and sends `X-Hub-Signature-256: sha256=<hex>`:
https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
Deliveries come as `application/json` or as `application/x-www-form-urlencoded` with the JSON
in a `payload` field. The signature is checked before anything is parsed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from engine.lang import catalogue

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub caps payloads at 25 MB
KEPT_HEADERS = (
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "x-github-hook-installation-target-type",
    "x-github-hook-installation-target-id",
    "x-github-enterprise-host",
    "x-github-enterprise-version",
    "user-agent",
    "content-type",
)
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")


@dataclass(frozen=True)
class Accepted:
    """A verified, parsed delivery."""

    event: str
    delivery: str
    payload: dict[str, Any]
    headers: dict[str, str]  # the headers worth keeping (never the signatures)
    raw: str = ""  # the payload's JSON text as received (stored as is, not re-encoded)


@dataclass(frozen=True)
class Rejected:
    """A request refused with a status, a reason code (for metrics) and a message."""

    status: int
    reason: str
    error: str


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header_value: str | None, secrets: Sequence[str]) -> bool:
    """Whether the signature matches one of the secrets (compared in constant time)."""
    if not header_value:
        return False
    found = _SIGNATURE.fullmatch(header_value.strip())
    if not found:
        return False
    given = found.group(1).lower().encode()
    matched = False
    for secret in secrets:  # check every secret so the timing does not tell which matched
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        matched |= hmac.compare_digest(expected, given)
    return matched


def check_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    *,
    max_bytes: int = MAX_BODY_BYTES,
) -> Accepted | Rejected:
    """Verify and parse a delivery, or say why it is refused (4xx)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if len(body) > max_bytes:
        return Rejected(413, "too_large", f"body is larger than {max_bytes} bytes")
    content_type = lowered.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "application/x-www-form-urlencoded"):
        shown = content_type or "none"
        return Rejected(
            415,
            "content_type",
            f"unsupported content type {shown!r}; use application/json or "
            "application/x-www-form-urlencoded",
        )
    if secrets:
        signature = lowered.get("x-hub-signature-256")
        if not signature:
            return Rejected(401, "signature_missing", "missing X-Hub-Signature-256 header")
        if not verify_signature(body, signature, secrets):
            return Rejected(401, "signature_invalid", "X-Hub-Signature-256 does not match the body")
    event = lowered.get("x-github-event", "").strip()
    delivery = lowered.get("x-github-delivery", "").strip()
    if not event:
        return Rejected(400, "event_missing", "missing or empty X-GitHub-Event header")
    if not delivery:
        return Rejected(400, "delivery_missing", "missing or empty X-GitHub-Delivery header")
    if not _DELIVERY_ID.fullmatch(delivery):
        return Rejected(400, "delivery_invalid", "X-GitHub-Delivery is not a delivery id")
    if event not in catalogue.webhook_events():
        return Rejected(400, "event_unknown", f"unknown event {event[:100]!r}")
    parsed = _parse(body, content_type)
    if isinstance(parsed, Rejected):
        return parsed
    payload, raw = parsed
    kept = {k: lowered[k] for k in KEPT_HEADERS if k in lowered}
    return Accepted(event, delivery, payload, kept, raw)


def _parse(body: bytes, content_type: str) -> tuple[dict[str, Any], str] | Rejected:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected(400, "encoding", "body is not UTF-8")
    source: bytes | str = body
    if content_type == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            return Rejected(400, "encoding", "the form's payload field is not UTF-8")
        if "payload" not in fields:
            return Rejected(400, "form_payload_missing", "form body has no payload field")
        source = text = fields["payload"][-1]
    # orjson: RFC 8259 strictly (no NaN or Infinity, no lone surrogates, 1024 levels at most),
    # and three times faster than the standard library on a 21 KB pull request
    try:
        data = orjson.loads(source)
    except orjson.JSONDecodeError as exc:
        return Rejected(400, "json", f"malformed JSON: {exc}")
    if not isinstance(data, dict):
        return Rejected(
            400, "json", f"the payload must be a JSON object, not {type(data).__name__}"
        )
    return data, text
