"""Presentation helpers for portal templates."""

from __future__ import annotations

import json

from django.template import Library

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
