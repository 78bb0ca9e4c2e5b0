"""Keyset pagination on its own: limits, cursors, ties."""

import pytest

from tests.factories import make_tenant
from trunkline.core.errors import ValidationFailed
from trunkline.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, check_limit, paginate
from trunkline.tenants.models import Tenant


def test_check_limit():
    assert check_limit(None) == DEFAULT_LIMIT == 50
    assert check_limit(1) == 1
    assert check_limit(MAX_LIMIT) == 500
    for bad in (0, -5, 501):
        with pytest.raises(ValidationFailed) as error:
            check_limit(bad)
        assert error.value.field == "limit"


@pytest.fixture
def tenants(admin):
    return [make_tenant(admin, name=name) for name in ("b", "a", "b", "c", "a", "b", "d")]


@pytest.mark.parametrize("sort_field", ["id", "name", "created_at", "sip_prefix"])
@pytest.mark.parametrize("descending", [False, True])
def test_walks_all_rows(tenants, sort_field, descending):
    seen, cursor = [], None
    while True:
        page = paginate(
            Tenant.objects.all(),
            limit=2,
            cursor=cursor,
            sort_field=sort_field,
            descending=descending,
        )
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(tenants)
    assert {t.id for t in seen} == {t.id for t in tenants}
    prefix = "-" if descending else ""
    expected = list(Tenant.objects.order_by(f"{prefix}{sort_field}", f"{prefix}id"))
    assert seen == expected


def test_a_cursor_only_fits_its_own_sort(tenants):
    page = paginate(Tenant.objects.all(), limit=2, cursor=None, sort_field="name")
    for sort_field, descending in (("name", True), ("created_at", False), ("id", False)):
        with pytest.raises(ValidationFailed):
            paginate(
                Tenant.objects.all(),
                limit=2,
                cursor=page.next_cursor,
                sort_field=sort_field,
                descending=descending,
            )
