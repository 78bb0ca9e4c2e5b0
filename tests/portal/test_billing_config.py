"""Settings → Billing → Billing Config and Tax Jurisdictions, and the tenant page's Billing
card (partner guide 004_*.txt, "Billing profiles", "Switching a tenant to a different
profile", "Tax jurisdictions", "Auto-suspend on non-payment")."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.factories import actor_for_user, make_tenant
from tests.portal.conftest import HTMX, sign_in
from trunkline.billing import profiles
from trunkline.billing.models import BillingProfile, TaxJurisdiction
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

PROFILE = {
    "name": "Small Office",
    "pricing_model": "FLAT_RATE",
    "base_fee": "99",
    "extension_monthly": "12",
    "did_monthly": "2",
    "toll_free_did_monthly": "4",
    "per_minute": "0.02",
    "included_extensions": "5",
    "included_dids": "1",
    "included_minutes": "500",
}


def test_billing_config_lists_the_starting_profiles(admin_client):
    page = admin_client.get("/settings/billing/profiles").content.decode()
    assert "Pay-As-You-Go" in page and "Flat Rate Starter" in page
    assert "Default</span>" in page
    assert "5 ext, 2 DIDs, 500 min" in page
    assert 'href="/settings/billing/tax"' in page  # the tab beside it


def test_create_a_flat_rate_profile(admin_client, partner):
    made = admin_client.post("/settings/billing/profiles/new", PROFILE, **HTMX)
    assert made.status_code == 200 and made["HX-Redirect"] == "/settings/billing/profiles"
    profile = BillingProfile.objects.get(partner=partner, name="Small Office")
    assert (profile.base_fee_micros, profile.included_minutes) == (99_000_000, 500)
    assert profile.per_minute_local_micros is None
    listed = admin_client.get("/settings/billing/profiles").content.decode()
    assert "Small Office" in listed and "$99.00" in listed


def test_a_blank_included_minutes_on_a_flat_rate_is_unlimited(admin_client, partner):
    admin_client.post(
        "/settings/billing/profiles/new",
        {**PROFILE, "name": "Unlimited", "included_minutes": ""},
        **HTMX,
    )
    assert BillingProfile.objects.get(name="Unlimited").included_minutes is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"name": ""}, "Name is 1 to 80 characters"),
        ({"per_minute": "-1"}, "Per_minute cannot be negative"),
        ({"base_fee": "lots"}, "is not a decimal amount"),
        ({"expires_after_days": "30"}, "names the profile its tenants convert to"),
        ({"included_dids": "two"}, "included_dids is a whole number"),
    ],
)
def test_bad_profiles_are_explained_and_nothing_is_made(admin_client, changes, message):
    before = BillingProfile.objects.count()
    response = admin_client.post("/settings/billing/profiles/new", {**PROFILE, **changes}, **HTMX)
    assert response.status_code == 422
    assert message.lower() in response.content.decode().lower()
    assert BillingProfile.objects.count() == before


def test_edit_make_default_and_delete(admin_client, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    form = admin_client.get(f"/settings/billing/profiles/{flat.id}/edit", **HTMX).content.decode()
    assert 'value="99.00"' in form
    saved = admin_client.post(
        f"/settings/billing/profiles/{flat.id}/edit",
        {**PROFILE, "name": "Flat Rate Starter", "base_fee": "109"},
        **HTMX,
    )
    assert saved.status_code == 200
    flat.refresh_from_db()
    assert flat.base_fee_micros == 109_000_000
    admin_client.post(f"/settings/billing/profiles/{flat.id}/default")
    flat.refresh_from_db()
    assert flat.is_default
    payg = BillingProfile.objects.get(partner=partner, name="Pay-As-You-Go")
    assert not payg.is_default
    # The default cannot be deleted; another can.
    refused = admin_client.post(f"/settings/billing/profiles/{flat.id}/delete", **HTMX)
    assert refused.status_code == 409 and "default profile cannot be deleted" in (
        refused.content.decode()
    )
    deleted = admin_client.post(f"/settings/billing/profiles/{payg.id}/delete", **HTMX)
    assert deleted.status_code == 200
    assert not BillingProfile.objects.filter(id=payg.id).exists()


def test_a_profile_in_use_is_not_deleted(admin_client, admin, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    make_tenant(admin, billing_profile_id=flat.id)
    refused = admin_client.post(f"/settings/billing/profiles/{flat.id}/delete", **HTMX)
    assert refused.status_code == 409 and "1 tenant(s)" in refused.content.decode()
    assert BillingProfile.objects.filter(id=flat.id).exists()


def test_default_suspension_after(admin_client, partner):
    admin_client.post("/settings/billing/suspension", {"suspension_after_days": "21"})
    partner.refresh_from_db()
    assert partner.suspension_after_days == 21
    bad = admin_client.post("/settings/billing/suspension", {"suspension_after_days": "0"})
    assert bad.status_code == 422 and "1 to 365" in bad.content.decode()
    partner.refresh_from_db()
    assert partner.suspension_after_days == 21


def test_tax_jurisdictions_add_toggle_edit_delete(admin_client, partner):
    added = admin_client.post(
        "/settings/billing/tax/new",
        {"name": "Pulaski County", "code": "US-AR-Pulaski", "rate": "0.085", "enabled": "on"},
        **HTMX,
    )
    assert added.status_code == 200
    jurisdiction = TaxJurisdiction.objects.get(partner=partner)
    page = admin_client.get("/settings/billing/tax").content.decode()
    assert "US-AR-Pulaski" in page and "8.5%" in page and "Enabled" in page
    admin_client.post(f"/settings/billing/tax/{jurisdiction.id}/toggle")
    jurisdiction.refresh_from_db()
    assert not jurisdiction.enabled
    bad = admin_client.post(
        f"/settings/billing/tax/{jurisdiction.id}/edit",
        {"name": "Pulaski", "code": "Pulaski", "rate": "0.085"},
        **HTMX,
    )
    assert bad.status_code == 422 and "country code" in bad.content.decode()
    jurisdiction.refresh_from_db()
    assert jurisdiction.code == "US-AR-Pulaski"
    assert (
        admin_client.post(f"/settings/billing/tax/{jurisdiction.id}/delete", **HTMX).status_code
        == 200
    )
    assert not TaxJurisdiction.objects.exists()


def test_a_bad_rate_is_explained(admin_client):
    response = admin_client.post(
        "/settings/billing/tax/new", {"name": "X", "code": "CA-ON", "rate": "13"}, **HTMX
    )
    assert response.status_code == 422 and "0.085 is 8.5%" in response.content.decode()
    assert not TaxJurisdiction.objects.exists()


def test_the_tenant_page_shows_billing_and_changes_it_from_the_next_cycle(
    admin_client, admin, partner
):
    tenant = make_tenant(admin, name="Acme")
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    jurisdiction = TaxJurisdiction.objects.create(
        partner=partner, name="Ontario HST", code="CA-ON", rate="0.13"
    )
    page = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "Pay-As-You-Go" in page and "Current cycle" in page
    form = admin_client.get(f"/tenants/{tenant.id}/billing", **HTMX).content.decode()
    assert "start of the tenant&#x27;s next billing cycle" in form or "next billing cycle" in form
    saved = admin_client.post(
        f"/tenants/{tenant.id}/billing",
        {"billing_profile_id": flat.id, "tax_jurisdiction_id": jurisdiction.id},
        **HTMX,
    )
    assert saved.status_code == 200
    tenant.refresh_from_db()
    assert tenant.pending_billing_profile_id == flat.id
    assert tenant.tax_jurisdiction_id == jurisdiction.id
    page = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "Moves to <strong>Flat Rate Starter</strong>" in page and "Ontario HST" in page


def test_a_new_tenant_can_start_on_another_profile(admin_client, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    form = admin_client.get("/tenants/new", **HTMX).content.decode()
    assert "Pay-As-You-Go (default)" in form
    admin_client.post(
        "/tenants/new",
        {
            "name": "Flat Co",
            "billing_email": "a@flat.example",
            "timezone": "America/Chicago",
            "status": "TRIAL",
            "billing_profile_id": flat.id,
        },
        **HTMX,
    )
    assert Tenant.objects.get(name="Flat Co").billing_profile_id == flat.id


def test_read_only_users_see_but_cannot_change(reader_client, partner, admin):
    page = reader_client.get("/settings/billing/profiles").content.decode()
    assert "Flat Rate Starter" in page and "New profile" not in page and "Make default" not in page
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    tenant = make_tenant(admin)
    jurisdiction = TaxJurisdiction.objects.create(
        partner=partner, name="Ontario HST", code="CA-ON", rate="0.13"
    )
    for path, body in [
        ("/settings/billing/profiles/new", PROFILE),
        (f"/settings/billing/profiles/{flat.id}/edit", PROFILE),
        (f"/settings/billing/profiles/{flat.id}/default", {}),
        (f"/settings/billing/profiles/{flat.id}/delete", {}),
        ("/settings/billing/suspension", {"suspension_after_days": "3"}),
        ("/settings/billing/tax/new", {"name": "X", "code": "CA-ON", "rate": "0.1"}),
        (f"/settings/billing/tax/{jurisdiction.id}/edit", {"name": "X", "code": "CA-QC"}),
        (f"/settings/billing/tax/{jurisdiction.id}/toggle", {}),
        (f"/settings/billing/tax/{jurisdiction.id}/delete", {}),
        (f"/tenants/{tenant.id}/billing", {"billing_profile_id": flat.id}),
    ]:
        assert reader_client.post(path, body).status_code == 403, path
    assert not BillingProfile.objects.filter(name="Small Office").exists()
    assert not BillingProfile.objects.get(id=flat.id).is_default
    jurisdiction.refresh_from_db()
    assert (jurisdiction.code, jurisdiction.enabled) == ("CA-ON", True)
    assert TaxJurisdiction.objects.count() == 1
    partner.refresh_from_db()
    assert partner.suspension_after_days == 14
    tax_page = reader_client.get("/settings/billing/tax").content.decode()
    assert "CA-ON" in tax_page and "Add Jurisdiction" not in tax_page
    assert "/toggle" not in tax_page and "/delete" not in tax_page
    defaults = reader_client.get("/tenants/defaults").content.decode()
    assert "Default billing profile" in defaults and 'name="profile_id"' not in defaults
    page = reader_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "tenant-billing" in page and f'href="/tenants/{tenant.id}/billing"' not in page


def test_another_partners_profiles_jurisdictions_and_tenants_are_404(admin_client, other_partner):
    partner_b, _, tenant_b = other_partner
    theirs = BillingProfile.objects.filter(partner=partner_b).first()
    jurisdiction = TaxJurisdiction.objects.create(
        partner=partner_b, name="Theirs", code="US-TX", rate="0.0625"
    )
    for path in [
        f"/settings/billing/profiles/{theirs.id}/edit",
        f"/settings/billing/profiles/{theirs.id}/delete",
        f"/settings/billing/tax/{jurisdiction.id}/edit",
        f"/settings/billing/tax/{jurisdiction.id}/delete",
        f"/tenants/{tenant_b.id}/billing",
    ]:
        assert admin_client.get(path).status_code == 404, path
        assert admin_client.post(path, {}).status_code == 404, path
    assert admin_client.post(f"/settings/billing/profiles/{theirs.id}/default").status_code == 404
    assert admin_client.post(f"/settings/billing/tax/{jurisdiction.id}/toggle").status_code == 404
    assert BillingProfile.objects.filter(id=theirs.id).exists()
    jurisdiction.refresh_from_db()
    assert jurisdiction.enabled


def test_in_a_browser_make_a_flat_rate_and_move_a_tenant_onto_it(page, live_server, admin):
    tenant = make_tenant(admin, name="Browser Co")
    sign_in(page, admin, live_server)
    page.goto("/settings/billing/profiles")
    page.get_by_role("link", name="New profile").click()
    modal = page.locator("#modal")
    modal.get_by_label("Name").first.fill("Growing Business")
    assert not modal.get_by_label("Included extensions").is_visible()  # Pay-As-You-Go
    modal.get_by_label("Pricing model").select_option("FLAT_RATE")
    modal.get_by_label("Monthly base fee ($)").fill("249")
    modal.get_by_label("Included extensions").fill("25")
    modal.get_by_label("Included DIDs").fill("5")
    modal.get_by_label("Included minutes").fill("2500")
    modal.get_by_role("button", name="Create profile").click()
    page.locator("tr", has_text="Growing Business").wait_for()
    assert (
        "25 ext, 5 DIDs, 2500 min" in page.locator("tr", has_text="Growing Business").inner_text()
    )

    page.goto(f"/tenants/{tenant.id}")
    page.locator("#tenant-billing").get_by_role("link", name="Change").click()
    page.locator("#modal").get_by_label("Billing profile").select_option(label="Growing Business")
    page.locator("#modal").get_by_role("button", name="Save").click()
    page.locator("#tenant-billing", has_text="Moves to Growing Business").wait_for()
    tenant.refresh_from_db()
    assert tenant.pending_billing_profile.name == "Growing Business"
    starts = tenant.pending_billing_profile_from
    assert starts == profiles.billing_cycle(tenant, timezone.now()).end
    card = page.locator("#tenant-billing").inner_text()
    assert f"Moves to Growing Business on {starts:%b} {starts.day}, {starts.year}" in card


def test_tenant_defaults_choose_the_default_billing_profile(admin_client, reader_client, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    page = admin_client.get("/tenants/defaults").content.decode()
    assert "Default billing profile" in page
    assert (
        reader_client.post("/tenants/defaults/billing-profile", {"profile_id": flat.id}).status_code
        == 403
    )
    done = admin_client.post("/tenants/defaults/billing-profile", {"profile_id": flat.id})
    assert done.status_code == 302
    flat.refresh_from_db()
    assert flat.is_default
    assert (
        admin_client.post(
            "/tenants/defaults/billing-profile", {"profile_id": "bpf_nope"}
        ).status_code
        == 404
    )


def test_switching_a_flat_rate_profile_to_pay_as_you_go(admin_client, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    url = f"/settings/billing/profiles/{flat.id}/edit"
    form = admin_client.get(url, **HTMX).content.decode()
    assert "data-flat-rate-only" in form and "Flat Rate only" in form
    body = {**PROFILE, "name": "Flat Rate Starter", "pricing_model": "PAYG"}
    # Sent with the included quantities still filled in (no script ran): explained.
    refused = admin_client.post(url, body, **HTMX)
    assert refused.status_code == 422
    assert "included quantities belong to flat rate profiles" in refused.content.decode().lower()
    flat.refresh_from_db()
    assert flat.pricing_model == "FLAT_RATE" and flat.included_extensions == 5
    # The browser leaves the hidden quantities out.
    for name in ("included_extensions", "included_dids", "included_minutes"):
        body.pop(name)
    assert admin_client.post(url, body, **HTMX).status_code == 200
    flat.refresh_from_db()
    assert flat.pricing_model == "PAYG"
    assert (flat.included_extensions, flat.included_dids, flat.included_minutes) == (0, 0, 0)


def test_a_profile_that_another_converts_to_is_not_deleted(admin_client, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    admin_client.post(
        "/settings/billing/profiles/new",
        {
            **PROFILE,
            "name": "Free Trial",
            "base_fee": "0",
            "expires_after_days": "30",
            "converts_to_id": flat.id,
        },
        **HTMX,
    )
    trial = BillingProfile.objects.get(partner=partner, name="Free Trial")
    assert (trial.expires_after_days, trial.converts_to_id) == (30, flat.id)
    listed = admin_client.get("/settings/billing/profiles").content.decode()
    assert "after 30 days → Flat Rate Starter" in listed
    refused = admin_client.post(f"/settings/billing/profiles/{flat.id}/delete", **HTMX)
    assert refused.status_code == 409
    assert "another profile converts to this one" in refused.content.decode().lower()
    assert BillingProfile.objects.filter(id=flat.id).exists()


def test_a_jurisdiction_with_tenants_is_not_deleted(admin_client, admin, partner):
    jurisdiction = TaxJurisdiction.objects.create(
        partner=partner, name="Pulaski County", code="US-AR-Pulaski", rate="0.085"
    )
    tenant = make_tenant(admin)
    admin_client.post(
        f"/tenants/{tenant.id}/billing",
        {"billing_profile_id": tenant.billing_profile_id, "tax_jurisdiction_id": jurisdiction.id},
        **HTMX,
    )
    listed = admin_client.get("/settings/billing/tax").content.decode()
    row = listed.split(f'data-jurisdiction="{jurisdiction.id}"')[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in row
    refused = admin_client.post(f"/settings/billing/tax/{jurisdiction.id}/delete", **HTMX)
    assert refused.status_code == 409
    assert "1 tenant(s) are in this jurisdiction" in refused.content.decode().lower()
    assert TaxJurisdiction.objects.filter(id=jurisdiction.id).exists()


def test_the_billing_change_refuses_bad_choices_and_changes_nothing(
    admin_client, admin, partner, other_partner
):
    partner_b, _, _ = other_partner
    tenant = make_tenant(admin)
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    theirs = TaxJurisdiction.objects.create(
        partner=partner_b, name="Theirs", code="US-TX", rate="0.0625"
    )
    their_profile = BillingProfile.objects.filter(partner=partner_b).first()
    for body in (
        {"billing_profile_id": flat.id, "tax_jurisdiction_id": theirs.id},
        {"billing_profile_id": their_profile.id, "tax_jurisdiction_id": ""},
        {"billing_profile_id": "", "tax_jurisdiction_id": ""},
    ):
        response = admin_client.post(f"/tenants/{tenant.id}/billing", body, **HTMX)
        assert response.status_code == 422, body
        assert 'role="alert"' in response.content.decode()
        tenant.refresh_from_db()
        assert tenant.pending_billing_profile_id is None and tenant.tax_jurisdiction_id is None


def test_profiles_count_tenants_on_them_and_moving_to_them(admin_client, admin, partner):
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    tenant = make_tenant(admin)
    tenant = profiles.tenant_billing_profile_change(
        actor=actor_for_user(admin), tenant=tenant, profile_id=flat.id
    )
    listed = admin_client.get("/settings/billing/profiles").content.decode()
    row = listed.split(f'data-profile="{flat.id}"')[1].split("</tr>")[0]
    assert "+1 next cycle" in row
    card = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    starts = tenant.pending_billing_profile_from
    assert f"on {starts:%b} {starts.day}, {starts.year}" in card
    assert "since" in card
