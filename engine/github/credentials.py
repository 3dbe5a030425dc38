"""The GitHub App's own credentials: its id and private key, and the App JWT they sign.

https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from engine.github.api import ConfigError


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App's id and private key."""

    app_id: str
    private_key: RSAPrivateKey

    @classmethod
    def from_pem(cls, app_id: str, pem: str | bytes) -> AppCredentials:
        """Parse the PEM private key; a malformed key is a ConfigError that says so."""
        data = pem.encode() if isinstance(pem, str) else pem
        data = data.replace(b"\\n", b"\n")  # keys pasted into one-line env vars
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"GITHUB_APP_PRIVATE_KEY is not a PEM RSA private key: {exc}"
            ) from None
        if not isinstance(key, RSAPrivateKey):
            raise ConfigError("GITHUB_APP_PRIVATE_KEY must be an RSA key (GitHub Apps use RS256)")
        return cls(str(app_id), key)

    def jwt(self, now: float) -> str:
        """The App JWT: iat 60 s in the past, exp 9 minutes ahead, iss the App id."""
        claims = {"iat": int(now) - 60, "exp": int(now) + 540, "iss": self.app_id}
        return jwt.encode(claims, self.private_key, algorithm="RS256")
