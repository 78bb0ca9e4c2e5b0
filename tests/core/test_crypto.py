"""Secrets at rest: AES-256-GCM round trip; any tampering fails loudly."""

import base64

import pytest
from cryptography.exceptions import InvalidTag

from trunkline.core import crypto


def test_round_trip():
    for secret in ("whsec_abc123", "", "ünïcödé ☎", "x" * 10_000):
        token = crypto.encrypt(secret, context="webhook:whe_1")
        assert token.startswith("v1:")
        assert secret == "" or secret not in token
        assert crypto.decrypt(token, context="webhook:whe_1") == secret


def test_each_encryption_differs():
    assert crypto.encrypt("same") != crypto.encrypt("same")


def _flip(token: str, position: int) -> str:
    version, _, payload = token.partition(":")
    raw = bytearray(base64.urlsafe_b64decode(payload))
    raw[position] ^= 0x01
    return f"{version}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize("position", [0, 11, 12, -1, -16])
def test_tampering_fails(position):
    token = crypto.encrypt("totp-secret")
    with pytest.raises(InvalidTag):
        crypto.decrypt(_flip(token, position))


def test_the_context_is_bound():
    token = crypto.encrypt("totp-secret", context="user:usr_1")
    with pytest.raises(InvalidTag):
        crypto.decrypt(token, context="user:usr_2")


def test_unknown_formats_fail():
    with pytest.raises(ValueError):
        crypto.decrypt("v0:abc")
    with pytest.raises(ValueError):
        crypto.decrypt("plaintext")


def test_a_configured_key_is_used(settings):
    token = crypto.encrypt("secret")
    settings.TRUNKLINE_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"k" * 32).decode()
    with pytest.raises(InvalidTag):
        crypto.decrypt(token)  # sealed with the key derived from SECRET_KEY
    assert crypto.decrypt(crypto.encrypt("secret")) == "secret"


def test_a_configured_key_must_be_32_bytes(settings):
    settings.TRUNKLINE_ENCRYPTION_KEY = base64.urlsafe_b64encode(b"short").decode()
    with pytest.raises(ValueError):
        crypto.encrypt("secret")
