"""Tenants → Tenants through the pages: every write goes through the services."""

import pytest
from django.utils import timezone

from tests.factories import make_tenant, make_user
from tests.portal.conftest import htmx_headers
from trunkline.core.models import AuditEntry, Event
from trunkline.tenants.models import Tenant

NEW_TENANT = {
    "name": "Riverside Dental",
    "sip_prefix": "",
    "billing_email": "Office@Riverside.example",
    "default_cnam": "RIVERSIDE",
    "timezone": "America/New_York",
    "status": "TRIAL",
    "e911_street": "1 Main St",
    "e911_street2": "",
    "e911_city": "Conway",
    "e911_state": "AR",
    "e911_postal_code": "72032",
}


def _edit_data(tenant, **changes):
    data = {
        "name": tenant.name,
        "billing_email": tenant.billing_email,
        "default_cnam": tenant.default_cnam,
        "timezone": tenant.timezone,
        "status": tenant.status,
        "e911_street": tenant.e911_street,
        "e911_street2": tenant.e911_street2,
        "e911_city": tenant.e911_city,
        "e911_state": tenant.e911_state,
        "e911_postal_code": tenant.e911_postal_code,
    }
    data.update(changes)
    return data


# Creating


def test_create_tenant_through_the_form(admin_client, partner):
    response = admin_client.post("/tenants/new", NEW_TENANT)
    tenant = Tenant.objects.get(partner=partner)
    assert response.status_code == 302
    assert response["Location"] == f"/tenants/{tenant.id}"
    assert tenant.name == "Riverside Dental"
    assert tenant.sip_prefix == "riversided"
    assert tenant.billing_email == "office@riverside.example"
    assert tenant.timezone == "America/New_York"
    assert tenant.e911_address["city"] == "Conway"
    entry = AuditEntry.objects.get(action="tenant.created", object_id=tenant.id)
    assert entry.partner_id == partner.id
    assert entry.actor_type == "user"
    assert Event.objects.filter(type="tenant.created", partner=partner).count() == 1


def test_create_through_htmx_navigates_to_the_tenant(admin_client, partner):
    response = admin_client.post("/tenants/new", NEW_TENANT, **htmx_headers("modal"))
    tenant = Tenant.objects.get(partner=partner)
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/tenants/{tenant.id}"


def test_new_tenant_form_is_prefilled_from_tenant_defaults(admin_client, partner):
    partner.default_timezone = "America/Denver"
    partner.default_cnam = "DOCS DEMO"
    partner.save()
    content = admin_client.get("/tenants/new").content.decode()
    assert '<option value="America/Denver" selected>' in content
    assert 'value="DOCS DEMO"' in content


def test_invalid_cnam_is_shown_next_to_the_field(admin_client, partner):
    data = {**NEW_TENANT, "default_cnam": "THIS NAME IS WAY TOO LONG"}
    response = admin_client.post("/tenants/new", data, **htmx_headers("modal"))
    assert response.status_code == 422
    assert "Caller ID name is at most 15 characters" in response.content.decode()
    assert response.context["form"].errors["default_cnam"]
    assert not Tenant.objects.filter(partner=partner).exists()


def test_invalid_e911_state_is_shown_next_to_the_state(admin_client, partner):
    data = {**NEW_TENANT, "e911_state": "ZZ"}
    response = admin_client.post("/tenants/new", data)
    assert response.status_code == 422
    assert "state" in response.context["form"].errors["e911_state"][0]


def test_taken_sip_prefix_is_shown_next_to_the_prefix(admin_client, admin):
    make_tenant(admin, sip_prefix="taken")
    response = admin_client.post("/tenants/new", {**NEW_TENANT, "sip_prefix": "taken"})
    assert response.status_code == 422
    assert "already in use" in response.context["form"].errors["sip_prefix"][0]


def test_sip_prefix_is_suggested_from_the_name(admin_client, admin):
    make_tenant(admin, sip_prefix="acmeplumbi")
    response = admin_client.get(
        "/tenants/sip-prefix", {"name": "Acme Plumbing Inc"}, **htmx_headers("id_sip_prefix")
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="id_sip_prefix"' in content
    assert 'value="acmeplumbi2"' in content


# Editing


def test_edit_tenant_changes_fields_and_writes_audit(admin_client, tenant):
    data = _edit_data(tenant, name="Acme Plumbing & Heating", default_cnam="ACME HEAT")
    response = admin_client.post(f"/tenants/{tenant.id}/edit", data)
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.name == "Acme Plumbing & Heating"
    assert tenant.default_cnam == "ACME HEAT"
    entry = AuditEntry.objects.get(action="tenant.updated", object_id=tenant.id)
    assert entry.before["name"] == "Acme Plumbing"
    assert entry.after["name"] == "Acme Plumbing & Heating"


def test_sip_prefix_cannot_be_changed_through_the_edit_form(admin_client, tenant):
    form = admin_client.get(f"/tenants/{tenant.id}/edit").content.decode()
    assert 'name="sip_prefix"' in form and "disabled" in form
    data = _edit_data(tenant, sip_prefix="hijacked")
    response = admin_client.post(f"/tenants/{tenant.id}/edit", data)
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.sip_prefix == "acmeplumb"


def test_edit_with_invalid_cnam_shows_the_error_and_changes_nothing(admin_client, tenant):
    data = _edit_data(tenant, name="Renamed", default_cnam="BAD<CNAM>")
    response = admin_client.post(f"/tenants/{tenant.id}/edit", data)
    assert response.status_code == 422
    assert response.context["form"].errors["default_cnam"]
    tenant.refresh_from_db()
    assert tenant.name == "Acme Plumbing"


def test_edit_status_to_suspended_and_back(admin_client, tenant):
    admin_client.post(f"/tenants/{tenant.id}/edit", _edit_data(tenant, status="SUSPENDED"))
    tenant.refresh_from_db()
    assert tenant.status == "SUSPENDED"
    admin_client.post(f"/tenants/{tenant.id}/edit", _edit_data(tenant, status="ACTIVE"))
    tenant.refresh_from_db()
    assert tenant.status == "ACTIVE"


def test_edit_clearing_the_e911_address_removes_it(admin_client, admin):
    tenant = make_tenant(
        admin,
        e911_address={"street": "1 Main", "city": "Conway", "state": "AR", "postal_code": "72032"},
    )
    data = _edit_data(tenant, e911_street="", e911_city="", e911_state="", e911_postal_code="")
    assert admin_client.post(f"/tenants/{tenant.id}/edit", data).status_code == 302
    tenant.refresh_from_db()
    assert tenant.e911_address is None


def test_edit_returns_to_the_page_it_came_from(admin_client, tenant):
    data = {**_edit_data(tenant), "next": "/tenants?q=acme"}
    response = admin_client.post(f"/tenants/{tenant.id}/edit", data)
    assert response["Location"] == "/tenants?q=acme"
    data["next"] = "https://evil.example/"
    response = admin_client.post(f"/tenants/{tenant.id}/edit", data)
    assert response["Location"] == f"/tenants/{tenant.id}"


# Deleting, suspending, reactivating


def test_delete_requires_typing_the_tenant_name(admin_client, tenant):
    response = admin_client.post(f"/tenants/{tenant.id}/delete", {"confirm_name": "acme"})
    assert response.status_code == 422
    assert "Type the tenant name" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.status == "TRIAL"


def test_delete_cancels_the_tenant_with_a_90_day_window(admin_client, tenant):
    response = admin_client.post(f"/tenants/{tenant.id}/delete", {"confirm_name": "Acme Plumbing"})
    assert response.status_code == 302
    assert response["Location"] == "/tenants"
    tenant.refresh_from_db()
    assert tenant.status == "CANCELLED"
    assert (tenant.purge_after - tenant.cancelled_at).days == 90
    assert AuditEntry.objects.filter(action="tenant.deleted", object_id=tenant.id).exists()


def test_cancelled_tenant_shows_reactivate_and_can_be_reactivated(admin_client, tenant):
    admin_client.post(f"/tenants/{tenant.id}/delete", {"confirm_name": "Acme Plumbing"})
    listing = admin_client.get("/tenants").content.decode()
    assert f"/tenants/{tenant.id}/reactivate" in listing
    assert f"/tenants/{tenant.id}/delete" not in listing
    response = admin_client.post(f"/tenants/{tenant.id}/reactivate")
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == "ACTIVE"
    assert tenant.purge_after is None
    assert AuditEntry.objects.filter(action="tenant.reactivated", object_id=tenant.id).exists()


def test_reactivate_after_the_window_is_refused_with_a_message(admin_client, tenant):
    admin_client.post(f"/tenants/{tenant.id}/delete", {"confirm_name": "Acme Plumbing"})
    Tenant.objects.filter(pk=tenant.pk).update(purge_after=timezone.now())
    detail = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    assert f"/tenants/{tenant.id}/reactivate" not in detail
    response = admin_client.post(f"/tenants/{tenant.id}/reactivate", follow=True)
    assert "90-day window" in response.content.decode()
    tenant.refresh_from_db()
    assert tenant.status == "CANCELLED"


def test_suspend_and_unsuspend(admin_client, tenant):
    before = tenant.status
    response = admin_client.post(f"/tenants/{tenant.id}/suspend", {"reason": "Past due"})
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == "SUSPENDED"
    assert tenant.suspension_reason == "Past due"
    assert "Past due" in admin_client.get(f"/tenants/{tenant.id}").content.decode()
    response = admin_client.post(f"/tenants/{tenant.id}/unsuspend")
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.status == before
    actions = set(AuditEntry.objects.filter(object_id=tenant.id).values_list("action", flat=True))
    assert {"tenant.suspended", "tenant.unsuspended"} <= actions


def test_suspending_twice_shows_the_service_error(admin_client, tenant):
    admin_client.post(f"/tenants/{tenant.id}/suspend", {"reason": ""})
    response = admin_client.post(f"/tenants/{tenant.id}/suspend", {"reason": ""})
    assert response.status_code == 422
    assert "already suspended" in response.content.decode()


def test_unsuspending_an_active_tenant_flashes_the_error(admin_client, tenant):
    response = admin_client.post(f"/tenants/{tenant.id}/unsuspend", follow=True)
    assert "only a suspended tenant" in response.content.decode().lower()


def test_detail_page_has_breadcrumb_and_fields(admin_client, tenant):
    content = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    assert '<a href="/tenants">Tenants</a>' in content
    assert "Acme Plumbing" in content
    assert "acmeplumb" in content
    assert tenant.billing_email in content
    assert "tenant.created" in content


# Isolation and roles


def test_other_partners_tenant_answers_404(admin_client, other_partner):
    _, _, foreign = other_partner
    for path in (
        f"/tenants/{foreign.id}",
        f"/tenants/{foreign.id}/edit",
        f"/tenants/{foreign.id}/delete",
        f"/tenants/{foreign.id}/suspend",
    ):
        assert admin_client.get(path).status_code == 404, path
    posts = {
        f"/tenants/{foreign.id}/edit": {"name": "Stolen", "billing_email": "a@b.example"},
        f"/tenants/{foreign.id}/delete": {"confirm_name": foreign.name},
        f"/tenants/{foreign.id}/suspend": {"reason": "x"},
        f"/tenants/{foreign.id}/unsuspend": {},
        f"/tenants/{foreign.id}/reactivate": {},
    }
    for path, data in posts.items():
        assert admin_client.post(path, data).status_code == 404, path
    foreign.refresh_from_db()
    assert foreign.name == "Other Tenant"
    assert foreign.status == "TRIAL"


def test_unknown_tenant_answers_404(admin_client):
    assert admin_client.get("/tenants/tnt_nope").status_code == 404


def test_list_never_shows_other_partners_tenants(admin_client, tenant, other_partner):
    content = admin_client.get("/tenants?q=Tenant").content.decode()
    assert "Other Tenant" not in content
    assert "Other Tenant" not in admin_client.get("/tenants").content.decode()


def test_partner_user_gets_403_on_every_write_and_nothing_changes(reader_client, tenant):
    writes = {
        "/tenants/new": NEW_TENANT,
        f"/tenants/{tenant.id}/edit": _edit_data(tenant, name="Changed"),
        f"/tenants/{tenant.id}/delete": {"confirm_name": tenant.name},
        f"/tenants/{tenant.id}/suspend": {"reason": "x"},
        f"/tenants/{tenant.id}/unsuspend": {},
        f"/tenants/{tenant.id}/reactivate": {},
        "/tenants/defaults": {
            "default_timezone": "UTC",
            "default_cnam": "",
            "default_suspension_behavior": "alert_only",
        },
    }
    audit_rows = AuditEntry.objects.count()
    for path, data in writes.items():
        response = reader_client.post(path, data)
        assert response.status_code == 403, path
    tenant.refresh_from_db()
    assert tenant.name == "Acme Plumbing"
    assert tenant.status in ("TRIAL", "ACTIVE")
    assert Tenant.objects.count() == 1
    assert AuditEntry.objects.count() == audit_rows
    # The write forms themselves are closed too.
    assert reader_client.get("/tenants/new").status_code == 403
    assert reader_client.get(f"/tenants/{tenant.id}/edit").status_code == 403


def test_partner_user_can_read_the_tenant_page(reader_client, tenant):
    response = reader_client.get(f"/tenants/{tenant.id}")
    assert response.status_code == 200
    assert f"/tenants/{tenant.id}/delete" not in response.content.decode()


# The list: search, filter, sort, pages


@pytest.fixture
def many_tenants(admin):
    names = ["Alpha Co", "Bravo Inc", "Charlie LLC", "Delta Freight", "Echo Dental"]
    made = [
        make_tenant(admin, name=name, billing_email=f"ap@{name.split()[0].lower()}.example")
        for name in names
    ]
    return made


def test_search_by_name_and_billing_email(admin_client, many_tenants):
    content = admin_client.get("/tenants", {"q": "charl"}).content.decode()
    assert "Charlie LLC" in content and "Alpha Co" not in content
    content = admin_client.get("/tenants", {"q": "ap@echo"}).content.decode()
    assert "Echo Dental" in content and "Bravo Inc" not in content


def test_live_search_answers_the_table_fragment(admin_client, many_tenants):
    response = admin_client.get("/tenants", {"q": "bravo"}, **htmx_headers("tenant-table"))
    content = response.content.decode()
    assert "<html" not in content
    assert content.lstrip().startswith('<div id="tenant-table">')
    assert "Bravo Inc" in content and "Alpha Co" not in content
    assert "HX-Request" in response["Vary"]


def test_no_match_shows_an_empty_state(admin_client, many_tenants):
    content = admin_client.get("/tenants", {"q": "zzz"}).content.decode()
    assert "No tenants match" in content


def test_empty_list_offers_new_tenant(admin_client):
    content = admin_client.get("/tenants").content.decode()
    assert "No tenants yet" in content
    assert 'hx-get="/tenants/new"' in content


def test_status_filter(admin_client, admin, many_tenants):
    suspended = make_tenant(admin, name="Zulu Suspended", status="SUSPENDED")
    content = admin_client.get("/tenants", {"status": "SUSPENDED"}).content.decode()
    assert suspended.name in content
    assert "Alpha Co" not in content


def _names_in_order(content, names):
    return sorted(names, key=content.index)


def test_sort_by_name_both_ways(admin_client, many_tenants):
    names = [tenant.name for tenant in many_tenants]
    ascending = admin_client.get("/tenants", {"sort": "name"}).content.decode()
    assert _names_in_order(ascending, names) == sorted(names)
    descending = admin_client.get("/tenants", {"sort": "-name"}).content.decode()
    assert _names_in_order(descending, names) == sorted(names, reverse=True)
    # The active column header flips the direction on the next click.
    assert "sort=-name" in ascending


def test_unknown_sort_falls_back_to_newest_first(admin_client, many_tenants):
    assert admin_client.get("/tenants", {"sort": "partner_id"}).status_code == 200


def test_load_more_pages_through_every_tenant(admin_client, admin):
    for number in range(30):
        make_tenant(admin, name=f"Tenant {number:02d}")
    first = admin_client.get("/tenants", {"sort": "name"})
    assert first.context["page"].next_cursor
    seen = [tenant.name for tenant in first.context["page"].items]
    assert len(seen) == 25
    more = admin_client.get(first.context["load_more_url"], **htmx_headers("load-more"))
    content = more.content.decode()
    assert content.lstrip().startswith("<tr>")
    seen += [tenant.name for tenant in more.context["page"].items]
    assert seen == sorted(f"Tenant {n:02d}" for n in range(30))
    assert more.context["page"].next_cursor is None


def test_bad_cursor_is_a_bad_request(admin_client, tenant):
    assert admin_client.get("/tenants", {"cursor": "!!!"}).status_code == 400


def test_users_column_counts_tenant_users(admin_client, partner, tenant):
    tenant_admin = make_user(partner, role="TENANT_ADMIN")
    tenant_admin.tenant = tenant
    tenant_admin.save()
    page = admin_client.get("/tenants").context["page"]
    assert page.items[0].users_count == 1
