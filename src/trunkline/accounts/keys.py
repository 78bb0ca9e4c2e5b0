"""API key material: `sk_live_` + 43 url-safe characters; only a SHA-256 hash is kept."""

import hashlib
import secrets

KEY_PREFIX = "sk_live_"


def generate() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_valid(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and 32 <= len(key) - len(KEY_PREFIX) <= 100
