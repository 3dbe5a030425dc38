"""Who is calling: Bearer JWTs (HS256 with JWT_SECRET, or RS256/ES256 keys from JWT_JWKS_URL,
as Supabase and other identity providers issue), and the signed `state` of the install URL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

import jwt

from engine.errors import HookwiseError

ASYMMETRIC = ("RS256", "ES256")
STATE_TTL = 600.0  # an install URL's state expires after 10 minutes


class AuthError(HookwiseError):
    """The caller is not authenticated; the message says why (safe to return)."""


@dataclass
class TokenVerifier:
    """Checks signature, `aud` and `exp`; the user is `sub`."""

    secret: str | None = field(repr=False)
    jwks_url: str | None
    audience: str

    def __post_init__(self) -> None:
        self._jwks = jwt.PyJWKClient(self.jwks_url, cache_keys=True) if self.jwks_url else None

    @property
    def configured(self) -> bool:
        """Whether any way to verify tokens is configured."""
        return bool(self.secret or self._jwks)

    def user(self, token: str) -> str:
        """The `sub` of a valid token, or AuthError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        try:
            if algorithm == "HS256" and self.secret:
                key: object = self.secret
            elif algorithm in ASYMMETRIC and self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            else:
                raise AuthError(f"tokens signed with {algorithm!r} are not accepted")
            claims = jwt.decode(
                token,
                key,  # type: ignore[arg-type]
                algorithms=[algorithm],
                audience=self.audience,
                options={"require": ["exp", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("the bearer token has expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("the bearer token is for another audience") from None
        except jwt.PyJWKClientError:
            raise AuthError("the bearer token's signing key is unknown") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"the bearer token is invalid: {exc}") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError("the bearer token has no subject")
        return subject


def new_nonce() -> str:
    """A random, URL-safe state nonce."""
    return secrets.token_urlsafe(24)


def sign_state(secret: bytes, nonce: str, user: str) -> str:
    """`nonce.mac`: the mac binds the nonce to the user."""
    mac = hmac.new(secret, f"{nonce}.{user}".encode(), hashlib.sha256).digest()
    return f"{nonce}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def split_state(state: str) -> tuple[str, str] | None:
    """(nonce, mac) of a well-formed state, else None."""
    nonce, dot, mac = state.partition(".")
    if not dot or not nonce or not mac or len(state) > 200:
        return None
    return nonce, mac


def state_matches(secret: bytes, state: str, user: str) -> bool:
    """Whether the state was signed for this user (constant-time comparison)."""
    parts = split_state(state)
    return parts is not None and hmac.compare_digest(sign_state(secret, parts[0], user), state)
