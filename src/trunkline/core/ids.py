"""Prefixed public ids: `tnt_01jd3…`, time-ordered so cursor pagination by id is stable."""

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two base32 digits for every 10-bit value: encoding takes 13 look-ups, not 26 divisions.
_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_PAIR_SHIFTS = tuple(range(120, -1, -10))


_RANDOM_BITS = 80
_lock = threading.Lock()
_last = [0, 0]  # the millisecond and random part of the last id made by this process


def new_id(prefix: str) -> str:
    """`<prefix>_` + 10 chars of millisecond time + 16 chars (80 bits) of randomness.

    Ids made by one process sort in creation order even within one millisecond (and if the
    clock steps back): the random part then counts up from the previous id's, as monotonic
    ULIDs do. Ids from different processes in the same millisecond are ordered at random.
    """
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` ids, as `count` calls of `new_id` in a row would make them: the first is
    made as usual and the others count up from it, so they sort in order after every id
    made before them and before every id made after them (bulk inserts take one lock and
    one clock reading instead of one each)."""
    if count <= 0:
        return []
    with _lock:
        millis = int(time.time() * 1000)
        if millis > _last[0]:
            randomness = int.from_bytes(os.urandom(10), "big")
        else:
            millis, randomness = _last[0], _last[1] + 1
        # One 130-bit counter: the random part overflowing carries into the millisecond.
        first = (millis << _RANDOM_BITS) | randomness
        last = first + count - 1
        _last[0], _last[1] = last >> _RANDOM_BITS, last & ((1 << _RANDOM_BITS) - 1)
    head = prefix + "_"
    pairs, shifts = _PAIRS, _PAIR_SHIFTS
    return [
        head + "".join([pairs[(value >> shift) & 1023] for shift in shifts])
        for value in range(first, last + 1)
    ]


# Every prefix in use, each with a module-level default so migrations can refer to it.
PREFIXES = (
    "ptr",
    "usr",
    "key",
    "ivt",
    "tnt",
    "aud",
    "evt",
    "whe",
    "whd",
    "wha",
    "lac",
    "pst",
    "prv",
    "rte",
    "cdr",
    "cdx",
    "pmt",
    "sin",
    "did",
    "car",
    "prt",
    "pdc",
    "eml",
    "cfm",
    "bpf",
    "txj",
    "inv",
    "ivl",
    "ipy",
    "tpm",
    "ich",
    "ics",
    "tch",
    "sit",
    "dep",
    "ext",
    "lca",
    "dev",
    "sch",
    "cfl",
    "vmb",
    "trk",
    "pbn",
    "cds",
)


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
