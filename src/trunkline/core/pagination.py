"""Keyset (cursor) pagination: `{"data": [...], "next_cursor": ...}` as the contract says.

A cursor names the last row seen by its sort value and id, so pages stay correct while
rows are added or removed between requests, and every page is an indexed range scan.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from trunkline.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass
class Page:
    items: list
    next_cursor: str | None


def _encode(value: Any, row_id: str) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([value, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, row_id = json.loads(raw)
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
        if not isinstance(row_id, str):
            raise ValueError
        return value, row_id
    except (ValueError, TypeError, KeyError, json.JSONDecodeError):
        raise ValidationFailed("cursor is not one this API issued", field="cursor") from None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


def paginate(
    queryset: QuerySet,
    *,
    limit: int | None,
    cursor: str | None,
    sort_field: str = "id",
    descending: bool = False,
) -> Page:
    limit = check_limit(limit)
    direction = "-" if descending else ""
    if sort_field == "id":
        queryset = queryset.order_by(f"{direction}id")
    else:
        queryset = queryset.order_by(f"{direction}{sort_field}", f"{direction}id")
    if cursor:
        value, row_id = _decode(cursor)
        after = "lt" if descending else "gt"
        if sort_field == "id":
            queryset = queryset.filter(**{f"id__{after}": row_id})
        else:
            queryset = queryset.filter(
                Q(**{f"{sort_field}__{after}": value})
                | Q(**{sort_field: value, f"id__{after}": row_id})
            )
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(getattr(last, sort_field), last.id)
    return Page(items=rows, next_cursor=next_cursor)
