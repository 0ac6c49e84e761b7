"""Secrets tenants give the server are stored as Fernet tokens: unreadable without the keys, readable
after a rotation that keeps the old key, and derived from SECRET_KEY when no key is configured."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from config.encryption import SecretUnreadable, secret_decrypt, secret_encrypt


def test_a_secret_round_trips_and_is_not_stored_in_clear(settings):
    settings.TESSERA_ENCRYPTION_KEYS = []
    token = secret_encrypt("sk-tenant-123")
    assert "sk-tenant-123" not in token and secret_decrypt(token) == "sk-tenant-123"
    assert secret_encrypt("sk-tenant-123") != token  # a fresh IV each time


def test_the_derived_key_changes_with_the_secret_key(settings):
    settings.TESSERA_ENCRYPTION_KEYS = []
    token = secret_encrypt("sk-1")
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    with pytest.raises(SecretUnreadable):
        secret_decrypt(token)


def test_keys_rotate_new_first_old_still_read(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.TESSERA_ENCRYPTION_KEYS = [old]
    token = secret_encrypt("sk-1")
    settings.TESSERA_ENCRYPTION_KEYS = [new, old]
    assert secret_decrypt(token) == "sk-1"
    rotated = secret_encrypt("sk-1")
    settings.TESSERA_ENCRYPTION_KEYS = [new]
    assert secret_decrypt(rotated) == "sk-1"
    with pytest.raises(SecretUnreadable):
        secret_decrypt(token)
    with pytest.raises(SecretUnreadable):
        secret_decrypt("not a token")
