"""Presentation helpers for portal templates."""

from __future__ import annotations

import json

from django import template

register = template.Library()


def _display(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(", ", ": "), default=str)
    return str(value)


@register.simple_tag
def audit_changes(entry) -> list[dict]:
    """Before → after, one row a field, in the order the entry recorded them."""
    before = entry.before if isinstance(entry.before, dict) else {}
    after = entry.after if isinstance(entry.after, dict) else {}
    fields = list(dict.fromkeys([*before, *after]))
    return [
        {
            "field": field,
            "before": _display(before.get(field)) if field in before else "",
            "after": _display(after.get(field)) if field in after else "",
        }
        for field in fields
    ]


@register.filter
def scope_count(scopes) -> str:
    scopes = list(scopes or [])
    if scopes == ["all"]:
        return "All"
    return str(len(scopes))
