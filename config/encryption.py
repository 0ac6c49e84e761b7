"""Secrets a tenant gives the server (its own LLM API key), encrypted at rest with Fernet.

The keys come from ``TESSERA_ENCRYPTION_KEYS`` (comma-separated Fernet keys, the first encrypts,
every one decrypts: rotate by putting a new key first, re-saving, then dropping the old one). Left
empty, one key is derived from ``SECRET_KEY`` (HKDF-SHA256), so the embedded default needs no setup;
changing ``SECRET_KEY`` then makes stored secrets unreadable, and their owners must enter them again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(RuntimeError):
    """A stored secret cannot be decrypted with the configured keys."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tessera tenant secrets v1")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def _box() -> MultiFernet:
    keys = [k.strip() for k in settings.TESSERA_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        keys = [_derived_key(settings.SECRET_KEY).decode()]
    return MultiFernet([Fernet(k.encode()) for k in keys])


def secret_encrypt(plain: str) -> str:
    """The Fernet token of ``plain`` (text, safe to store)."""
    return _box().encrypt(plain.encode()).decode()


def secret_decrypt(token: str) -> str:
    """The plain text of a token made by :func:`secret_encrypt`."""
    try:
        return _box().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable("A stored secret cannot be read with the configured encryption keys.") from exc
