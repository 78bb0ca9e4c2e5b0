"""Presentation helpers for portal templates."""

from __future__ import annotations

import json
from datetime import timedelta

from django.template import Library

from trunkline.core.money import Money

register = Library()


def _display(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "), default=str)
    return str(value)


@register.simple_tag
def audit_changes(entry) -> list[dict]:
    """Before → after, one row a field, in the order the entry recorded them.

    A side the entry did not record (a creation has no before) is None, not "—".
    """
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    fields = list(dict.fromkeys([*before, *after]))
    return [
        {
            "field": field,
            "before": _display(before[field]) if field in before else None,
            "after": _display(after[field]) if field in after else None,
        }
        for field in fields
    ]


@register.filter
def scope_count(scopes) -> str:
    scopes = list(scopes or [])
    if scopes == ["all"]:
        return "All"
    return str(len(scopes))


def _money(value) -> Money:
    return value if isinstance(value, Money) else Money(int(value))


@register.filter
def dollars(value) -> str:
    """`$12.50`, `−$0.022` (a real minus sign): a balance or a price."""
    if value is None or value == "":
        return "—"
    money = _money(value)
    text = f"${Money(abs(money.micros)).to_json()}"
    return f"−{text}" if money.micros < 0 else text


@register.filter
def signed_dollars(value) -> str:
    """`+$100.00` for a credit, `−$0.02` for a debit."""
    money = _money(value)
    return dollars(money) if money.micros < 0 else f"+{dollars(money)}"


@register.filter
def minutes(seconds) -> str:
    """Seconds as minutes with one decimal: 66 → `1.1`."""
    tenths = (int(seconds or 0) * 10 + 30) // 60  # half-up to the tenth
    return f"{tenths // 10:,}.{tenths % 10}"


@register.filter
def last_day(end):
    """A period's exclusive end shown as the last day it covers: 1 Dec → 30 Nov."""
    return end - timedelta(days=1) if end else end
