"""Encryption at rest for credential data: Fernet, with key rotation.

ENCRYPTION_KEY holds one or more urlsafe-base64 32-byte keys, comma-separated; the first
encrypts, all decrypt, so a key can be rotated by putting the new one first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from engine.errors import HookwiseError


class CryptoError(HookwiseError):
    """A key is malformed, or data cannot be decrypted with any key."""


class Vault:
    """Encrypts JSON values with the first key; decrypts with any."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise CryptoError("ENCRYPTION_KEY is not set")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except (ValueError, TypeError):
            raise CryptoError(
                "ENCRYPTION_KEY must be urlsafe-base64 32-byte keys (Fernet.generate_key())"
            ) from None

    def seal(self, value: Any) -> str:
        """Encrypt a JSON value."""
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str) -> Any:
        """Decrypt a value sealed with any of the keys."""
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise CryptoError("credential data cannot be decrypted with ENCRYPTION_KEY") from None

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first key."""
        return self._fernet.rotate(token.encode()).decode()
