"""Prefixed public ids: `tnt_01jd3…`, time-ordered so cursor pagination by id is stable."""

import os
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, remainder = divmod(value, 32)
        chars.append(_ALPHABET[remainder])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """`<prefix>_` + 10 chars of millisecond time + 16 chars (80 bits) of randomness."""
    millis = int(time.time() * 1000)
    randomness = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(millis, 10)}{_encode(randomness, 16)}"


# Every prefix in use, each with a module-level default so migrations can refer to it.
PREFIXES = ("ptr", "usr", "key", "ivt", "tnt", "aud", "evt")


def _make_default(prefix: str):
    def make() -> str:
        return new_id(prefix)

    make.__name__ = make.__qualname__ = f"new_{prefix}_id"
    make.__module__ = __name__
    return make


for _prefix in PREFIXES:
    globals()[f"new_{_prefix}_id"] = _make_default(_prefix)


def id_factory(prefix: str):
    """The `default=` callable for a model's public id field (a module-level function)."""
    if prefix not in PREFIXES:
        raise ValueError(f"add {prefix!r} to PREFIXES first")
    return globals()[f"new_{prefix}_id"]


def looks_like(prefix: str, value: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and len(value) <= 64
