"""Who may open the browser log, and the CSRF tokens its forms carry.

With HOOKWISE_UI_TOKEN set, a login form exchanges the token for a session cookie (HttpOnly,
SameSite=Strict) signed with a key derived from the token, so every replica sharing the token
accepts it and changing the token ends every session. The key is derived with scrypt: a
cookie anyone can get from the login page must not let them test guesses of the token
offline at HMAC speed. Without a token only loopback clients are answered (and only under a
loopback Host name, so a DNS-rebound page elsewhere cannot use a browser on this machine),
and they get a session without logging in. Either way every POST carries a
CSRF token bound to the session (and the login form one bound to a pre-login cookie), so a
page elsewhere cannot make a browser replay deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable

SESSION_COOKIE = "hookwise_ui"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
LOGIN_COOKIE = "hookwise_ui_login"
SESSION_SECONDS = 12 * 3600
LOGIN_SECONDS = 600


def session_key(token: str) -> bytes:
    """The signing key of a token's sessions: scrypt, so that each guess costs tens of ms."""
    return hashlib.scrypt(
        token.encode(), salt=b"hookwise-ui-session-v1", n=2**15, r=8, p=1, maxmem=64 * 1024 * 1024
    )


def is_loopback_host(host_header: str | None) -> bool:
    """Whether a Host header names this machine by a loopback name (any port)."""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host in LOOPBACK_HOSTS or (host.startswith("127.") and is_loopback(host))


def is_loopback(host: str | None) -> bool:
    """Whether a client address is a loopback address (127.0.0.0/8, ::1)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class UiAccess:
    """Sessions and CSRF tokens for one server (or every replica sharing its token)."""

    def __init__(self, token: str | None, *, clock: Callable[[], float] = time.time) -> None:
        self.token_set = token is not None
        self._token_digest = hashlib.sha256((token or "").encode()).digest()
        # derived from the token: replicas agree, and a new token ends old sessions
        self._key = session_key(token) if token is not None else secrets.token_bytes(32)
        self.clock = clock

    def client_allowed(self, host: str | None, host_header: str | None) -> bool:
        """Without a token, loopback clients asking for a loopback name only; with one,
        anyone may reach the login form."""
        return self.token_set or (is_loopback(host) and is_loopback_host(host_header))

    def token_matches(self, given: str) -> bool:
        """Whether the login form's token is the configured one (constant time)."""
        if not self.token_set:
            return False
        return hmac.compare_digest(
            hashlib.sha256(given.encode("utf-8", "replace")).digest(), self._token_digest
        )

    def _sign(self, purpose: str, value: str) -> str:
        return hmac.new(self._key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    def _issue(self, purpose: str, lifetime: float) -> str:
        value = f"{int(self.clock() + lifetime)}.{secrets.token_urlsafe(18)}"
        return f"{value}.{self._sign(purpose, value)}"

    def _valid(self, purpose: str, cookie: str | None) -> bool:
        if not cookie or cookie.count(".") != 2:
            return False
        value, mac = cookie.rsplit(".", 1)
        if not _same(mac, self._sign(purpose, value)):
            return False
        expires = value.split(".", 1)[0]
        return expires.isdigit() and int(expires) > self.clock()

    def new_session(self) -> str:
        """A session cookie's value."""
        return self._issue("session", SESSION_SECONDS)

    def session_valid(self, cookie: str | None) -> bool:
        """Whether a session cookie is ours and unexpired."""
        return self._valid("session", cookie)

    def new_login(self) -> str:
        """The pre-login cookie's value (binds the login form's CSRF token)."""
        return self._issue("login", LOGIN_SECONDS)

    def login_valid(self, cookie: str | None) -> bool:
        """Whether a pre-login cookie is ours and unexpired."""
        return self._valid("login", cookie)

    def csrf_for(self, cookie: str) -> str:
        """The CSRF token of the forms of a session (or of a login cookie)."""
        return self._sign("csrf", cookie)

    def csrf_valid(self, cookie: str | None, token: str | None) -> bool:
        """Whether a form's CSRF token belongs to the cookie it came with."""
        if not cookie or not token:
            return False
        return _same(token, self.csrf_for(cookie))


def _same(given: str, expected: str) -> bool:
    """Constant-time equality of a value from the request (any text) and one we made."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
