"""Keyset (cursor) pagination: `{"data": [...], "next_cursor": ...}` as the contract says.

A cursor names the last row seen by its sort value and id, so pages stay correct while
rows are added or removed between requests, and every page is an indexed range scan.
It also names the sort it belongs to, and its value is checked against the sort column's
type, so a cursor that was tampered with or taken from another listing answers 422.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet

from trunkline.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass
class Page:
    items: list
    next_cursor: str | None


def _encode(sort: str, value: Any, row_id: str) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps({"s": sort, "v": value, "id": row_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed("cursor is not one this API issued", field="cursor")


def _sort_field_kind(queryset: QuerySet, sort_field: str) -> type[models.Field] | None:
    annotation = queryset.query.annotations.get(sort_field)
    if annotation is not None:
        return type(annotation.output_field)
    return type(queryset.model._meta.get_field(sort_field))


def _typed(value: Any, kind: type[models.Field] | None) -> Any:
    """The cursor's sort value, checked against the sort column's type."""
    if kind is not None and issubclass(kind, models.DateTimeField):
        if not isinstance(value, dict) or not isinstance(value.get("t"), str):
            raise _bad_cursor()
        try:
            parsed = datetime.fromisoformat(value["t"])
        except ValueError:
            raise _bad_cursor() from None
        if parsed.tzinfo is None:
            raise _bad_cursor()
        return parsed
    if kind is not None and issubclass(kind, models.IntegerField | models.AutoField):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad_cursor()
        return value
    if not isinstance(value, str):
        raise _bad_cursor()
    return value


def _decode(cursor: str, sort: str) -> tuple[Any, str]:
    """The (sort value, id) a cursor names; it must come from a list with the same sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
    except (ValueError, TypeError):  # binascii, JSON and Unicode errors are ValueErrors
        raise _bad_cursor() from None
    if not isinstance(payload, dict) or set(payload) != {"s", "v", "id"}:
        raise _bad_cursor()
    if payload["s"] != sort or not isinstance(payload["id"], str) or not payload["id"]:
        raise _bad_cursor()
    return payload["v"], payload["id"]


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
    sort = f"{direction}{sort_field}"
    if sort_field == "id":
        queryset = queryset.order_by(f"{direction}id")
    else:
        queryset = queryset.order_by(sort, f"{direction}id")
    if cursor:
        value, row_id = _decode(cursor, sort)
        after = "lt" if descending else "gt"
        if sort_field == "id":
            queryset = queryset.filter(**{f"id__{after}": row_id})
        else:
            value = _typed(value, _sort_field_kind(queryset, sort_field))
            queryset = queryset.filter(
                Q(**{f"{sort_field}__{after}": value})
                | Q(**{sort_field: value, f"id__{after}": row_id})
            )
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(sort, getattr(last, sort_field), last.id)
    return Page(items=rows, next_cursor=next_cursor)


# For list endpoints that page raw rows instead of a queryset: the same cursors.
encode_cursor = _encode
decode_cursor = _decode
typed_cursor_value = _typed
