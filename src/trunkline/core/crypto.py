"""Secrets at rest: AES-256-GCM with a key from settings.

`TRUNKLINE_ENCRYPTION_KEY` (base64 of 32 bytes) is the key; without it one is derived
from SECRET_KEY with HKDF so a default install still never stores a secret in clear.
"""

import base64
import functools
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_VERSION = "v1"


@functools.cache
def _key(configured: str, secret_key: str) -> bytes:
    if configured:
        key = base64.urlsafe_b64decode(configured + "=" * (-len(configured) % 4))
        if len(key) != 32:
            raise ValueError("TRUNKLINE_ENCRYPTION_KEY must be base64 of 32 bytes")
        return key
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"trunkline secrets at rest"
    ).derive(secret_key.encode())


def _aes() -> AESGCM:
    return AESGCM(_key(settings.TRUNKLINE_ENCRYPTION_KEY, settings.SECRET_KEY))


def encrypt(plaintext: str, *, context: str = "") -> str:
    nonce = os.urandom(12)
    sealed = _aes().encrypt(nonce, plaintext.encode(), context.encode())
    return f"{_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def decrypt(token: str, *, context: str = "") -> str:
    version, _, payload = token.partition(":")
    if version != _VERSION:
        raise ValueError("unknown secret format")
    raw = base64.urlsafe_b64decode(payload)
    return _aes().decrypt(raw[:12], raw[12:], context.encode()).decode()


_SEALED = b"\x00tl1"  # marks sealed bytes; JSON and text bodies never start with NUL


def seal_bytes(data: bytes, *, context: str) -> bytes:
    """AES-256-GCM for binary columns: marker, nonce, ciphertext and tag."""
    nonce = os.urandom(12)
    return _SEALED + nonce + _aes().encrypt(nonce, data, context.encode())


def open_bytes(sealed: bytes, *, context: str) -> bytes:
    if not sealed.startswith(_SEALED):
        return sealed  # written before sealing existed
    raw = sealed[len(_SEALED) :]
    return _aes().decrypt(raw[:12], raw[12:], context.encode())
