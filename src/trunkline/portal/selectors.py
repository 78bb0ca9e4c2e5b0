"""Reads behind the portal pages that the apps' own selectors do not offer yet.

Each one is scoped by the actor's partner, like every read in a request path. They are
kept apart from the pages so they can move to `accounts/selectors.py` and
`core/selectors.py` unchanged once those modules exist.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from trunkline.accounts.models import ApiKey, ApiRequestLog, User
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound, ValidationFailed
from trunkline.core.models import AuditEntry
from trunkline.core.pagination import Page, check_limit
from trunkline.tenants.models import Tenant
from trunkline.tenants.selectors import tenants_visible_to


def api_keys_for(actor: Actor) -> QuerySet[ApiKey]:
    if actor.partner is None:
        return ApiKey.objects.none()
    return ApiKey.objects.filter(partner=actor.partner).annotate(
        tenant_count=Count("tenants", distinct=True)
    )


def api_key_get(*, actor: Actor, key_id: str) -> ApiKey:
    api_key = api_keys_for(actor).filter(id=key_id).first()
    if api_key is None:
        # A foreign key answers exactly like an unknown one.
        raise NotFound("no such API key", field="key_id")
    return api_key


def audit_entries_for(
    actor: Actor,
    *,
    actor_query: str = "",
    action: str = "",
    object_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """The partner's audit log; `until` is exclusive."""
    if actor.partner is None:
        return AuditEntry.objects.none()
    queryset = AuditEntry.objects.filter(partner=actor.partner)
    if actor_query:
        queryset = queryset.filter(Q(actor_label__icontains=actor_query) | Q(actor_id=actor_query))
    if action:
        queryset = queryset.filter(action=action)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def audit_actions_for(actor: Actor) -> list[str]:
    return list(
        audit_entries_for(actor).order_by("action").values_list("action", flat=True).distinct()
    )


def api_request_logs_for(
    actor: Actor,
    *,
    api_key_id: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[ApiRequestLog]:
    """Every authenticated API call the partner's keys made; `until` is exclusive."""
    if actor.partner is None:
        return ApiRequestLog.objects.none()
    queryset = ApiRequestLog.objects.filter(partner=actor.partner)
    if api_key_id:
        queryset = queryset.filter(api_key_id=api_key_id)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    return queryset


def api_request_log_page(
    queryset: QuerySet[ApiRequestLog], *, cursor: str | None, limit: int | None = None
) -> Page:
    """Newest first, keyset on (created_at, id).

    `core.pagination.paginate` encodes string ids only; request log rows have integer
    ids, so this page uses its own cursor of the same shape.
    """
    limit = check_limit(limit)
    queryset = queryset.order_by("-created_at", "-id")
    if cursor:
        created_at, row_id = _decode_log_cursor(cursor)
        queryset = queryset.filter(
            Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=row_id)
        )
    rows = list(queryset[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        raw = json.dumps([last.created_at.isoformat(), last.id]).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return Page(items=rows, next_cursor=next_cursor)


def _decode_log_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, row_id = json.loads(raw)
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError
        return datetime.fromisoformat(created_at), row_id
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed("cursor is not one this page issued", field="cursor") from None


def dashboard_counts(actor: Actor) -> dict:
    """The dashboard's headline numbers, all counted from real rows."""
    by_status = {status: 0 for status in Tenant.Status.values}
    rows = (
        tenants_visible_to(actor)
        .order_by()
        .values("status")
        .annotate(count=Count("id"))
        .values_list("status", "count")
    )
    for status, count in rows:
        by_status[status] = count
    now = timezone.now()
    team_users = (
        User.objects.filter(
            partner=actor.partner,
            role__in=(User.Role.PARTNER_ADMIN, User.Role.PARTNER_USER),
            is_active=True,
            removed_at__isnull=True,
        ).count()
        if actor.partner is not None
        else 0
    )
    active_keys = (
        api_keys_for(actor)
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .count()
    )
    return {
        "tenants_total": sum(by_status.values()),
        "tenants_by_status": by_status,
        "team_users": team_users,
        "api_keys_active": active_keys,
    }
