"""Tenant reads, always through the caller's scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.db import connection
from django.db.models import Count, DateTimeField, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound, PermissionDenied, ValidationFailed
from trunkline.core.pagination import check_limit, decode_cursor, encode_cursor, typed_cursor_value
from trunkline.tenants.models import Tenant

SORTABLE = {"name", "created_at", "status", "sip_prefix", "users_count"}


def tenants_visible_to(actor: Actor) -> QuerySet[Tenant]:
    if actor.partner is None:
        if actor.is_staff:
            return Tenant.objects.all()
        return Tenant.objects.none()
    queryset = Tenant.objects.filter(partner=actor.partner)
    if actor.tenant_ids is not None:
        queryset = queryset.filter(id__in=actor.tenant_ids)
    return queryset


def tenant_get(*, actor: Actor, tenant_id: str, for_update: bool = False) -> Tenant:
    queryset = tenants_visible_to(actor)
    if for_update:
        queryset = queryset.select_for_update()
    tenant = queryset.filter(id=tenant_id).first() if isinstance(tenant_id, str) else None
    if tenant is None:
        # Foreign and unknown ids answer the same, so ids cannot be probed.
        raise NotFound("no such tenant", field="tenant_id")
    return tenant


def tenant_list(
    *, actor: Actor, search: str | None = None, status: str | None = None
) -> QuerySet[Tenant]:
    # A correlated count per returned row, rather than GROUP BY over every tenant of the
    # partner before the page is cut: the first page stays cheap with thousands of tenants.
    from trunkline.accounts.models import User

    users = (
        User.objects.filter(tenant=OuterRef("pk"))
        .order_by()
        .values("tenant")
        .annotate(total=Count("id"))
        .values("total")
    )
    queryset = tenants_visible_to(actor).annotate(
        users_count=Coalesce(Subquery(users, output_field=IntegerField()), 0)
    )
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search) | Q(billing_email__icontains=search) | Q(sip_prefix=search)
        )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


# --- the API's tenant list, one SQL statement per page --------------------------------
#
# `GET /v1/tenants` is the partner API's busiest read. Built through the ORM, its page of
# 50 costs about 1.2 ms of CPU to assemble and compile the query (the users_count
# subquery, ordering, slicing) before SQLite spends 0.25 ms running it. The statement
# below is the same query, written once per shape (sort, status filter, cursor, key
# restricted to some tenants) and cached; every value is a parameter. Searches keep the
# ORM path: `icontains` differs between SQLite and PostgreSQL and the ORM already knows how.

LIST_COLUMNS = (
    "id",
    "partner_id",
    "name",
    "sip_prefix",
    "billing_email",
    "default_cnam",
    "timezone",
    "status",
    "suspension_reason",
    "e911_street",
    "e911_street2",
    "e911_city",
    "e911_state",
    "e911_postal_code",
    "e911_country",
    "created_at",
    "updated_at",
    "cancelled_at",
    "purge_after",
)


_POSITIONS = {name: index for index, name in enumerate((*LIST_COLUMNS, "users_count"))}


@dataclass(frozen=True)
class TenantRowsPage:
    rows: list[tuple]  # LIST_COLUMNS then users_count, as the database returns them
    next_cursor: str | None


@lru_cache(maxsize=256)
def _page_sql(vendor: str, sort: str, status: bool, after: bool, tenant_count: int) -> str:
    from trunkline.accounts.models import User

    quote = connection.ops.quote_name
    meta = Tenant._meta
    user_meta = User._meta
    columns = ", ".join(_select_column(vendor, meta.get_field(name)) for name in LIST_COLUMNS)
    users = (
        f"(SELECT COUNT(*) FROM {quote(user_meta.db_table)} u "  # noqa: S608
        f"WHERE u.{quote(user_meta.get_field('tenant').column)} = t.{quote(meta.pk.column)})"
    )
    descending = sort.startswith("-")
    field = sort.lstrip("-")
    sort_expression = (
        users if field == "users_count" else f"t.{quote(meta.get_field(field).column)}"
    )
    tenant_id = f"t.{quote(meta.pk.column)}"
    conditions = [f"t.{quote(meta.get_field('partner').column)} = %s"]
    if tenant_count:
        conditions.append(f"{tenant_id} IN ({', '.join(['%s'] * tenant_count)})")
    if status:
        conditions.append(f"t.{quote(meta.get_field('status').column)} = %s")
    if after:
        operator = "<" if descending else ">"
        conditions.append(
            f"({sort_expression} {operator} %s OR "
            f"({sort_expression} = %s AND {tenant_id} {operator} %s))"
        )
    order = "DESC" if descending else "ASC"
    # Identifiers come from the models and are quoted; every value is a parameter.
    return (
        f"SELECT {columns}, {users} AS users_count "  # noqa: S608
        f"FROM {quote(meta.db_table)} t WHERE {' AND '.join(conditions)} "
        f"ORDER BY {sort_expression} {order}, {tenant_id} {order} LIMIT %s"
    )


def _select_column(vendor: str, field) -> str:
    column = f"t.{connection.ops.quote_name(field.column)}"
    if vendor == "sqlite" and isinstance(field, DateTimeField):
        # Unary + is SQLite's no-op, but an expression has no declared type, so the driver
        # hands back the stored UTC text instead of parsing it into a datetime that would
        # only be formatted back into text (`api_datetime` reads either).
        return f"+{column}"
    return column


def tenant_list_page(
    *, actor: Actor, status: str | None, sort: str, limit: int | None, cursor: str | None
) -> TenantRowsPage:
    """One page of the partner's tenants (no search), as rows; cursors as `paginate` makes."""
    if actor.partner is None:
        raise PermissionDenied("tenant lists are for partner callers")
    field = sort.lstrip("-")
    if field not in SORTABLE:
        raise ValidationFailed(f"cannot sort by {field}", field="sort")
    limit = check_limit(limit)
    tenant_ids = sorted(actor.tenant_ids) if actor.tenant_ids is not None else []
    if actor.tenant_ids is not None and not tenant_ids:
        return TenantRowsPage(rows=[], next_cursor=None)
    params: list = [actor.partner.pk, *tenant_ids]
    if status:
        params.append(status)
    if cursor:
        value, row_id = decode_cursor(cursor, sort)
        kind = IntegerField if field == "users_count" else type(Tenant._meta.get_field(field))
        value = typed_cursor_value(value, kind)
        if isinstance(value, datetime):
            value = connection.ops.adapt_datetimefield_value(value)
        params += [value, value, row_id]
    params.append(limit + 1)
    sql = _page_sql(connection.vendor, sort, bool(status), bool(cursor), len(tenant_ids))
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        value = last[_POSITIONS[field]]
        if isinstance(value, str) and field == "created_at":
            value = datetime.fromisoformat(value)  # SQLite's stored text
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # SQLite keeps UTC without an offset
        next_cursor = encode_cursor(sort, value, last[_POSITIONS["id"]])
    return TenantRowsPage(rows=rows, next_cursor=next_cursor)
