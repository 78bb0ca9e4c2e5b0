"""Settings → Usage Limits and the default limits on Tenant Defaults (partner guide
004_*.txt, "Usage Limits & Spending Controls": "Where it lives", "Setting limits on a
tenant", "Tenant Defaults", "Reset to Defaults")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import actor_for_user, make_tenant
from tests.portal.conftest import htmx_headers, sign_in
from trunkline.billing.cdrs import cdrs_ingest, usage_cycle_start
from trunkline.billing.models import OutboundRate, Provider, TenantUsage
from trunkline.core.models import AuditEntry
from trunkline.limits import services as limits
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_delete

pytestmark = pytest.mark.django_db

URL = "/settings/usage-limits"
MODAL = htmx_headers("modal")
FIELDS = {
    "monthly_spend_limit": "250.00",
    "max_extensions": "20",
    "max_dids": "",
    "max_monthly_minutes": "1,000",
    "alert_threshold_percent": "75",
}


@pytest.fixture
def carrier(db):
    provider = Provider.objects.create(name="Docs Demo Carrier", is_default=True)
    OutboundRate.objects.create(
        provider=provider,
        prefix="1",
        per_minute_micros=4_000,
        first_increment=6,
        step_increment=6,
        effective_from=datetime(2020, 1, 1, tzinfo=UTC),
    )
    return provider


def calls_this_cycle(admin, tenant, seconds: int, count: int = 1) -> None:
    first = usage_cycle_start(tenant.timezone, timezone.now())
    start = datetime(first.year, first.month, first.day, 1, tzinfo=ZoneInfo(tenant.timezone))
    records = [
        {
            "call_id": f"{tenant.id}-{n}",
            "tenant_id": tenant.id,
            "direction": "outbound",
            "from": "+15015550100",
            "to": "+15015550123",
            "started_at": (start + timedelta(minutes=n)).isoformat(),
            "ended_at": (start + timedelta(minutes=n, seconds=seconds)).isoformat(),
            "billsec": seconds,
        }
        for n in range(count)
    ]
    assert cdrs_ingest(actor=actor_for_user(admin), records=records).accepted == count


def row_of(content: str, tenant) -> str:
    row = content[content.index(f'data-tenant="{tenant.id}"') :]
    return row[: row.index("</tr>")]


def cell(row: str, name: str) -> str:
    return re.search(rf'data-col="{name}">(.*?)(?:<div|</td>)', row, re.S).group(1).strip()


def listed(response) -> list[str]:
    return re.findall(r'data-tenant="(tnt_\w+)"', response.content.decode())


# --- the table -----------------------------------------------------------------------------


def test_every_tenant_with_its_six_limits_and_this_cycles_use(admin_client, admin, tenant, carrier):
    trusted = make_tenant(admin, name="Bayou Dental")
    limits.tenant_limits_set(
        actor=actor_for_user(admin),
        tenant=trusted,
        changes={"monthly_spend_limit": None, "max_dids": None, "auto_suspend": False},
    )
    gone = make_tenant(admin, name="Gone Ltd")
    tenant_delete(actor=actor_for_user(admin), tenant=gone)
    calls_this_cycle(admin, tenant, seconds=600, count=3)  # 30 minutes

    response = admin_client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert listed(response) == [tenant.id, trusted.id]  # by name; a cancelled one is gone
    acme = row_of(content, tenant)  # the partner's starting defaults
    assert [cell(acme, name) for name in limits.FIELDS] == [
        "500.00",
        "50",
        "10",
        "5000",
        "80",
        "Yes",
    ]
    usage = TenantUsage.objects.get(tenant=tenant)
    assert usage.wholesale_micros == 600_000  # 30 minutes at the partner's $0.02
    assert 'data-usage="spend">used $0.60 · 0%' in acme
    assert 'data-usage="minutes">used 30.0 min · 0%' in acme
    bayou = row_of(content, trusted)
    # Empty cells: no limit.
    assert cell(bayou, "monthly_spend_limit") == "" and cell(bayou, "max_dids") == ""
    assert cell(bayou, "auto_suspend") == "No"
    assert 'data-usage="spend">used $0.00<' in bayou  # no cap, so no share of one
    assert f"{URL}/{tenant.id}/edit" in acme
    # Settings → Usage Limits is in the menu.
    assert f'href="{URL}"' in content


def test_near_a_cap_the_use_is_flagged(admin_client, admin, tenant, carrier):
    limits.tenant_limits_set(
        actor=actor_for_user(admin), tenant=tenant, changes={"max_monthly_minutes": 12}
    )
    calls_this_cycle(admin, tenant, seconds=600)  # 10 of 12 minutes: past the 80% alert
    row = row_of(admin_client.get(URL).content.decode(), tenant)
    assert 'class="usage-line near-cap" data-usage="minutes">used 10.0 min · 83%' in row


def test_the_page_costs_the_same_queries_for_few_tenants_or_many(admin_client, admin, carrier):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(URL).status_code == 200
        return len(captured.captured_queries)

    for n in range(2):
        calls_this_cycle(admin, make_tenant(admin, name=f"Early {n}"), seconds=60)
    few = queries()
    for n in range(8):
        calls_this_cycle(admin, make_tenant(admin, name=f"Later {n}"), seconds=60)
    assert queries() == few


def test_search_and_cursor(admin_client, admin, monkeypatch):
    from trunkline.portal.views import usage_limits as view

    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    made = [make_tenant(admin, name=name) for name in ("Alpha Co", "Beta Co", "Gamma Co")]
    first = admin_client.get(URL)
    assert listed(first) == [made[0].id, made[1].id]
    more = re.search(r'hx-get="([^"]+)" hx-target="#load-more"', first.content.decode()).group(1)
    rest = admin_client.get(more, **htmx_headers("load-more"))
    assert listed(rest) == [made[2].id] and b"<html" not in rest.content
    assert listed(admin_client.get(URL, {"q": "gamma"})) == [made[2].id]
    table = admin_client.get(URL, {"q": "beta"}, **htmx_headers("limits-table"))
    assert listed(table) == [made[1].id] and b'id="limits-table"' in table.content
    assert b"No tenants match" in admin_client.get(URL, {"q": "zeta"}).content
    assert admin_client.get(URL, {"cursor": "junk"}).status_code == 400


# --- Edit Limits ---------------------------------------------------------------------------


def test_edit_limits_shows_the_six_fields_and_saves_them(admin_client, tenant):
    modal = admin_client.get(f"{URL}/{tenant.id}/edit", **MODAL)
    assert modal.status_code == 200
    content = modal.content.decode()
    assert "Edit Limits" in content and 'name="monthly_spend_limit" value="500.00"' in content
    assert 'name="max_dids" value="10"' in content and 'name="auto_suspend"' in content
    assert "Save Limits" in content and "Reset to Defaults" in content

    response = admin_client.post(f"{URL}/{tenant.id}/edit", {**FIELDS, "next": URL}, **MODAL)
    assert response.status_code == 200 and response["HX-Redirect"] == URL
    assert limits.limits_of(Tenant.objects.get(pk=tenant.pk)) == {
        "monthly_spend_limit": "250.00",
        "max_extensions": 20,
        "max_dids": None,  # blank: no limit
        "max_monthly_minutes": 1000,
        "alert_threshold_percent": 75,
        "auto_suspend": False,  # unticked
    }
    entry = AuditEntry.objects.get(action="tenant.limits_updated", object_id=tenant.id)
    assert entry.before["max_dids"] == 10 and entry.after["max_dids"] is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("monthly_spend_limit", "lots", "Monthly_spend_limit:"),
        ("monthly_spend_limit", "0.001", "Monthly_spend_limit is whole cents"),
        ("max_dids", "-1", "Max_dids is a whole number from 0 to"),
        ("max_monthly_minutes", "1.5", "Max_monthly_minutes is a whole number"),
        ("alert_threshold_percent", "", "Alert_threshold_percent is a whole number from 1 to 100"),
        (
            "alert_threshold_percent",
            "101",
            "Alert_threshold_percent is a whole number from 1 to 100",
        ),
    ],
)
def test_a_bad_limit_is_shown_beside_its_field_and_changes_nothing(
    admin_client, tenant, field, value, message
):
    before = limits.limits_of(tenant)
    response = admin_client.post(f"{URL}/{tenant.id}/edit", {**FIELDS, field: value}, **MODAL)
    assert response.status_code == 422
    assert response.context["form"].errors[field] == [response.context["form"].errors[field][0]]
    assert message in response.content.decode() and b'class="modal"' in response.content
    assert limits.limits_of(Tenant.objects.get(pk=tenant.pk)) == before


def test_reset_to_defaults_copies_the_tenant_defaults(admin_client, admin, partner, tenant):
    limits.tenant_limits_set(
        actor=actor_for_user(admin),
        tenant=tenant,
        changes={"monthly_spend_limit": None, "max_dids": 2, "auto_suspend": False},
    )
    limits.partner_default_limits_set(actor=actor_for_user(admin), changes={"max_extensions": 30})
    response = admin_client.post(f"{URL}/{tenant.id}/reset", {"next": URL}, **MODAL)
    assert response.status_code == 200 and response["HX-Redirect"] == URL
    partner.refresh_from_db()
    assert limits.limits_of(Tenant.objects.get(pk=tenant.pk)) == limits.defaults_of(partner)
    assert limits.defaults_of(partner)["max_extensions"] == 30


# --- who may do what -------------------------------------------------------------------------


def test_a_partner_user_sees_the_limits_but_cannot_change_them(reader_client, tenant):
    content = reader_client.get(URL).content.decode()
    assert tenant.name in content and f"{URL}/{tenant.id}/edit" not in content
    before = limits.limits_of(tenant)
    assert reader_client.get(f"{URL}/{tenant.id}/edit").status_code == 403
    assert reader_client.post(f"{URL}/{tenant.id}/edit", FIELDS).status_code == 403
    assert reader_client.post(f"{URL}/{tenant.id}/reset").status_code == 403
    assert limits.limits_of(Tenant.objects.get(pk=tenant.pk)) == before


def test_another_partners_tenant_is_404_and_not_listed(admin_client, tenant, other_partner):
    foreign = other_partner[2]
    assert listed(admin_client.get(URL)) == [tenant.id]
    before = limits.limits_of(foreign)
    assert admin_client.get(f"{URL}/{foreign.id}/edit").status_code == 404
    assert admin_client.post(f"{URL}/{foreign.id}/edit", FIELDS).status_code == 404
    assert admin_client.post(f"{URL}/{foreign.id}/reset").status_code == 404
    assert admin_client.get(f"{URL}/tnt_nope/edit").status_code == 404
    assert limits.limits_of(Tenant.objects.get(pk=foreign.pk)) == before


# --- Tenant Defaults -----------------------------------------------------------------------


def test_tenant_defaults_show_and_save_the_default_limits(admin_client, admin, partner):
    content = admin_client.get("/tenants/defaults").content.decode()
    assert 'name="monthly_spend_limit" value="500.00"' in content
    assert 'name="max_monthly_minutes" value="5000"' in content
    response = admin_client.post(
        "/tenants/defaults",
        {
            "default_timezone": "America/Phoenix",
            "default_cnam": "",
            "default_suspension_behavior": "alert_only",
            **FIELDS,
        },
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert limits.defaults_of(partner) == {
        "monthly_spend_limit": "250.00",
        "max_extensions": 20,
        "max_dids": None,
        "max_monthly_minutes": 1000,
        "alert_threshold_percent": 75,
        "auto_suspend": False,
    }
    assert AuditEntry.objects.filter(action="partner.default_limits_updated").exists()
    # A tenant created now starts with them.
    assert limits.limits_of(make_tenant(admin)) == limits.defaults_of(partner)


def test_a_bad_default_limit_saves_none_of_the_defaults(admin_client, partner):
    before = (partner.default_timezone, limits.defaults_of(partner))
    response = admin_client.post(
        "/tenants/defaults",
        {
            "default_timezone": "America/Phoenix",
            "default_cnam": "",
            "default_suspension_behavior": "suspend",
            **FIELDS,
            "max_dids": "ten",
        },
    )
    assert response.status_code == 422
    assert response.context["form"].errors["max_dids"]
    partner.refresh_from_db()
    assert (partner.default_timezone, limits.defaults_of(partner)) == before


def test_a_partner_user_cannot_save_the_default_limits(reader_client, partner):
    before = limits.defaults_of(partner)
    response = reader_client.post("/tenants/defaults", {**FIELDS})
    assert response.status_code == 403
    partner.refresh_from_db()
    assert limits.defaults_of(partner) == before


# --- in a browser --------------------------------------------------------------------------


def test_in_a_browser_an_admin_edits_a_tenants_limits(page, live_server, admin, tenant):
    from playwright.sync_api import expect

    sign_in(page, admin, live_server)
    page.goto(URL)
    row = page.locator(f'tr[data-tenant="{tenant.id}"]')
    expect(row.locator('[data-col="max_dids"]')).to_have_text("10")
    row.get_by_role("link", name=f"Edit limits of {tenant.name}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Edit Limits")).to_be_visible()
    dialog.get_by_label("Max DIDs").fill("")  # no limit
    dialog.get_by_label("Max Monthly Minutes").fill("2000")
    dialog.get_by_label("Alert Threshold (%)").fill("150")
    dialog.get_by_role("button", name="Save Limits").click()
    expect(dialog.get_by_role("alert")).to_contain_text("from 1 to 100")
    dialog.get_by_label("Alert Threshold (%)").fill("90")
    dialog.get_by_label("Auto-Suspend").uncheck()
    dialog.get_by_role("button", name="Save Limits").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.locator(f'tr[data-tenant="{tenant.id}"]')
    expect(row.locator('[data-col="max_dids"]')).to_have_text("")
    expect(row.locator('[data-col="max_monthly_minutes"]')).to_contain_text("2000")
    expect(row.locator('[data-col="alert_threshold_percent"]')).to_have_text("90")
    expect(row.locator('[data-col="auto_suspend"]')).to_have_text("No")
    expect(page.locator(".flash")).to_contain_text(f"Limits of {tenant.name} saved.")
    saved = limits.limits_of(Tenant.objects.get(pk=tenant.pk))
    assert (saved["max_dids"], saved["max_monthly_minutes"], saved["auto_suspend"]) == (
        None,
        2000,
        False,
    )
