"""Settings → Billing → Tenant Billing, the tenant page's card on file and an invoice's
card charges (partner guide 004_*.txt, "Getting Paid: Connect Stripe", "Tenant Billing &
Stripe")."""

from __future__ import annotations

import pytest
from django.test import TestCase

from tests.factories import actor_for_user
from tests.portal.conftest import HTMX
from tests.tasks import run_queued_tasks
from trunkline.billing.models import (
    CollectionSettings,
    Invoice,
    TenantCharge,
    TenantPaymentMethod,
)
from trunkline.billing.tenant_invoices import invoice_create_off_cycle, invoice_send

pytestmark = pytest.mark.django_db

PAGE = "/settings/billing/tenant-billing"
SECRET = "sk_live_51PortalSecretKeyNeverShown0000abcd"


def test_the_page_explains_the_three_modes_and_starts_on_platform(admin_client):
    page = admin_client.get(PAGE).content.decode()
    for words in ("Platform", "Connect (Express)", "Custom Keys", "3.99%", "Connect with Stripe"):
        assert words in page
    assert 'data-mode="platform"><th scope="row">Platform <span class="badge ACTIVE">In use' in page
    assert "Show Advanced Options" in page
    assert 'href="/settings/billing/tenant-billing" aria-current="page"' in page


def test_save_descriptor_and_a_refused_one(admin_client, partner):
    saved = admin_client.post(f"{PAGE}/descriptor", {"statement_descriptor": "acme phones"})
    assert saved.status_code == 302
    assert CollectionSettings.objects.get(partner=partner).statement_descriptor == "ACME PHONES"
    refused = admin_client.post(f"{PAGE}/descriptor", {"statement_descriptor": "Acme's Phone Co."})
    assert refused.status_code == 422
    assert "Latin letters, digits, spaces" in refused.content.decode()
    assert CollectionSettings.objects.get(partner=partner).statement_descriptor == "ACME PHONES"


def test_connect_through_the_simulated_onboarding(admin_client, partner):
    started = admin_client.post(f"{PAGE}/connect")
    assert started.status_code == 302
    onboarding = started["Location"]
    assert "/settings/billing/tenant-billing/simulated-onboarding/acct_sim_" in onboarding
    path = "/" + onboarding.split("://", 1)[-1].split("/", 1)[-1]
    shown = admin_client.get(path).content.decode()
    assert "Complete onboarding" in shown and partner.company_name in shown
    back = admin_client.post(path.split("?")[0])
    assert back["Location"] == f"{PAGE}?connect=return"
    assert admin_client.get(back["Location"]).status_code == 302  # checks, then the page
    page = admin_client.get(PAGE).content.decode()
    assert "Stripe Connect Active" in page
    chosen = admin_client.post(f"{PAGE}/mode", {"mode": "connect"})
    assert chosen.status_code == 302
    assert CollectionSettings.objects.get(partner=partner).mode == "connect"


def test_another_partners_onboarding_page_is_not_found(admin_client, other_partner):
    assert admin_client.get(f"{PAGE}/simulated-onboarding/acct_sim_someoneelse").status_code == 404


def test_a_mode_that_is_not_ready_is_refused_with_the_reason(admin_client, partner):
    refused = admin_client.post(f"{PAGE}/mode", {"mode": "custom_keys"})
    assert refused.status_code == 422
    assert "Save your Stripe secret key first" in refused.content.decode()
    assert CollectionSettings.objects.get(partner=partner).mode == "platform"


def test_a_custom_secret_key_is_never_rendered(admin_client, partner):
    bad = admin_client.post(
        f"{PAGE}/custom-keys", {"secret_key": SECRET, "publishable_key": "pk_test_wrongmode00"}
    )
    assert bad.status_code == 422 and SECRET not in bad.content.decode()
    saved = admin_client.post(f"{PAGE}/custom-keys", {"secret_key": SECRET})
    assert saved.status_code == 302
    page = admin_client.get(PAGE).content.decode()
    assert SECRET not in page and "sk_live_…abcd" in page
    admin_client.post(f"{PAGE}/mode", {"mode": "custom_keys"})
    removed = admin_client.post(f"{PAGE}/custom-keys/remove")
    assert removed.status_code == 302
    assert CollectionSettings.objects.get(partner=partner).mode == "platform"


def test_read_only_users_see_the_settings_but_cannot_change_them(reader_client, partner):
    page = reader_client.get(PAGE).content.decode()
    assert "Save Descriptor" not in page and "Connect with Stripe" not in page
    assert (
        reader_client.post(f"{PAGE}/descriptor", {"statement_descriptor": "X CO"}).status_code
        == 403
    )
    assert reader_client.post(f"{PAGE}/connect").status_code == 403


def test_a_card_on_the_tenant_page_pays_its_invoices(admin_client, admin, tenant):
    added = admin_client.post(
        f"/tenants/{tenant.id}/cards/new", {"token": "4242 4242 4242 4242"}, **HTMX
    )
    assert added.status_code == 200 and added["HX-Redirect"] == f"/tenants/{tenant.id}"
    page = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "Visa •••• 4242" in page and "Default</span>" in page
    refused = admin_client.post(f"/tenants/{tenant.id}/cards/new", {"token": "1234"}, **HTMX)
    assert refused.status_code == 422

    invoice = invoice_create_off_cycle(
        actor=actor_for_user(admin),
        tenant=tenant,
        lines=[{"description": "Setup", "unit_price": "20"}],
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        invoice_send(actor=actor_for_user(admin), invoice=invoice)
    run_queued_tasks()
    detail = admin_client.get(f"/settings/billing/invoices/{invoice.id}").content.decode()
    assert "Card charges" in detail and "Succeeded" in detail and "$0.80" in detail
    assert Invoice.objects.get(id=invoice.id).status == "PAID"

    card = TenantPaymentMethod.objects.get(tenant=tenant)
    removed = admin_client.post(f"/tenants/{tenant.id}/cards/{card.id}/delete")
    assert removed.status_code == 302
    assert "No card" in admin_client.get(f"/tenants/{tenant.id}").content.decode()


def test_charge_card_from_the_invoice_page(admin_client, admin, tenant):
    invoice = invoice_create_off_cycle(
        actor=actor_for_user(admin),
        tenant=tenant,
        lines=[{"description": "Setup", "unit_price": "20"}],
    )
    invoice_send(actor=actor_for_user(admin), invoice=invoice)
    no_card = admin_client.post(f"/settings/billing/invoices/{invoice.id}/charge", **HTMX)
    assert no_card.status_code == 409
    assert "no card on file" in no_card.content.decode()
    admin_client.post(f"/tenants/{tenant.id}/cards/new", {"token": "4000000000000341"}, **HTMX)
    charged = admin_client.post(f"/settings/billing/invoices/{invoice.id}/charge", **HTMX)
    assert charged.status_code == 200
    detail = admin_client.get(f"/settings/billing/invoices/{invoice.id}").content.decode()
    assert "Declined" in detail and "card declined" in detail and "tried again on" in detail


def test_one_time_charges_on_the_tenant_page(admin_client, tenant, reader_client):
    form = admin_client.get(f"/tenants/{tenant.id}/charges/new", **HTMX).content.decode()
    assert "Unit price (USD)" in form and "Acme Plumbing's invoice" in form
    refused = admin_client.post(
        f"/tenants/{tenant.id}/charges/new",
        {"description": "Setup fee", "quantity": "1", "unit_price": "1.005"},
        **HTMX,
    )
    assert refused.status_code == 422
    assert "whole cents" in refused.content.decode()
    added = admin_client.post(
        f"/tenants/{tenant.id}/charges/new",
        {"description": "Desk phone", "quantity": "2", "unit_price": "189.00"},
        **HTMX,
    )
    assert added.status_code == 200 and added["HX-Redirect"] == f"/tenants/{tenant.id}"
    page = admin_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "One-time charges for the next invoice" in page
    assert "Desk phone" in page and "$378.00" in page

    charge = TenantCharge.objects.get(tenant=tenant)
    read_only = reader_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "Desk phone" in read_only and f"/charges/{charge.id}/delete" not in read_only
    assert reader_client.post(f"/tenants/{tenant.id}/charges/{charge.id}/delete").status_code == 403
    assert TenantCharge.objects.filter(pk=charge.pk).exists()

    removed = admin_client.post(f"/tenants/{tenant.id}/charges/{charge.id}/delete")
    assert removed.status_code == 302
    assert not TenantCharge.objects.filter(pk=charge.pk).exists()
    assert "None: the next invoice" in admin_client.get(f"/tenants/{tenant.id}").content.decode()
    gone = admin_client.post(f"/tenants/{tenant.id}/charges/{charge.id}/delete")
    assert gone.status_code == 404
