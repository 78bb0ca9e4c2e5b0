"""Toll-free vanity patterns: `877-555-XXXX`, `8XX-OUR-FOOD`, `888-XXX-1000`.

A pattern is the ten digits of a North American number, written with dashes, spaces,
dots or brackets as the caller likes, optionally after a leading `1`. `X` (either case)
and `*` stand for any digit; every other letter is the digit it sits on on a phone
keypad (ABC = 2 … WXYZ = 9). Because the partner guide uses `X` as the wildcard, `X` is
always a wildcard: a vanity word needing the letter X cannot be searched for directly
(use a wildcard in its place).
"""

from __future__ import annotations

import re

from trunkline.core.errors import ValidationFailed
from trunkline.phone_numbers.models import TOLL_FREE_NPAS

KEYPAD = {
    **dict.fromkeys("ABC", "2"),
    **dict.fromkeys("DEF", "3"),
    **dict.fromkeys("GHI", "4"),
    **dict.fromkeys("JKL", "5"),
    **dict.fromkeys("MNO", "6"),
    **dict.fromkeys("PQRS", "7"),
    **dict.fromkeys("TUV", "8"),
    **dict.fromkeys("WYZ", "9"),
}
_SEPARATORS = re.compile(r"[\s\-.()]+")
WILDCARD = "X"


def vanity_pattern(text: str) -> str:
    """The pattern as 10 characters of digits and `X`; 422 (field `pattern`) otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("pattern is required for a vanity search", field="pattern")
    if len(text) > 40:
        raise ValidationFailed("pattern is at most 40 characters", field="pattern")
    compact = _SEPARATORS.sub("", text.strip()).upper()
    if compact.startswith("+1"):
        compact = compact[2:]
    elif len(compact) == 11 and compact.startswith("1"):
        compact = compact[1:]
    out = []
    for char in compact:
        if char.isdigit():
            out.append(char)
        elif char in ("X", "*"):
            out.append(WILDCARD)
        elif char in KEYPAD:
            out.append(KEYPAD[char])
        else:
            raise ValidationFailed(
                f"{char!r} cannot be part of a number pattern: use digits, letters and X",
                field="pattern",
            )
    if len(out) != 10:
        raise ValidationFailed(
            f"a pattern has 10 positions (area code and number); this one has {len(out)}",
            field="pattern",
        )
    pattern = "".join(out)
    if not any(_fits(pattern[:3], npa) for npa in TOLL_FREE_NPAS):
        raise ValidationFailed(
            f"toll-free numbers start with {', '.join(TOLL_FREE_NPAS)}; "
            f"{pattern[:3]} cannot match any of them",
            field="pattern",
        )
    return pattern


def _fits(pattern: str, digits: str) -> bool:
    return all(want in (WILDCARD, have) for want, have in zip(pattern, digits, strict=True))


def matches(pattern: str, digits: str) -> bool:
    """Whether the 10 `digits` fit the 10-character `pattern`."""
    return len(digits) == len(pattern) and _fits(pattern, digits)


def fixed_ends(pattern: str) -> tuple[str, str]:
    """The fixed digits the pattern starts and ends with (before the first and after the
    last wildcard): what an index can look up."""
    head = pattern.split(WILDCARD, 1)[0]
    tail = pattern.rsplit(WILDCARD, 1)[-1] if WILDCARD in pattern else ""
    return head, tail
