"""The GitHub API test double: a real HTTP server on 127.0.0.1 with state.

It verifies the App JWT against the App's public key and the installation tokens it issued;
checks every request against the OpenAPI description (method, path, parameters, body) and
every answer it gives against the same description; records what was asked and written;
and injects latency, 5xx, 429 and secondary rate limits by rule. One double serves every
test (through the `github` fixture), the benchmarks and `make run`'s demo.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.double.lookups import Lookups
from tests.double.openapi import Spec, load_spec
from tests.double.state import Request

APP_ID = "424242"
# what GitHub serves: its JSON media type, a custom one (diff, raw...), plain JSON, anything
ACCEPTED = re.compile(r"application/vnd\.github(\+json|\.[a-z0-9.+-]+)|application/json|\*/\*")


@cache
def _app_key() -> rsa.RSAPrivateKey:
    """The App's key pair, made once per test session (RSA generation is slow)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Fault:
    """Answer matching requests with `status` (and headers/body) `times` times; or only delay
    them, by a time or until an event (`hold`) that the test sets."""

    method: str
    path: str  # a regular expression over the path
    status: int | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    hold: threading.Event | None = None  # wait (up to 60 s) until the test sets it
    then: Callable[[], None] | None = None  # after_write hooks: run once the write is applied
    accept: str | None = None  # only requests whose Accept header holds this (a media type)

    def matches(self, method: str, path: str, accept: str = "") -> bool:
        return (
            self.times > 0
            and self.method in (method, "*")
            and re.search(self.path, path) is not None
            and (self.accept is None or self.accept in accept)
        )


@dataclass
class Recorded:
    """One request the double answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    operation: str | None
    auth: str
    at: float = field(default_factory=time.time)  # when the double answered it
    if_none_match: str | None = None  # the ETag a conditional request sent


SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)
CONTENT_CREATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class SecondaryLimits:
    """GitHub's documented secondary limits on content-creating requests: at most
    `per_minute` a minute and `per_hour` an hour (`minute` seconds make a minute, so a test
    can run GitHub's clock faster); past them a 403 with GitHub's message and no retry-after.
    `answers` records when each limit answer was given, `writes` when each write was let in."""

    def __init__(self, per_minute: int = 80, per_hour: int = 500, minute: float = 60.0) -> None:
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.minute = minute
        self.writes: list[float] = []
        self.answers: list[float] = []
        self.lock = threading.Lock()

    def admit(self, method: str, path: str) -> dict[str, str] | None:
        """None when the request may pass; GitHub's 403 body when a limit refuses it."""
        if method not in CONTENT_CREATING or path.endswith("/access_tokens"):
            return None
        now = time.time()
        with self.lock:
            in_minute = sum(1 for w in self.writes if w > now - self.minute)
            in_hour = sum(1 for w in self.writes if w > now - 60 * self.minute)
            if in_minute >= self.per_minute or in_hour >= self.per_hour:
                self.answers.append(now)
                return {
                    "message": SECONDARY_MESSAGE,
                    "documentation_url": "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                }
            self.writes.append(now)
        return None

    def most_in_a_minute(self, since: float) -> int:
        """The most writes let in within any one minute that starts at or after `since`."""
        writes = sorted(w for w in self.writes if w >= since)
        most, start = 0, 0
        for end, at in enumerate(writes):
            while writes[start] <= at - self.minute:
                start += 1
            most = max(most, end - start + 1)
        return most


class GitHubDouble:
    """Start with `start()`, point the client at `url`, read `requests`, `violations`, `world`."""

    def __init__(self, spec: Spec | None = None) -> None:
        self.spec = spec or load_spec()
        self.world = Lookups(self.spec)
        self.key = _app_key()
        self.private_key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.app_id = APP_ID
        self.client_id = "Iv1.hookwisedouble"
        self.client_secret = "double-client-secret"
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.write_hooks: list[Fault] = []
        self.rate_remaining = 5000
        self.secondary: SecondaryLimits | None = None
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> GitHubDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _serve(self) -> None:
                double._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # a client killed mid-request (the crash tests do that) is not an error here
                return

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- test helpers ------------------------------------------------------------------------

    def add_installation(
        self, installation_id: int, account: str, repositories: list[str] | None = None
    ) -> None:
        """An installation on `account`: with every repository of the account, or only the
        `repositories` named (owner/name), as GitHub's "selected repositories"."""
        self.world.installations[installation_id] = account
        if repositories is not None:
            self.world.installation_repos[installation_id] = {r.lower() for r in repositories}

    def enforce_secondary_limits(self, **limits: Any) -> SecondaryLimits:
        """Answer content-creating requests past GitHub's secondary limits with its 403."""
        self.secondary = SecondaryLimits(**limits)
        return self.secondary

    def inject(self, method: str, path: str, **fault: Any) -> Fault:
        """Add a fault rule (see Fault)."""
        rule = Fault(method, path, **fault)
        self.faults.append(rule)
        return rule

    def writes(self) -> list[Recorded]:
        """Successful non-GET requests, in order (the writes GitHub would have applied)."""
        return [
            r
            for r in self.requests
            if r.method != "GET" and 200 <= r.status < 300 and "access_tokens" not in r.path
        ]

    def calls(self, operation: str) -> list[Recorded]:
        return [r for r in self.requests if r.operation == operation]

    # --- serving -----------------------------------------------------------------------------

    def authorize_user(self, code: str, login: str, installations: list[int]) -> None:
        """An OAuth code GitHub would hand the install callback for a user who can reach
        these installations (the web flow's /login/oauth/access_token exchanges it)."""
        self.world.oauth_codes[code] = (login, set(installations))

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command
        parts = urlsplit(handler.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        try:
            raw = handler.rfile.read(length) if length else b""
        except OSError:  # the client died mid-body (a killed server): nothing to answer
            return
        if len(raw) < length:
            return  # a body cut off by a killed client is not a request it made
        if path == "/login/oauth/access_token":
            self._oauth(handler, method, raw)
            return
        body: Any = None
        problems: list[str] = []
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                problems.append("the body is not JSON")
        op, params, path_exists = self.spec.find(method, path)
        auth = handler.headers.get("Authorization", "")
        status, answer, headers = 0, None, {}
        if op is None:
            problems.append(f"{method} {path} is not in the OpenAPI description")
            status, answer = (405 if path_exists else 404), {"message": "Not Found"}
        else:
            problems += self.spec.check_request(op, params, query, body, bool(raw))
            for header, wanted in (("X-GitHub-Api-Version", "2022-11-28"),):
                if handler.headers.get(header) != wanted:
                    problems.append(f"header {header} must be {wanted}")
            if not handler.headers.get("User-Agent"):
                problems.append("no User-Agent (GitHub rejects such requests)")
            accept = handler.headers.get("Accept", "")
            if not ACCEPTED.fullmatch(accept.split(",")[0].strip()):
                problems.append(f"Accept {accept!r} is not a GitHub media type")
        if problems:
            with self.lock:
                self.violations += [f"{method} {path}: {p}" for p in problems]
            if status == 0:  # GitHub's own validation-error shape
                status, answer = 422, {
                    "message": "Validation Failed",
                    "documentation_url": "https://docs.github.com/rest",
                    "errors": [
                        {"resource": op.operation_id if op else "", "code": "invalid",
                         "field": "", "message": problem}
                        for problem in problems
                    ],
                }
        installation: int | None = None
        if status == 0 and op is not None:
            status, answer, installation = self._authenticate(path, auth)
        if status == 0 and op is not None and self.secondary is not None:
            refused = self.secondary.admit(method, path)
            if refused is not None:
                status, answer = 403, refused
        if status == 0 and op is not None:
            fault = self._fault(method, path, handler.headers.get("Accept", ""))
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.hold is not None:
                    fault.hold.wait(60)
                if fault.status is not None:
                    status, answer, headers = (
                        fault.status,
                        fault.body or {"message": "injected"},
                        dict(fault.headers),
                    )
        if status == 0 and op is not None:
            request = Request(
                method,
                path,
                {k: unquote(v) if k != "name" else v for k, v in params.items()},
                query,
                body,
                handler.headers.get("Accept", ""),
                installation,
                auth,
            )
            with self.lock:
                status, answer, headers = self.world.handle(op.operation_id, request)
            for hook in self._hooks(method, path, status):
                hook()  # applied but not yet answered: a crash between the write and its record
            if isinstance(answer, dict | list) and status < 500:
                answer = self.spec.conform(op, status, answer)
                errors = self.spec.check_response(op, status, answer)
                if errors:
                    with self.lock:
                        self.violations += [f"{method} {path} answer: {e}" for e in errors[:5]]
        conditional = handler.headers.get("If-None-Match")
        if method == "GET" and status == 200 and answer is not None:
            # GitHub's ETag: the same representation, the same validator; a match is a 304
            # that does not count against the rate limit
            etag = '"' + hashlib.sha1(json.dumps(answer, sort_keys=True).encode()).hexdigest() + '"'
            headers["etag"] = etag
            if conditional == etag:
                status, answer = 304, None
        with self.lock:
            self.requests.append(
                Recorded(
                    method,
                    path,
                    query,
                    body,
                    status,
                    op.operation_id if op else None,
                    auth.split(" ")[0],
                    if_none_match=conditional,
                )
            )
            if status != 304:
                self.rate_remaining = max(0, self.rate_remaining - 1)
            remaining = self.rate_remaining
        headers.setdefault("x-ratelimit-limit", "5000")
        headers.setdefault("x-ratelimit-remaining", str(remaining))
        headers.setdefault("x-ratelimit-reset", str(int(time.time()) + 3600))
        if "link" in headers:
            headers["link"] = headers["link"].replace("{base}", self.url)
        self._write(handler, status, answer, headers)

    def _oauth(self, handler: BaseHTTPRequestHandler, method: str, raw: bytes) -> None:
        """GitHub's web flow: exchange a code (client id and secret checked) for a user token."""
        form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        with self.lock:
            found = self.world.oauth_codes.pop(form.get("code", ""), None)
            good_client = (form.get("client_id"), form.get("client_secret")) == (
                self.client_id,
                self.client_secret,
            )
            self.requests.append(
                Recorded(method, "/login/oauth/access_token", {}, None, 200, "oauth/token", "")
            )
        if method != "POST" or found is None or not good_client:
            answer = {"error": "bad_verification_code", "error_description": "The code is wrong."}
            self._write(handler, 200, answer, {})  # GitHub answers 200 with an error body
            return
        token = "ghu_" + secrets.token_hex(18)
        with self.lock:
            self.world.user_tokens[token] = found
        self._write(handler, 200, {"access_token": token, "token_type": "bearer"}, {})

    def _authenticate(self, path: str, auth: str) -> tuple[int, Any, int | None]:
        scheme, _, credential = auth.partition(" ")
        if path.startswith("/user/"):
            with self.lock:
                user = self.world.user_tokens.get(credential)
            if scheme.lower() not in ("token", "bearer") or user is None:
                return 401, {"message": "Bad credentials"}, None
            return 0, None, None
        if path.startswith("/app-manifests/"):
            return 0, None, None  # the code itself is the credential (single use, one hour)
        if path.startswith("/app"):
            if scheme != "Bearer":
                return 401, {"message": "A JSON web token could not be decoded"}, None
            try:
                claims = jwt.decode(
                    credential,
                    self.key.public_key(),
                    algorithms=["RS256"],
                    options={"require": ["iat", "exp", "iss"]},
                )
            except jwt.PyJWTError as exc:
                return (
                    401,
                    {
                        "message": f"'Expiration time' claim ('exp') is invalid or the JWT is bad: {exc}"
                    },
                    None,
                )
            now = time.time()
            if (
                str(claims["iss"]) != self.app_id
                or claims["exp"] > now + 600
                or claims["iat"] > now + 1
            ):
                return 401, {"message": "'Issued at' or 'Expiration time' claim is invalid"}, None
            return 0, None, None
        if scheme.lower() not in ("token", "bearer"):
            return 401, {"message": "Requires authentication"}, None
        with self.lock:
            found = self.world.tokens.get(credential)
        if found is None or found[1] <= time.time():
            return 401, {"message": "Bad credentials"}, None
        return 0, None, found[0]

    def after_write(
        self, method: str, path: str, callback: Callable[[], None], *, times: int = 1
    ) -> None:
        """Call `callback` once a matching write is applied, before it is answered."""
        self.write_hooks.append(Fault(method, path, times=times, then=callback))

    def _hooks(self, method: str, path: str, status: int) -> list[Callable[[], None]]:
        if status >= 300:
            return []
        with self.lock:
            found = [h for h in self.write_hooks if h.matches(method, path)]
            for hook in found:
                hook.times -= 1
        return [h.then for h in found if h.then is not None]

    def _fault(self, method: str, path: str, accept: str = "") -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, accept):
                    fault.times -= 1
                    return fault
        return None

    @staticmethod
    def _write(
        handler: BaseHTTPRequestHandler, status: int, answer: Any, headers: dict[str, str]
    ) -> None:
        if answer is None:
            data = b""
        elif isinstance(answer, str):
            data = answer.encode()
            headers.setdefault("content-type", "text/plain; charset=utf-8")
        else:
            data = json.dumps(answer).encode()
            headers.setdefault("content-type", "application/json; charset=utf-8")
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
