"""Porting out in the portal: the tenant's port-out PIN on its page, and Port out /
Complete / Cancel on DID Inventory (partner guide 004, Appendix B "Porting out": "Provide
the PIN if you have one set; otherwise their account number is usually enough … Don't
release the DID before the port completes")."""

import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.utils import timezone

from tests.billing.subscription_helpers import pdf_text
from tests.factories import actor_for_user
from tests.portal.conftest import htmx_headers, sign_in
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.models import AuditEntry, Event
from trunkline.core.money import Money
from trunkline.phone_numbers import porting, porting_out, services
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber
from trunkline.phone_numbers.supply import supply_seed
from trunkline.tenants.models import Tenant

MODAL = htmx_headers("modal")


def live_numbers(admin, tenant, count: int) -> list[PhoneNumber]:
    """`count` ACTIVE numbers bought by `admin`'s partner and assigned to `tenant`."""
    partner = admin.partner
    if not SupplyNumber.objects.exists():
        supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("50.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key=f"port-out-{partner.id}",
    )
    actor = actor_for_user(admin)
    # A number bought leaves the carrier's supply, so these are always still for sale.
    wanted = list(SupplyNumber.objects.order_by("e164").values_list("e164", flat=True)[:count])
    bought = services.numbers_purchase(actor=actor, numbers=wanted)
    requests_sync(now=timezone.now() + timedelta(minutes=1))  # the carrier provisions them
    numbers = []
    for number in bought:
        number.refresh_from_db()
        assert number.status == "ACTIVE"
        numbers.append(services.number_assign(actor=actor, number=number, tenant=tenant))
    return numbers


@pytest.fixture
def numbers(admin, tenant):
    return live_numbers(admin, tenant, 2)


def shown_pin(response) -> str:
    match = re.search(r'id="new-port-out-pin"[^>]*value="(\d+)"', response.content.decode())
    assert match, response.content.decode()
    return match.group(1)


def fresh(number: PhoneNumber) -> PhoneNumber:
    return PhoneNumber.objects.get(pk=number.pk)


# --- the tenant's port-out PIN ------------------------------------------------------------


def test_a_generated_pin_is_shown_once_and_only_its_hash_is_kept(admin_client, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    url = f"/tenants/{tenant.id}"
    before = admin_client.get(url).content.decode()
    assert "Port-out PIN" in before and "No PIN is set" in before and "Set PIN" in before
    form = admin_client.get(f"{url}/port-out-pin", **MODAL)
    assert form.status_code == 200 and 'name="pin"' in form.content.decode()
    answer = admin_client.post(f"{url}/port-out-pin", {"pin": ""}, **MODAL)
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    pin = shown_pin(answer)
    assert len(pin) == 8 and "shown only this once" in answer.content.decode()
    tenant.refresh_from_db()
    assert tenant.port_out_pin_hash.startswith("argon2")
    assert pin not in tenant.port_out_pin_hash and check_password(pin, tenant.port_out_pin_hash)
    after = admin_client.get(url).content.decode()
    assert pin not in after
    assert "A PIN is set" in after and "Rotate PIN" in after and "No PIN is set" not in after
    assert pin not in admin_client.get(f"{url}/port-out-pin", **MODAL).content.decode()
    # Nowhere else either: not in the audit trail, the events or the logs.
    audit = AuditEntry.objects.filter(object_id=tenant.id, action="tenant.port_out_pin_set")
    assert audit.count() == 1
    assert all(pin not in str(entry.after) for entry in AuditEntry.objects.all())
    assert all(pin not in str(event.payload) for event in Event.objects.all())
    assert pin not in caplog.text


def test_rotate_with_chosen_digits_replaces_the_old_pin(admin_client, tenant):
    url = f"/tenants/{tenant.id}/port-out-pin"
    first = shown_pin(admin_client.post(url, {"pin": "13572468"}, **MODAL))
    assert first == "13572468"
    form = admin_client.get(url, **MODAL).content.decode()
    assert "Rotate PIN" in form and "stops working" in form
    rotated = admin_client.post(url, {"pin": "246813"}, **MODAL)
    assert rotated.status_code == 200 and "Port-out PIN rotated" in rotated.content.decode()
    assert shown_pin(rotated) == "246813"
    tenant.refresh_from_db()
    assert check_password("246813", tenant.port_out_pin_hash)
    assert not check_password("13572468", tenant.port_out_pin_hash)
    assert AuditEntry.objects.filter(action="tenant.port_out_pin_rotated").count() == 1


@pytest.mark.parametrize("bad", ["12", "12ab", "1234567890123"])
def test_a_pin_that_is_not_4_to_12_digits_is_refused_and_nothing_changes(admin_client, tenant, bad):
    url = f"/tenants/{tenant.id}/port-out-pin"
    admin_client.post(url, {"pin": "9753"}, **MODAL)
    tenant.refresh_from_db()
    kept = (tenant.port_out_pin_hash, tenant.port_out_pin_set_at)
    refused = admin_client.post(url, {"pin": bad}, **MODAL)
    assert refused.status_code == 422
    page = refused.content.decode()
    assert "Pin is 4 to 12 digits" in page and f'value="{bad}"' not in page  # not echoed
    tenant.refresh_from_db()
    assert (tenant.port_out_pin_hash, tenant.port_out_pin_set_at) == kept
    # Without htmx the same form is a page of its own, with the same message.
    plain = admin_client.post(url, {"pin": bad})
    assert plain.status_code == 422 and "Pin is 4 to 12 digits" in plain.content.decode()


# --- porting a number out ------------------------------------------------------------------


def test_port_out_with_the_pin_then_complete(admin_client, admin, tenant, numbers):
    number, other = numbers
    porting_out.tenant_port_out_pin_set(actor=actor_for_user(admin), tenant=tenant, pin="4321")
    inventory = admin_client.get("/numbers").content.decode()
    assert inventory.count(">Port out</a>") == 2 and "Porting out" not in inventory
    url = f"/numbers/{number.id}/port-out"
    form = admin_client.get(url, **MODAL).content.decode()
    assert "Port-out PIN" in form and 'name="account_number"' not in form
    assert "Don't release the number before the port completes" in form
    wrong = admin_client.post(url, {"gaining_carrier": "Verizon", "pin": "1111"}, **MODAL)
    assert wrong.status_code == 422
    assert "The port-out PIN does not match" in wrong.content.decode()
    assert fresh(number).port_out_pending is False
    no_carrier = admin_client.post(url, {"gaining_carrier": "  ", "pin": "4321"}, **MODAL)
    assert no_carrier.status_code == 422 and "Gaining_carrier is 1 to 100" in (
        no_carrier.content.decode()
    )
    assert fresh(number).port_out_pending is False
    started = admin_client.post(
        url, {"gaining_carrier": " Verizon  Wireless ", "pin": "4321"}, **MODAL
    )
    assert started.status_code == 200 and started["HX-Redirect"] == "/numbers"
    number = fresh(number)
    assert (number.port_out_pending, number.port_out_carrier) == (True, "Verizon Wireless")
    assert "4321" not in started.content.decode()
    inventory = admin_client.get("/numbers").content.decode()
    assert "Port-out of " + number.e164 + " to Verizon Wireless started" in inventory
    assert "Porting out" in inventory and "to Verizon Wireless" in inventory
    assert f"/numbers/{number.id}/port-out/complete" in inventory
    assert f"/numbers/{number.id}/port-out/cancel" in inventory
    assert f'href="/numbers/{number.id}/port-out"' not in inventory
    assert f'href="/numbers/{other.id}/port-out"' in inventory
    # It cannot be moved to another tenant meanwhile either.
    assert f'href="/numbers/{number.id}/assign"' not in inventory
    assert f'href="/numbers/{other.id}/assign"' in inventory
    again = admin_client.post(url, {"gaining_carrier": "Verizon", "pin": "4321"}, **MODAL)
    assert again.status_code == 409 and "A port-out is already pending" in again.content.decode()

    # Release is refused while the port-out is pending, with the service's reason.
    release_form = admin_client.get(f"/numbers/{number.id}/release", **MODAL).content.decode()
    assert "The number is being ported out: releasing it now would fail the port" in release_form
    assert "disabled>Release</button>" in release_form
    refused = admin_client.post(f"/numbers/{number.id}/release", **MODAL)
    assert refused.status_code == 409 and "would fail the port" in refused.content.decode()
    assert (fresh(number).status, fresh(number).tenant_id) == ("ACTIVE", tenant.id)

    confirm = admin_client.get(f"/numbers/{number.id}/port-out/complete", **MODAL)
    assert "Verizon Wireless" in confirm.content.decode()
    done = admin_client.post(f"/numbers/{number.id}/port-out/complete", **MODAL)
    assert done["HX-Redirect"] == "/numbers"
    number = fresh(number)
    assert (number.status, number.tenant_id, number.port_out_pending) == (
        "DISCONNECTED",
        None,
        False,
    )
    inventory = admin_client.get("/numbers").content.decode()
    assert "has been ported out" in inventory
    assert f"/numbers/{number.id}/" not in inventory and other.e164 in inventory
    # It has left the platform: nothing more can be done with it.
    assert admin_client.post(f"/numbers/{number.id}/port-out/complete", **MODAL).status_code == 404
    ported = [e.payload for e in Event.objects.filter(type="phone_number.updated")]
    assert any(
        data.get("port_out") == {"pending": False, "gaining_carrier": "Verizon Wireless"}
        and data["phone_number"]["status"] == "DISCONNECTED"
        for data in ported
    )


def test_without_a_pin_the_account_number_is_asked_and_cancel_clears(admin_client, tenant, numbers):
    number = numbers[0]
    url = f"/numbers/{number.id}/port-out"
    form = admin_client.get(url, **MODAL).content.decode()
    assert 'name="account_number"' in form and 'name="pin"' not in form
    wrong = admin_client.post(
        url, {"gaining_carrier": "Vonage", "account_number": "tnt_nope"}, **MODAL
    )
    assert wrong.status_code == 422 and "The account number does not match" in (
        wrong.content.decode()
    )
    assert 'value="Vonage"' in wrong.content.decode()  # what was typed stays in the form
    assert fresh(number).port_out_pending is False
    started = admin_client.post(
        url, {"gaining_carrier": "Vonage", "account_number": tenant.id}, **MODAL
    )
    assert started["HX-Redirect"] == "/numbers"
    assert fresh(number).port_out_pending is True
    cancelled = admin_client.post(f"/numbers/{number.id}/port-out/cancel", **MODAL)
    assert cancelled["HX-Redirect"] == "/numbers"
    number = fresh(number)
    assert (number.port_out_pending, number.port_out_carrier, number.status) == (
        False,
        "",
        "ACTIVE",
    )
    inventory = admin_client.get("/numbers").content.decode()
    assert "was cancelled" in inventory and f'href="/numbers/{number.id}/port-out"' in inventory
    again = admin_client.post(f"/numbers/{number.id}/port-out/cancel", **MODAL)
    assert again.status_code == 409 and "No port-out is pending" in again.content.decode()
    # Now it can be released again.
    assert admin_client.post(f"/numbers/{number.id}/release", **MODAL)["HX-Redirect"] == "/numbers"


def test_a_released_number_shows_no_port_out_and_a_forced_post_is_refused(
    admin_client, admin, tenant, numbers
):
    number = numbers[0]
    porting_out.tenant_port_out_pin_set(actor=actor_for_user(admin), tenant=tenant, pin="4321")
    release_form = admin_client.get(f"/numbers/{number.id}/release", **MODAL).content.decode()
    assert "use <strong>Port out</strong> instead" in release_form
    admin_client.post(f"/numbers/{number.id}/release", **MODAL)
    assert fresh(number).status == "RELEASED"
    inventory = admin_client.get("/numbers").content.decode()
    assert f'href="/numbers/{number.id}/port-out"' not in inventory
    forced = admin_client.post(
        f"/numbers/{number.id}/port-out", {"gaining_carrier": "Verizon", "pin": "4321"}, **MODAL
    )
    assert forced.status_code == 409
    assert "A released number cannot be ported out" in forced.content.decode()
    # Without htmx the refusal is a page of its own, not an error page.
    plain = admin_client.post(
        f"/numbers/{number.id}/port-out", {"gaining_carrier": "Verizon", "pin": "4321"}
    )
    assert plain.status_code == 409
    assert "A released number cannot be ported out" in plain.content.decode()
    number = fresh(number)
    assert (number.status, number.port_out_pending) == ("RELEASED", False)
    for action in ("complete", "cancel"):
        refused = admin_client.post(f"/numbers/{number.id}/port-out/{action}", **MODAL)
        assert refused.status_code == 409
        assert "No port-out is pending" in refused.content.decode()


def test_unassigned_and_pending_numbers_show_no_port_out_and_are_refused(
    admin_client, admin, tenant, numbers
):
    unassigned = services.number_assign(actor=actor_for_user(admin), number=numbers[0], tenant=None)
    pending = services.numbers_purchase(
        actor=actor_for_user(admin),
        numbers=[SupplyNumber.objects.order_by("e164").values_list("e164", flat=True)[0]],
    )[0]
    services.number_assign(actor=actor_for_user(admin), number=pending, tenant=tenant)
    inventory = admin_client.get("/numbers").content.decode()
    assert inventory.count(">Port out</a>") == 1  # only numbers[1], active and assigned
    for number, reason in (
        (unassigned, "only a number assigned to a tenant can be ported out"),
        (pending, "Only an active number can be ported out; this one is pending"),
    ):
        assert f'href="/numbers/{number.id}/port-out"' not in inventory
        forced = admin_client.post(
            f"/numbers/{number.id}/port-out",
            {"gaining_carrier": "Verizon", "account_number": tenant.id},
            **MODAL,
        )
        assert forced.status_code == 409 and reason in forced.content.decode()
        assert fresh(number).port_out_pending is False


def test_read_only_users_see_the_status_but_no_actions_and_are_refused(
    admin_client, reader_client, admin, tenant, numbers
):
    number, pending = numbers
    actor = actor_for_user(admin)
    porting_out.tenant_port_out_pin_set(actor=actor, tenant=tenant, pin="4321")
    porting_out.number_port_out_request(
        actor=actor, number=pending, gaining_carrier="Verizon", pin="4321"
    )
    page = reader_client.get(f"/tenants/{tenant.id}").content.decode()
    assert "A PIN is set" in page
    assert "Rotate PIN" not in page and "Set PIN" not in page
    assert f"/tenants/{tenant.id}/port-out-pin" not in page
    inventory = reader_client.get("/numbers").content.decode()
    assert "Porting out" in inventory
    assert "/port-out" not in inventory  # no Port out, Complete or Cancel
    tenant.refresh_from_db()
    kept = tenant.port_out_pin_hash
    assert reader_client.get(f"/tenants/{tenant.id}/port-out-pin", **MODAL).status_code == 403
    assert (
        reader_client.post(f"/tenants/{tenant.id}/port-out-pin", {"pin": "1111"}).status_code == 403
    )
    started = reader_client.post(
        f"/numbers/{number.id}/port-out", {"gaining_carrier": "Verizon", "pin": "4321"}, **MODAL
    )
    assert started.status_code == 403
    for action in ("complete", "cancel"):
        assert reader_client.post(f"/numbers/{pending.id}/port-out/{action}").status_code == 403
    tenant.refresh_from_db()
    assert tenant.port_out_pin_hash == kept
    assert fresh(number).port_out_pending is False
    pending = fresh(pending)
    assert (pending.status, pending.port_out_pending) == ("ACTIVE", True)


def test_another_partners_tenant_and_numbers_are_404(admin_client, admin, other_partner, tenant):
    live_numbers(admin, tenant, 1)
    _, admin_b, tenant_b = other_partner
    foreign = live_numbers(admin_b, tenant_b, 2)
    porting_out.tenant_port_out_pin_set(actor=actor_for_user(admin_b), tenant=tenant_b, pin="4321")
    porting_out.number_port_out_request(
        actor=actor_for_user(admin_b), number=foreign[1], gaining_carrier="Verizon", pin="4321"
    )
    tenant_b.refresh_from_db()
    kept = tenant_b.port_out_pin_hash
    assert admin_client.get(f"/tenants/{tenant_b.id}/port-out-pin", **MODAL).status_code == 404
    assert admin_client.post(f"/tenants/{tenant_b.id}/port-out-pin", {"pin": ""}).status_code == 404
    assert admin_client.get(f"/numbers/{foreign[0].id}/port-out", **MODAL).status_code == 404
    answer = admin_client.post(
        f"/numbers/{foreign[0].id}/port-out", {"gaining_carrier": "Verizon", "pin": "4321"}
    )
    assert answer.status_code == 404
    for action in ("complete", "cancel"):
        assert admin_client.post(f"/numbers/{foreign[1].id}/port-out/{action}").status_code == 404
    assert Tenant.objects.get(pk=tenant_b.pk).port_out_pin_hash == kept
    assert fresh(foreign[0]).port_out_pending is False
    assert (fresh(foreign[1]).status, fresh(foreign[1]).port_out_pending) == ("ACTIVE", True)
    assert foreign[0].e164 not in admin_client.get("/numbers").content.decode()


def test_deleting_a_tenant_warns_to_port_its_numbers_out_first(admin_client, tenant):
    page = admin_client.get(f"/tenants/{tenant.id}/delete", **MODAL).content.decode()
    assert "port its numbers out first" in page


# --- the LOA for porting numbers in ---------------------------------------------------------


def test_the_loa_pdf_names_the_account_holder_and_every_number(admin_client, admin, tenant):
    port = porting.port_request_create(
        actor=actor_for_user(admin),
        tenant=tenant,
        fields={
            "numbers": ["+12125550111", "+12125550112"],
            "current_carrier": "Spectrum",
            "account_holder": "Acme Plumbing LLC",
            "business_name": "Acme Plumbing",
            "account_number": "5550001000",
            "service_address": {
                "street": "100 Main St",
                "city": "Little Rock",
                "state": "AR",
                "postal_code": "72201",
            },
        },
    )
    answer = admin_client.get(f"/numbers/porting/{port.id}/loa.pdf")
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF")
    text = pdf_text(answer.content)
    assert r"LETTER OF AUTHORIZATION \(LOA\)" in text  # parentheses escaped in a PDF string
    assert "I, Acme Plumbing LLC, authorized representative of Acme Plumbing" in text
    assert "(+12125550111)" in text and "(+12125550112)" in text
    assert "Spectrum" in text and "5550001000" in text and "100 Main St" in text


# --- in a real browser ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_set_a_pin_port_a_number_out_and_complete(page, live_server, admin, tenant):
    number = live_numbers(admin, tenant, 1)[0]
    sign_in(page, admin, live_server)
    page.goto(f"/tenants/{tenant.id}")
    card = page.locator("#port-out-pin")
    assert "No PIN is set" in card.inner_text()
    card.get_by_role("link", name="Set PIN").click()
    page.locator("#modal").get_by_role("button", name="Set PIN").click()
    shown = page.locator("#modal #new-port-out-pin")
    shown.wait_for()
    pin = shown.input_value()
    assert re.fullmatch(r"\d{8}", pin)
    page.locator("#modal").get_by_role("button", name="Close").click()  # reloads the page
    page.locator("#port-out-pin", has_text="A PIN is set").wait_for()
    assert pin not in page.content()

    page.goto("/numbers")
    row = page.locator("tr", has_text=number.e164)
    row.get_by_role("link", name="Port out").click()
    modal = page.locator("#modal")
    modal.get_by_label("Gaining carrier").fill("RingCentral")
    modal.get_by_label("Port-out PIN").fill("0000" if pin != "0000" else "1111")
    modal.get_by_role("button", name="Start port-out").click()
    modal.get_by_text("The port-out PIN does not match").wait_for()
    assert fresh(number).port_out_pending is False
    modal.get_by_label("Port-out PIN").fill(pin)
    modal.get_by_role("button", name="Start port-out").click()
    page.get_by_text("Porting out").wait_for()
    assert "to RingCentral" in row.inner_text()
    row.get_by_role("link", name="Complete").click()
    modal.get_by_role("button", name="Complete port-out").click()
    page.get_by_text("has been ported out").wait_for()
    assert page.locator("tr", has_text=number.e164).count() == 0
    assert fresh(number).status == "DISCONNECTED"
