"""Porting numbers in and out (partner guide 004, "Porting numbers in" and Appendix B:
information needed, lifecycle, rejection reasons, Resubmit, porting out)."""

import json
import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail

from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.accounts.models import ApiRequestLog
from trunkline.billing import ledger
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import AuditEntry, Event
from trunkline.phone_numbers import porting, porting_out, services
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber, PortRequest

pytestmark = pytest.mark.django_db

MONDAY = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n% signed LOA\n"
PIN = "4417"
ADDRESS = {"street": "100 Main St", "city": "Little Rock", "state": "AR", "postal_code": "72201"}


def fields(**overrides):
    return {
        "numbers": ["+12125550101", "+12125550102"],
        "current_carrier": "Spectrum",
        "account_holder": "Acme Plumbing LLC",
        "business_name": "Acme Plumbing",
        "account_number": "5550001000",
        "pin": PIN,
        "service_address": ADDRESS,
        "desired_date": None,
        **overrides,
    }


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing")


@pytest.fixture
def actor(admin):
    return actor_for_user(admin)


def new_port(actor, tenant, now=MONDAY, **overrides):
    port = porting.port_request_create(
        actor=actor, tenant=tenant, fields=fields(**overrides), now=now
    )
    porting.port_document_upload(
        actor=actor, port=port, kind="loa", filename="loa.pdf", content=PDF, now=now
    )
    return port


def status_of(port):
    return PortRequest.objects.get(pk=port.pk).status


def test_a_port_goes_submitted_foc_completed_on_the_carriers_schedule(
    actor, tenant, partner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        port = new_port(actor, tenant)
        porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    assert status_of(port) == "SUBMITTED"
    balance = ledger.wallet_balance(partner)
    with django_capture_on_commit_callbacks(execute=True):
        requests_sync(now=MONDAY + timedelta(days=1))
        assert status_of(port) == "SUBMITTED"
        requests_sync(now=MONDAY + timedelta(days=2))  # two business days: Wednesday
    port.refresh_from_db()
    # Fewer than five business days were asked for (none): FOC five business days out.
    assert (port.status, port.foc_date) == ("FOC_RECEIVED", date(2026, 12, 14))
    with django_capture_on_commit_callbacks(execute=True):
        requests_sync(now=datetime(2026, 12, 14, 13, 59, tzinfo=UTC))
        assert status_of(port) == "FOC_RECEIVED"
        requests_sync(now=datetime(2026, 12, 14, 14, 0, tzinfo=UTC))
    port.refresh_from_db()
    assert port.status == "COMPLETED"
    numbers = PhoneNumber.objects.filter(e164__in=port.numbers)
    assert {(n.status, n.tenant_id, n.partner_id) for n in numbers} == {
        ("ACTIVE", tenant.id, partner.id)
    }
    # Their monthly charge starts now: two local numbers at the Starter price, no setup fee.
    assert (balance - ledger.wallet_balance(partner)).to_json() == "3.50"
    assert [entry["status"] for entry in port.history] == [
        "PENDING",
        "SUBMITTED",
        "FOC_RECEIVED",
        "COMPLETED",
    ]
    subjects = [message.subject for message in mail.outbox]
    assert len([s for s in subjects if port.id in s]) == 5  # created, LOA, submit, FOC, done
    assert any("FOC date 2026-12-14" in s for s in subjects)
    assert any("completed" in s for s in subjects)
    types = list(Event.objects.filter(partner=partner).values_list("type", flat=True))
    for name in ("created", "submitted", "foc_received", "completed"):
        assert f"port_request.{name}" in types
    for event in Event.objects.filter(partner=partner):
        EVENT_TYPES[event.type].data_schema.model_validate(event.payload)


def test_a_desired_date_far_enough_out_becomes_the_foc_date(actor, tenant):
    port = new_port(actor, tenant, desired_date="2026-12-26")  # a Saturday
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    requests_sync(now=MONDAY + timedelta(days=3))
    port.refresh_from_db()
    assert port.foc_date == date(2026, 12, 28)  # moved to the next business day


def test_rejected_then_fixed_and_resubmitted_completes(
    actor, tenant, django_capture_on_commit_callbacks
):
    # The losing carrier's bill says "Acme Plumbing LLC": capitalization matters.
    port = new_port(actor, tenant, account_holder="ACME PLUMBING LLC")
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    with django_capture_on_commit_callbacks(execute=True):
        requests_sync(now=MONDAY + timedelta(days=1))
    port.refresh_from_db()
    assert (port.status, port.rejection_reason) == ("REJECTED", "Account holder name doesn't match")
    assert any("rejected" in m.subject for m in mail.outbox)
    later = MONDAY + timedelta(days=1, hours=1)
    porting.port_request_update(
        actor=actor, port=port, fields={"account_holder": "Acme Plumbing LLC"}, now=later
    )
    porting.port_request_resubmit(actor=actor, port=port, now=later)
    port.refresh_from_db()
    assert (port.status, port.rejection_reason) == ("SUBMITTED", "")
    requests_sync(now=later + timedelta(days=30))
    assert status_of(port) == "COMPLETED"
    assert PhoneNumber.objects.filter(e164__in=port.numbers, tenant=tenant).count() == 2


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"account_number": "9990000001"}, "Account in pending order with current carrier"),
        (
            {"account_number": "9990000002"},
            "Account is part of a multi-line account that hasn't been split",
        ),
        ({"account_number": "9990000003"}, "LOA not signed by authorized party"),
        (
            {"service_address": {**ADDRESS, "street": "200 Main St"}},
            "Service address doesn't match",
        ),
        (
            {"current_carrier": "AT&T", "account_number": "123", "pin": ""},
            "Account requires PIN we don't have",
        ),
    ],
)
def test_the_simulated_carrier_rejects_for_the_guides_reasons(actor, tenant, overrides, reason):
    port = new_port(actor, tenant, **overrides)
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    requests_sync(now=MONDAY + timedelta(days=1))
    port.refresh_from_db()
    assert (port.status, port.rejection_reason) == ("REJECTED", reason)


def test_cancel_before_completion_and_illegal_transitions(
    actor, tenant, django_capture_on_commit_callbacks
):
    port = porting.port_request_create(actor=actor, tenant=tenant, fields=fields(), now=MONDAY)
    with pytest.raises(porting.Conflict) as refused:
        porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    assert refused.value.type == "loa_required"
    porting.port_document_upload(actor=actor, port=port, kind="loa", filename="l.pdf", content=PDF)
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    for service in (porting.port_request_submit, porting.port_request_resubmit):
        with pytest.raises(porting.Conflict) as refused:
            service(actor=actor, port=port, now=MONDAY)
        assert refused.value.type == "invalid_state_transition"
    with pytest.raises(porting.Conflict):
        porting.port_request_update(actor=actor, port=port, fields={"account_holder": "X"})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        porting.port_request_cancel(actor=actor, port=port, now=MONDAY + timedelta(days=3))
    assert status_of(port) == "CANCELLED"
    assert [m.subject for m in mail.outbox] == [f"Port request {port.id} cancelled"]
    requests_sync(now=MONDAY + timedelta(days=30))  # the carrier's answer is ignored
    assert status_of(port) == "CANCELLED"
    assert not PhoneNumber.objects.filter(e164__in=port.numbers).exists()
    with pytest.raises(porting.Conflict) as refused:
        porting.port_request_cancel(actor=actor, port=port)
    assert refused.value.type == "invalid_state_transition"
    # The numbers are free again for a new request.
    assert porting.port_request_create(actor=actor, tenant=tenant, fields=fields(), now=MONDAY)


def test_a_completed_port_cannot_be_cancelled(actor, tenant):
    port = new_port(actor, tenant)
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    requests_sync(now=MONDAY + timedelta(days=30))
    with pytest.raises(porting.Conflict) as refused:
        porting.port_request_cancel(actor=actor, port=port)
    assert refused.value.type == "invalid_state_transition"


def test_numbers_owned_or_in_another_open_port_are_refused(actor, tenant):
    new_port(actor, tenant)
    with pytest.raises(porting.Conflict) as refused:
        porting.port_request_create(
            actor=actor, tenant=tenant, fields=fields(numbers=["+12125550102"]), now=MONDAY
        )
    assert refused.value.type == "number_in_port"


def test_a_full_tenant_keeps_the_rest_unassigned_at_completion(actor, tenant, partner):
    port = new_port(actor, tenant)
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    type(tenant).objects.filter(pk=tenant.pk).update(max_dids=1)
    requests_sync(now=MONDAY + timedelta(days=30))
    port.refresh_from_db()
    assert port.status == "COMPLETED"
    numbers = PhoneNumber.objects.filter(e164__in=port.numbers).order_by("e164")
    assert [(n.tenant_id, n.status) for n in numbers] == [(tenant.id, "ACTIVE"), (None, "ACTIVE")]
    assert "+12125550102" in port.notes and "Max DIDs" in port.notes


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"numbers": ["+44207946000"]}, "numbers.0"),
        ({"numbers": []}, "numbers"),
        ({"account_holder": " "}, "account_holder"),
        ({"service_address": {**ADDRESS, "postal_code": "10001"}}, "service_address.postal_code"),
        ({"desired_date": "2026-12-01"}, "desired_date"),
        ({"pin": "12 34"}, "pin"),
    ],
)
def test_bad_details_are_refused(actor, tenant, overrides, field):
    with pytest.raises(porting.ValidationFailed) as refused:
        porting.port_request_create(
            actor=actor, tenant=tenant, fields=fields(**overrides), now=MONDAY
        )
    assert refused.value.field == field
    assert not PortRequest.objects.exists()


# --- the API ------------------------------------------------------------------------------


def create(api, tenant, **overrides):
    body = {**fields(**overrides), "tenant_id": tenant.id}
    body = {k: v for k, v in body.items() if v is not None}
    return api.post("/v1/port-requests", json=body)


def upload(
    client, key, port_id, content, name="loa.pdf", kind="loa", content_type="application/pdf"
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/v1/port-requests/{port_id}/documents",
        {"kind": kind, "file": SimpleUploadedFile(name, content, content_type=content_type)},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def key(partner):
    return make_api_key(partner)


def test_api_flow_never_shows_the_pin(client, make_api, key, tenant, caplog):
    caplog.set_level(logging.DEBUG)
    api = make_api(key)
    created = create(api, tenant)
    assert created.status_code == 201, created.json()
    port = created.json()
    assert port["status"] == "PENDING" and port["pin_set"] is True
    assert upload(client, key, port["id"], b"GIF89a not a pdf", name="x.pdf").status_code == 422
    big = b"%PDF-" + b"0" * (10 * 1024 * 1024)
    answer = upload(client, key, port["id"], big)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "file"
    png = b"\x89PNG\r\n\x1a\n" + b"bill"
    bill = upload(
        client, key, port["id"], png, name="bill.png", kind="bill", content_type="application/pdf"
    )
    assert bill.status_code == 201 and bill.json()["content_type"] == "image/png"
    document = client.get(
        f"/v1/port-requests/{port['id']}/documents/{bill.json()['id']}",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert document.content == png
    assert (
        api.post(f"/v1/port-requests/{port['id']}/submit").json()["error"]["type"] == "loa_required"
    )
    assert upload(client, key, port["id"], PDF).status_code == 201
    loa = api.get(f"/v1/port-requests/{port['id']}/loa.pdf")
    assert loa["Content-Type"] == "application/pdf" and loa.content.startswith(b"%PDF")
    submitted = api.post(f"/v1/port-requests/{port['id']}/submit")
    assert submitted.json()["status"] == "SUBMITTED"
    patched = api.patch(f"/v1/port-requests/{port['id']}", json={"pin": "9999"})
    assert (
        patched.status_code == 409 and patched.json()["error"]["type"] == "invalid_state_transition"
    )
    listed = api.get("/v1/port-requests", params={"status": "SUBMITTED", "tenant_id": tenant.id})
    assert [row["id"] for row in listed.json()["data"]] == [port["id"]]
    everything = [
        created.content,
        submitted.content,
        listed.content,
        api.get(f"/v1/port-requests/{port['id']}").content,
        json.dumps(list(AuditEntry.objects.values("before", "after"))).encode(),
        json.dumps(list(Event.objects.values_list("payload", flat=True))).encode(),
        json.dumps(list(ApiRequestLog.objects.values_list("path", flat=True))).encode(),
        caplog.text.encode(),
        *(message.body.encode() for message in mail.outbox),
    ]
    assert not any(PIN.encode() in blob for blob in everything)
    stored = PortRequest.objects.get(pk=port["id"])
    assert PIN not in stored.pin_encrypted and porting.port_pin(stored) == PIN


def test_foreign_port_requests_answer_404_everywhere(client, make_api, key, tenant):
    api = make_api(key)
    port = create(api, tenant).json()
    document = upload(client, key, port["id"], PDF).json()
    other_partner, _ = make_partner()
    other_key = make_api_key(other_partner)
    other = make_api(other_key)
    base = f"/v1/port-requests/{port['id']}"
    answers = [
        other.get(base),
        other.patch(base, json={"account_holder": "X"}),
        other.get(f"{base}/loa.pdf"),
        other.get(f"{base}/documents/{document['id']}"),
        other.post(f"{base}/submit"),
        other.post(f"{base}/resubmit"),
        other.post(f"{base}/cancel"),
        upload(client, other_key, port["id"], PDF),
        create(other, tenant),
        other.post(f"/v1/tenants/{tenant.id}/port-out-pin", json={}),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert other.get("/v1/port-requests").json()["data"] == []


def test_read_only_scope_cannot_write(make_api, partner, tenant):
    reader = make_api(make_api_key(partner, scopes="phone_numbers:read"))
    assert create(reader, tenant).status_code == 403
    assert reader.get("/v1/port-requests").status_code == 200


# --- porting out ------------------------------------------------------------------------


@pytest.fixture
def live_number(actor, tenant):
    port = new_port(actor, tenant, numbers=["+12125550199"])
    porting.port_request_submit(actor=actor, port=port, now=MONDAY)
    requests_sync(now=MONDAY + timedelta(days=30))
    return PhoneNumber.objects.get(e164="+12125550199")


def test_port_out_needs_the_pin_and_blocks_release_until_done(make_api, key, tenant, live_number):
    api = make_api(key)
    shown = api.post(f"/v1/tenants/{tenant.id}/port-out-pin", json={})
    assert shown.status_code == 201
    pin = shown.json()["pin"]
    tenant.refresh_from_db()
    assert pin not in tenant.port_out_pin_hash
    path = f"/v1/phone-numbers/{live_number.id}/port-out"
    wrong = api.post(
        path, json={"gaining_carrier": "Verizon", "pin": "00000000" if pin != "00000000" else "1"}
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "pin"
    started = api.post(path, json={"gaining_carrier": "Verizon", "pin": pin})
    assert started.status_code == 200 and started.json()["port_out_pending"] is True
    assert pin not in started.content.decode()
    release = api.post(f"/v1/phone-numbers/{live_number.id}/release")
    assert release.status_code == 409 and release.json()["error"]["type"] == "port_out_pending"
    done = api.post(f"{path}/complete")
    assert done.json()["status"] == "DISCONNECTED"
    assert api.get(f"/v1/phone-numbers/{live_number.id}").status_code == 404


def test_a_released_number_cannot_be_ported_out(actor, tenant, live_number):
    porting_out.tenant_port_out_pin_set(actor=actor, tenant=tenant, pin="2468")
    services.number_release(actor=actor, number=live_number)
    with pytest.raises(porting.Conflict) as refused:
        porting_out.number_port_out_request(
            actor=actor, number=live_number, gaining_carrier="Verizon", pin="2468"
        )
    assert refused.value.type == "number_released"


def test_without_a_pin_the_account_number_is_enough_and_cancel_clears(actor, tenant, live_number):
    number = porting_out.number_port_out_request(
        actor=actor, number=live_number, gaining_carrier="Vonage", account_number=tenant.id
    )
    assert number.port_out_pending
    number = porting_out.number_port_out_cancel(actor=actor, number=number)
    assert not number.port_out_pending
    services.number_release(actor=actor, number=number)


def test_a_number_being_ported_out_stays_with_its_tenant(actor, admin, tenant, live_number):
    number = porting_out.number_port_out_request(
        actor=actor, number=live_number, gaining_carrier="Vonage", account_number=tenant.id
    )
    elsewhere = make_tenant(admin, name="Elsewhere Inc")
    for target in (elsewhere, None):
        with pytest.raises(porting.Conflict) as refused:
            services.number_assign(actor=actor, number=number, tenant=target)
        assert refused.value.type == "port_out_pending"
    number.refresh_from_db()
    assert number.tenant_id == tenant.id and number.port_out_pending
    number = porting_out.number_port_out_cancel(actor=actor, number=number)
    assert services.number_assign(actor=actor, number=number, tenant=elsewhere).tenant == elsewhere


def test_a_tenant_scoped_key_sees_only_its_tenants_ports(make_api, key, partner, admin, tenant):
    port = create(make_api(key), tenant).json()
    other_tenant = make_tenant(admin, name="Other Co")
    scoped = make_api(make_api_key(partner, tenant_ids=[other_tenant.id]))
    assert scoped.get(f"/v1/port-requests/{port['id']}").status_code == 404
    assert scoped.post(f"/v1/port-requests/{port['id']}/cancel").status_code == 404
    assert scoped.get("/v1/port-requests").json()["data"] == []
    assert create(scoped, tenant, numbers=["+12125550150"]).status_code == 404


def test_a_number_our_carrier_still_sells_is_bought_not_ported(actor, tenant, inventory):
    free = inventory_number()
    with pytest.raises(porting.Conflict) as refused:
        porting.port_request_create(
            actor=actor, tenant=tenant, fields=fields(numbers=[free]), now=MONDAY
        )
    assert refused.value.type == "number_not_portable"


def inventory_number():
    from trunkline.phone_numbers.models import SupplyNumber

    return SupplyNumber.objects.order_by("e164").values_list("e164", flat=True).first()
