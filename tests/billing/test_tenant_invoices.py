"""Tenant invoices (partner guide 004_*.txt, "Tenant invoices", "Refunds and disputes",
"Auto-suspend on non-payment"; Appendix "Pricing tiers" for the figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.billing.subscription_helpers import pdf_text
from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant, make_user
from trunkline.billing import ledger
from trunkline.billing.cdrs import cdrs_ingest
from trunkline.billing.models import BillingProfile, Invoice, Posting
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.core.actors import Actor
from trunkline.core.models import AuditEntry, Event, OutgoingEmail
from trunkline.core.money import Money
from trunkline.phone_numbers import services as numbers
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.supply import supply_seed
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

# Chicago is UTC-6 in winter: local midnight is 06:00 UTC; the job runs at :35.
MAR_1 = datetime(2026, 3, 1, 6, 35, tzinfo=UTC)


def chicago(month, day, hour=0):
    return datetime(2026, month, day, hour + 6, tzinfo=UTC)


@pytest.fixture
def setup(admin, carrier):
    supply_seed(states=["AR"], per_exchange=2, toll_free=50)
    ledger.wallet_credit(
        partner=admin.partner,
        amount=Money.parse("500"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=admin.partner),
        idempotency_key=f"fund:{admin.partner.id}",
        memo="test funds",
    )
    return admin


def tenant_on(admin, profile_name: str, since: datetime, **fields) -> Tenant:
    profile = BillingProfile.objects.get(partner=admin.partner, name=profile_name)
    tenant = make_tenant(admin, billing_profile_id=profile.id, **fields)
    Tenant.objects.filter(pk=tenant.pk).update(
        created_at=since, billing_profile_since=since, billed_through=None, next_cycle_at=None
    )
    return Tenant.objects.get(pk=tenant.pk)


def buy(admin, kind="local", count=1, at=None):
    actor = actor_for_user(admin)
    offers = carrier().search(SearchCriteria(kind=kind, state="AR" if kind == "local" else ""))
    bought = numbers.numbers_purchase(
        actor=actor, numbers=[offer.e164 for offer in offers[:count]], now=at
    )
    requests_sync(now=(at or datetime.now(UTC)) + timedelta(minutes=5))
    return bought


def assign(admin, number, tenant, at):
    return numbers.number_assign(actor=actor_for_user(admin), number=number, tenant=tenant, now=at)


def calls(admin, tenant, records):
    result = cdrs_ingest(actor=Actor.system(partner=admin.partner), records=records)
    assert not result.rejected, result.rejected


def call(tenant, n, *, direction="outbound", to="+15015550123", seconds=600, at=None):
    started = at or chicago(2, 10, 9)
    return {
        "call_id": f"{tenant.id}-{n}",
        "tenant_id": tenant.id,
        "direction": direction,
        "from": "+15015550100" if direction == "outbound" else "+12125550100",
        "to": to,
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=seconds)).isoformat(),
        "billsec": seconds,
    }


def lines(invoice):
    return [
        (line.kind, format(line.quantity.normalize(), "f"), Money(line.amount_micros).to_json())
        for line in invoice.lines.all()
    ]


def test_a_pay_as_you_go_month(setup):
    admin = setup
    tenant = tenant_on(admin, "Pay-As-You-Go", chicago(1, 1))
    local = buy(admin, count=2, at=chicago(1, 20))
    (toll_free,) = buy(admin, kind="toll_free", at=chicago(1, 20))
    for number in local:
        assign(admin, number, tenant, chicago(2, 1))
    assign(admin, toll_free, tenant, chicago(2, 15, 9))  # 14 of February's 28 days
    calls(admin, tenant, [call(tenant, n) for n in range(10)])  # 100 local minutes
    calls(
        admin,
        tenant,
        [call(tenant, "tf", direction="inbound", to=toll_free.e164)],  # 10 toll-free minutes
    )
    calls(admin, tenant, [call(tenant, "march", at=chicago(3, 1, 1))])  # next cycle's

    assert tenant_cycles_run(now=MAR_1) == 1
    invoice = Invoice.objects.get(tenant=tenant)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 2, 1), date(2026, 3, 1))
    assert lines(invoice) == [
        ("dids", "2", "6.00"),
        ("toll_free_dids", "0.5", "2.50"),
        ("minutes", "110", "2.75"),
    ]
    assert (invoice.subtotal_micros, invoice.tax_micros, invoice.total_micros) == (
        11_250_000,
        0,
        11_250_000,
    )
    assert invoice.status == Invoice.Status.SENT and invoice.due_date == date(2026, 3, 8)
    assert invoice.display_number == "INV-000001"
    # Idempotent: another run (or the same hour again) writes nothing more.
    assert tenant_cycles_run(now=MAR_1 + timedelta(hours=1)) == 0
    assert Invoice.objects.filter(tenant=tenant).count() == 1


def test_a_flat_rate_cycle_from_its_anniversary_with_overage(setup):
    admin = setup
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 17))
    for number in buy(admin, count=3, at=chicago(1, 16)):
        assign(admin, number, tenant, chicago(1, 17))
    calls(admin, tenant, [call(tenant, n, at=chicago(2, 1, 9)) for n in range(60)])  # 600 min

    assert tenant_cycles_run(now=chicago(2, 17) - timedelta(minutes=1)) == 0
    assert tenant_cycles_run(now=chicago(2, 17) + timedelta(minutes=35)) == 1
    invoice = Invoice.objects.get(tenant=tenant)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 17), date(2026, 2, 17))
    # $99 base; 3 numbers with 2 included; 600 minutes with 500 included at $0.025.
    assert lines(invoice) == [
        ("base_fee", "1", "99.00"),
        ("dids", "1", "3.00"),
        ("minutes", "100", "2.50"),
    ]
    assert invoice.total_micros == 104_500_000
    assert invoice.billing_profile_name == "Flat Rate Starter"


def test_a_partial_first_cycle_is_prorated_by_days_active(setup, api):
    admin = setup
    profile = api.post(
        "/v1/billing-profiles",
        {"name": "Base 31", "pricing_model": "PAYG", "base_fee": "31.00"},
    ).json()
    tenant = make_tenant(admin, billing_profile_id=profile["id"])
    Tenant.objects.filter(pk=tenant.pk).update(
        created_at=chicago(1, 17, 15),
        billing_profile_since=chicago(1, 17, 15),
        billed_through=None,
        next_cycle_at=None,
    )
    tenant_cycles_run(now=chicago(2, 1, 1))
    invoice = Invoice.objects.get(tenant=tenant)
    # 17 Jan to 31 Jan is 15 of January's 31 days: $15.00.
    assert (invoice.period_start, invoice.period_end) == (date(2026, 1, 17), date(2026, 2, 1))
    assert lines(invoice) == [("base_fee", "0.4839", "15.00")]


def test_each_line_is_rounded_half_up_then_tax_on_the_subtotal(setup, api):
    admin = setup
    jurisdiction = api.post(
        "/v1/tax-jurisdictions",
        {"name": "Pulaski County", "code": "US-AR-Pulaski", "rate": "0.085"},
    ).json()
    tenant = tenant_on(admin, "Pay-As-You-Go", chicago(1, 1))
    api.put(f"/v1/tenants/{tenant.id}/billing", {"tax_jurisdiction_id": jurisdiction["id"]})
    # 1 minute 6 seconds at $0.025: 1.1 minutes = $0.0275, rounded half-up to $0.03.
    calls(admin, tenant, [call(tenant, 1, seconds=66)])
    tenant_cycles_run(now=MAR_1)
    invoice = Invoice.objects.get(tenant=tenant)
    assert lines(invoice) == [("minutes", "1.1", "0.03")]
    assert (invoice.tax_code, invoice.tax_micros, invoice.total_micros) == (
        "US-AR-Pulaski",
        0,  # 8.5 % of $0.03 is $0.00255: nothing at the cent
        30_000,
    )


def test_a_jurisdiction_applies_to_new_invoices_only(setup, api):
    admin = setup
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    made = api.post(
        "/v1/tax-jurisdictions",
        {"name": "Ontario HST", "code": "CA-ON", "rate": "0.13", "enabled": False},
    ).json()
    api.put(f"/v1/tenants/{tenant.id}/billing", {"tax_jurisdiction_id": made["id"]})
    tenant_cycles_run(now=chicago(2, 1, 1))
    january = Invoice.objects.get(tenant=tenant, period_start=date(2026, 1, 1))
    assert (january.tax_micros, january.total_micros, january.tax_code) == (0, 99_000_000, "")
    api.patch(f"/v1/tax-jurisdictions/{made['id']}", {"enabled": True})
    tenant_cycles_run(now=chicago(3, 1, 1))
    february = Invoice.objects.get(tenant=tenant, period_start=date(2026, 2, 1))
    assert (february.tax_micros, february.total_micros) == (12_870_000, 111_870_000)
    january.refresh_from_db()
    assert january.total_micros == 99_000_000
    api.patch(f"/v1/tax-jurisdictions/{made['id']}", {"rate": "0.2"})
    february.refresh_from_db()
    assert february.tax_micros == 12_870_000


def test_a_profile_change_bills_the_old_cycle_then_the_new(setup):
    admin = setup
    tenant = tenant_on(admin, "Pay-As-You-Go", chicago(1, 1))
    flat = BillingProfile.objects.get(partner=admin.partner, name="Flat Rate Starter")
    (number,) = buy(admin, at=chicago(1, 2))
    assign(admin, number, tenant, chicago(2, 1))
    from trunkline.billing.profiles import tenant_billing_profile_change

    tenant_billing_profile_change(
        actor=actor_for_user(admin), tenant=tenant, profile_id=flat.id, now=chicago(2, 14)
    )
    tenant_cycles_run(now=MAR_1)
    tenant_cycles_run(now=chicago(4, 1, 1))
    february, march = Invoice.objects.filter(tenant=tenant).order_by("period_start")
    assert february.billing_profile_name == "Pay-As-You-Go"
    assert lines(february) == [("dids", "1", "3.00")]
    assert march.billing_profile_name == "Flat Rate Starter"
    assert (march.period_start, march.period_end) == (date(2026, 3, 1), date(2026, 4, 1))
    assert lines(march) == [("base_fee", "1", "99.00")]  # the number is included


def test_a_released_number_is_billed_for_the_days_held(setup):
    admin = setup
    tenant = tenant_on(admin, "Pay-As-You-Go", chicago(1, 1))
    (number,) = buy(admin, at=chicago(1, 2))
    assign(admin, number, tenant, chicago(2, 1))
    numbers.number_release(actor=actor_for_user(admin), number=number, now=chicago(2, 7, 12))
    tenant_cycles_run(now=MAR_1)
    invoice = Invoice.objects.get(tenant=tenant)
    # Held 1 to 7 February: 7 of 28 days.
    assert lines(invoice) == [("dids", "0.25", "0.75")]


def test_numbers_are_sequential_per_partner(setup, partner_and_admin):
    admin = setup
    first = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    second = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    _, other_admin = make_partner()
    theirs = tenant_on(other_admin, "Flat Rate Starter", chicago(1, 1))
    tenant_cycles_run(now=chicago(2, 1, 1))
    tenant_cycles_run(now=chicago(3, 1, 1))
    ours = Invoice.objects.filter(tenant__in=[first, second]).order_by("number")
    assert [invoice.number for invoice in ours] == [1, 2, 3, 4]
    assert list(Invoice.objects.filter(tenant=theirs).values_list("number", flat=True)) == [2, 1]


def test_an_issued_invoice_is_announced_and_emailed_under_the_partners_brand(setup):
    admin = setup
    partner = admin.partner
    partner.brand_name = "Acme Voice"
    partner.save()
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 1), billing_email="ap@tenant.example")
    tenant_cycles_run(now=chicago(2, 1, 1))
    invoice = Invoice.objects.get(tenant=tenant)
    event = Event.objects.get(type="invoice.created")
    assert event.payload["invoice"]["id"] == invoice.id
    assert event.payload["invoice"]["total"] == "99.00"
    (email,) = [e for e in OutgoingEmail.objects.all() if e.recipients == ["ap@tenant.example"]]
    assert "Acme Voice" in email.subject and invoice.display_number in email.subject


# --- statuses -------------------------------------------------------------------------------


@pytest.fixture
def issued(setup):
    tenant = tenant_on(setup, "Flat Rate Starter", chicago(1, 1))
    tenant_cycles_run(now=chicago(2, 1, 1))
    return Invoice.objects.get(tenant=tenant)


def test_mark_as_paid_in_parts_then_in_full(api, issued):
    path = f"/v1/invoices/{issued.id}"
    part = api.post(f"{path}/payments", {"amount": "40.00", "note": "cheque 1001"})
    assert part.status_code == 200
    assert (part.json()["status"], part.json()["amount_due"]) == ("PARTIALLY_PAID", "59.00")
    too_much = api.post(f"{path}/payments", {"amount": "60.00"})
    assert too_much.status_code == 409 and too_much.json()["error"]["type"] == "overpayment"
    rest = api.post(f"{path}/payments")
    assert (rest.json()["status"], rest.json()["amount_due"]) == ("PAID", "0.00")
    assert [p["amount"] for p in rest.json()["payments"]] == ["40.00", "59.00"]
    assert Event.objects.filter(type="invoice.paid").count() == 1
    again = api.post(f"{path}/payments", {"amount": "1.00"})
    assert again.status_code == 409


def test_refunds_full_or_partial_up_to_what_was_paid(api, issued):
    path = f"/v1/invoices/{issued.id}"
    nothing_paid = api.post(f"{path}/refunds", {"amount": "1.00"})
    assert nothing_paid.status_code == 409
    api.post(f"{path}/payments")
    part = api.post(f"{path}/refunds", {"amount": "9.00", "note": "outage credit"})
    assert part.json()["amount_refunded"] == "9.00" and part.json()["status"] == "PAID"
    too_much = api.post(f"{path}/refunds", {"amount": "90.01"})
    assert too_much.status_code == 409
    rest = api.post(f"{path}/refunds", {"destination": "external", "note": "cheque"})
    assert rest.json()["amount_refunded"] == "99.00"
    assert rest.json()["payments"][-1]["amount"] == "-90.00"
    # The $9 went back to the tenant's account credit; the cheque did not.
    billing = api.get(f"/v1/tenants/{issued.tenant_id}/billing").json()
    assert billing["credit"] == "9.00"
    bad = api.post(f"{path}/refunds", {"destination": "wallet"})
    assert bad.status_code == 422


def test_account_credit_comes_off_the_next_invoices(api, issued):
    api.post(f"/v1/invoices/{issued.id}/payments")
    api.post(f"/v1/invoices/{issued.id}/refunds", {"amount": "120.00"})  # more than paid
    api.post(f"/v1/invoices/{issued.id}/refunds")  # all $99 back as credit
    tenant_cycles_run(now=chicago(3, 1, 1))
    february = Invoice.objects.get(tenant=issued.tenant, period_start=date(2026, 2, 1))
    assert (february.status, february.paid_micros) == (Invoice.Status.PAID, 99_000_000)
    assert [p.method for p in february.payments.all()] == ["credit"]
    tenant_cycles_run(now=chicago(4, 1, 1))
    march = Invoice.objects.get(tenant=issued.tenant, period_start=date(2026, 3, 1))
    assert march.status == Invoice.Status.SENT and march.paid_micros == 0
    issued.tenant.refresh_from_db()
    assert issued.tenant.credit_micros == 0


def test_only_a_draft_can_be_voided_or_sent(api, issued, admin):
    sent_void = api.post(f"/v1/invoices/{issued.id}/void")
    assert sent_void.status_code == 409
    assert sent_void.json()["error"]["type"] == "invalid_state_transition"
    assert api.post(f"/v1/invoices/{issued.id}/send").status_code == 409
    draft = api.post(
        "/v1/invoices",
        {
            "tenant_id": issued.tenant_id,
            "lines": [{"description": "Desk phone", "quantity": 2, "unit_price": "89.50"}],
            "memo": "Hardware",
        },
    )
    assert draft.status_code == 201, draft.json()
    body = draft.json()
    assert (body["status"], body["total"], body["kind"]) == ("DRAFT", "179.00", "off_cycle")
    assert body["amount_due"] == "0.00"
    assert api.post(f"/v1/invoices/{body['id']}/payments").status_code == 409
    voided = api.post(f"/v1/invoices/{body['id']}/void")
    assert voided.json()["status"] == "CANCELLED"
    assert api.post(f"/v1/invoices/{body['id']}/send").status_code == 409


def test_an_off_cycle_invoice_is_sent_when_asked(api, issued):
    made = api.post(
        "/v1/invoices",
        {
            "tenant_id": issued.tenant_id,
            "lines": [{"description": "Installation", "unit_price": "150"}],
        },
    ).json()
    before = OutgoingEmail.objects.count()
    sent = api.post(f"/v1/invoices/{made['id']}/send")
    assert sent.json()["status"] == "SENT" and sent.json()["due_date"]
    assert OutgoingEmail.objects.count() == before + 1
    assert sent.json()["number"] == "INV-000002"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"lines": []}, "lines"),
        ({"lines": [{"description": "", "unit_price": "1"}]}, "lines[0].description"),
        ({"lines": [{"description": "X", "unit_price": "-1"}]}, "lines[0].unit_price"),
        ({"lines": [{"description": "X", "unit_price": "0.001"}]}, "lines[0].unit_price"),
        ({"lines": [{"description": "X", "unit_price": "1", "quantity": 0}]}, "lines[0].quantity"),
        ({"lines": [{"description": "X", "unit_price": "1e12"}]}, "lines[0].unit_price"),
        ({"lines": [{"description": "X", "unit_price": "1", "tax": "0"}]}, None),
        ({"lines": "one"}, None),
    ],
)
def test_bad_off_cycle_invoices_are_refused(api, issued, body, field):
    before = Invoice.objects.count()
    response = api.post("/v1/invoices", {"tenant_id": issued.tenant_id, **body})
    assert response.status_code in (400, 422), response.json()
    if field:
        assert response.json()["error"]["field"] == field
    assert Invoice.objects.count() == before


def test_overdue_a_week_after_the_due_date(issued):
    assert issued.due_date == date(2026, 2, 8)
    tenant_cycles_run(now=chicago(2, 14, 12))
    issued.refresh_from_db()
    assert issued.status == Invoice.Status.SENT
    tenant_cycles_run(now=chicago(2, 15, 1))
    issued.refresh_from_db()
    assert issued.status == Invoice.Status.OVERDUE and issued.overdue_at is not None


def test_a_reminder_emails_the_tenant_again(api, issued):
    before = OutgoingEmail.objects.count()
    reminded = api.post(f"/v1/invoices/{issued.id}/remind")
    assert reminded.status_code == 200 and reminded.json()["last_reminder_at"]
    latest = OutgoingEmail.objects.order_by("-created_at").first()
    assert OutgoingEmail.objects.count() == before + 1
    assert latest.subject.startswith("Reminder: invoice " + issued.display_number)
    api.post(f"/v1/invoices/{issued.id}/payments")
    assert api.post(f"/v1/invoices/{issued.id}/remind").status_code == 409


def test_stats_filters_and_the_pdf(api, issued):
    stats = api.get("/v1/invoices/stats").json()
    assert stats == {"total": 1, "paid": 0, "unpaid": 1, "outstanding": "99.00"}
    filtered = api.get("/v1/invoices/stats", {"status": "PAID"}).json()
    assert filtered == {"total": 0, "paid": 0, "unpaid": 0, "outstanding": "0.00"}
    assert api.get("/v1/invoices/stats", {"search": issued.tenant.sip_prefix}).json() == stats
    assert api.get("/v1/invoices/stats", {"status": "LOST"}).status_code == 422
    tenant = issued.tenant
    for params, count in [
        ({"status": "SENT"}, 1),
        ({"status": "PAID"}, 0),
        ({"search": "INV-000001"}, 1),
        ({"search": tenant.sip_prefix}, 1),
        ({"search": "nobody"}, 0),
        ({"tenant_id": tenant.id}, 1),
        ({"issued_from": "2999-01-01"}, 0),
    ]:
        listed = api.get("/v1/invoices", params).json()["data"]
        assert len(listed) == count, params
    detail = api.get(f"/v1/invoices/{issued.id}").json()
    assert detail["lines"][0] == {
        "kind": "base_fee",
        "description": "Monthly base fee",
        "quantity": "1",
        "unit_price": "99.00",
        "amount": "99.00",
    }
    assert (detail["subtotal"], detail["tax"], detail["total"]) == ("99.00", "0.00", "99.00")
    pdf = api.get(detail["pdf_url"])
    assert pdf["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert "INV-000001" in text and tenant.name in text and "$99.00" in text

    exported = api.get("/v1/invoices.csv", {"status": "SENT"})
    assert exported["Content-Type"].startswith("text/csv")
    header, row = b"".join(exported.streaming_content).decode().splitlines()
    assert header.startswith("number,id,tenant_id,tenant_name,sip_prefix,kind,status,")
    assert row.startswith(f"INV-000001,{issued.id},{tenant.id},{tenant.name},{tenant.sip_prefix},")
    assert row.endswith(
        ",2026-01-01,2026-01-31,2026-02-01T07:00:00Z,2026-02-08,99.00,,0.00,99.00,0.00,0.00,99.00"
    )
    none = api.get("/v1/invoices.csv", {"status": "PAID"})
    assert b"".join(none.streaming_content).decode().count("\n") == 1  # the header only
    assert api.get("/v1/invoices.csv", {"status": "LOST"}).status_code == 422


def test_invoices_are_the_partners_own_and_a_limited_key_sees_its_tenants(
    client, issued, admin, partner
):
    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    assert outsider.get(f"/v1/invoices/{issued.id}").status_code == 404
    assert outsider.post(f"/v1/invoices/{issued.id}/payments").status_code == 404
    assert outsider.get(f"/v1/invoices/{issued.id}/pdf").status_code == 404
    assert outsider.get("/v1/invoices").json()["data"] == []
    assert (
        outsider.post(
            "/v1/invoices",
            {"tenant_id": issued.tenant_id, "lines": [{"description": "X", "unit_price": "1"}]},
        ).status_code
        == 404
    )
    elsewhere = make_tenant(admin)
    limited = ApiClient(client, make_api_key(partner, tenant_ids=[elsewhere.id]))
    assert limited.get(f"/v1/invoices/{issued.id}").status_code == 404
    assert limited.get("/v1/invoices").json()["data"] == []
    issued.refresh_from_db()
    assert issued.paid_micros == 0


def test_read_only_users_cannot_change_invoices(issued, partner):
    from trunkline.billing.tenant_invoices import invoice_record_payment
    from trunkline.core.errors import PermissionDenied

    viewer = make_user(partner)
    with pytest.raises(PermissionDenied):
        invoice_record_payment(actor=actor_for_user(viewer), invoice=issued)


# --- suspension for non-payment -----------------------------------------------------------


def test_unpaid_14_days_past_due_suspends_and_paying_lifts_it(api, issued, admin):
    tenant = issued.tenant
    tenant_cycles_run(now=chicago(2, 21, 12))  # 13 days past due
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.TRIAL
    tenant_cycles_run(now=chicago(2, 22, 1))  # 14 days
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspension_cause) == (Tenant.Status.SUSPENDED, "non_payment")
    event = Event.objects.get(type="tenant.suspended")
    assert event.payload["reason"] == "non_payment"
    emails = [e for e in OutgoingEmail.objects.all() if e.subject.startswith("Tenant suspended")]
    assert len(emails) == 1 and emails[0].recipients == [admin.email]
    assert tenant.billing_email not in emails[0].recipients
    # Again the next hour: suspended once.
    tenant_cycles_run(now=chicago(2, 22, 2))
    assert Event.objects.filter(type="tenant.suspended").count() == 1

    api.post(f"/v1/invoices/{issued.id}/payments", {"amount": "50.00"})
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED  # still overdue
    api.post(f"/v1/invoices/{issued.id}/payments")
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspension_cause) == (Tenant.Status.TRIAL, "")
    assert Event.objects.filter(type="tenant.unsuspended").count() == 1


def test_a_manual_suspension_is_not_lifted_by_paying(api, issued, admin):
    from trunkline.tenants.services import tenant_suspend

    tenant = tenant_suspend(
        actor=actor_for_user(admin), tenant=issued.tenant, reason="Fraud review"
    )
    tenant_cycles_run(now=chicago(2, 22, 1))
    tenant.refresh_from_db()
    assert (tenant.suspension_cause, tenant.suspension_reason) == ("manual", "Fraud review")
    api.post(f"/v1/invoices/{issued.id}/payments")
    tenant.refresh_from_db()
    assert tenant.status == Tenant.Status.SUSPENDED


def test_suspension_days_per_profile_and_for_the_partner(api, setup):
    admin = setup
    partner = admin.partner
    quick = api.post(
        "/v1/billing-profiles",
        {
            "name": "Strict",
            "pricing_model": "FLAT_RATE",
            "base_fee": "10",
            "suspension_after_days": 3,
        },
    ).json()
    strict = tenant_on(admin, "Strict", chicago(1, 1))
    partner.suspension_after_days = 30
    partner.save()
    lenient = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    assert quick["suspension_after_days"] == 3
    tenant_cycles_run(now=chicago(2, 1, 1))  # both invoiced, due 8 February
    tenant_cycles_run(now=chicago(2, 11, 1))
    strict.refresh_from_db()
    lenient.refresh_from_db()
    assert strict.status == Tenant.Status.SUSPENDED
    assert lenient.status == Tenant.Status.TRIAL
    tenant_cycles_run(now=chicago(3, 10, 1))  # 30 days past the 8 February due date
    lenient.refresh_from_db()
    assert lenient.status == Tenant.Status.SUSPENDED


def test_a_cancelled_tenant_is_billed_to_its_last_day_then_no_more(setup):
    from trunkline.tenants.services import tenant_delete

    admin = setup
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    (number,) = buy(admin, at=chicago(1, 1))
    assign(admin, number, tenant, chicago(1, 1, 1))
    tenant_delete(actor=actor_for_user(admin), tenant=tenant)
    # Cancelled on 16 January: its numbers went back to the inventory then.
    Tenant.objects.filter(pk=tenant.pk).update(cancelled_at=chicago(1, 16, 9))
    from trunkline.billing.models import ServicePeriod

    ServicePeriod.objects.filter(tenant=tenant).update(ended_at=chicago(1, 16, 9))
    tenant_cycles_run(now=chicago(2, 1, 1))
    tenant_cycles_run(now=chicago(3, 1, 1))
    (invoice,) = Invoice.objects.filter(tenant=tenant)
    # 1 to 15 January is 15 of 31 days: $47.90 of the $99 base fee; the number is included.
    assert lines(invoice) == [("base_fee", "0.4839", "47.90")]
    tenant.refresh_from_db()
    assert tenant.next_cycle_at is None


# --- one-time charges on the next invoice -------------------------------------------------------


def charge(admin, tenant, description, price, quantity=1, at=None):
    from trunkline.billing.tenant_charges import tenant_charge_add

    return tenant_charge_add(
        actor=actor_for_user(admin),
        tenant=tenant,
        charge={"description": description, "unit_price": price, "quantity": quantity},
        now=at,
    )


def test_a_one_time_charge_is_billed_on_the_cycle_it_was_added_in(setup, api):
    admin = setup
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    tenant_cycles_run(now=chicago(1, 1, 1))
    desk_phones = charge(admin, tenant, "Desk phone  Yealink T54W", "189.00", 2, chicago(1, 20))
    late = charge(admin, tenant, "Porting fee", "25.00", at=chicago(2, 1, 0) + timedelta(minutes=1))

    tenant_cycles_run(now=chicago(2, 1, 1))
    invoice = Invoice.objects.get(tenant=tenant, period_start=date(2026, 1, 1))
    assert lines(invoice) == [("base_fee", "1", "99.00"), ("one_time", "2", "378.00")]
    assert invoice.lines.get(kind="one_time").description == "Desk phone Yealink T54W"
    listed = api.get(f"/v1/tenants/{tenant.id}/charges").json()["data"]
    assert [(c["id"], c["status"], c["invoice_id"]) for c in listed] == [
        (desk_phones.id, "billed", invoice.id),
        (late.id, "pending", None),
    ]
    assert listed[0]["amount"] == "378.00"
    # Added after January ended: on February's invoice, once.
    tenant_cycles_run(now=chicago(3, 1, 1))
    february = Invoice.objects.get(tenant=tenant, period_start=date(2026, 2, 1))
    assert lines(february) == [("base_fee", "1", "99.00"), ("one_time", "1", "25.00")]
    pending = api.get(f"/v1/tenants/{tenant.id}/charges?status=pending").json()["data"]
    assert pending == []


def test_a_tenant_caught_up_over_cycles_has_each_charge_billed_once(setup):
    admin = setup
    tenant = tenant_on(admin, "Pay-As-You-Go", chicago(1, 1))
    tenant_cycles_run(now=chicago(1, 1, 1))
    charge(admin, tenant, "Setup fee", "50.00", at=chicago(1, 5))
    charge(admin, tenant, "Headset", "40.00", at=chicago(2, 5))
    tenant_cycles_run(now=chicago(3, 1, 1))  # January and February in one run
    by_month = {
        invoice.period_start.month: lines(invoice)
        for invoice in Invoice.objects.filter(tenant=tenant)
    }
    assert by_month == {1: [("one_time", "1", "50.00")], 2: [("one_time", "1", "40.00")]}


def test_a_pending_charge_can_be_removed_and_a_billed_one_cannot(setup, api):
    admin = setup
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    tenant_cycles_run(now=chicago(1, 1, 1))
    billed = charge(admin, tenant, "Setup fee", "50.00", at=chicago(1, 5))
    tenant_cycles_run(now=chicago(2, 1, 1))
    added = api.post(
        f"/v1/tenants/{tenant.id}/charges", {"description": "Headset", "unit_price": "40.00"}
    )
    assert added.status_code == 201, added.json()
    assert added.json()["status"] == "pending" and added.json()["quantity"] == 1

    refused = api.delete(f"/v1/tenants/{tenant.id}/charges/{billed.id}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "invalid_state_transition"
    assert api.delete(f"/v1/tenants/{tenant.id}/charges/{added.json()['id']}").status_code == 204
    assert api.delete(f"/v1/tenants/{tenant.id}/charges/{added.json()['id']}").status_code == 404
    assert [c["id"] for c in api.get(f"/v1/tenants/{tenant.id}/charges").json()["data"]] == [
        billed.id
    ]
    assert AuditEntry.objects.filter(action="tenant_charge.removed").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "Setup"}, None),
        ({"description": "Setup", "unit_price": "0"}, "charge.unit_price"),
        ({"description": "Setup", "unit_price": "1.005"}, "charge.unit_price"),
        ({"description": "Setup", "unit_price": "10", "quantity": 0}, "charge.quantity"),
        ({"description": "   ", "unit_price": "10"}, "charge.description"),
        ({"description": "Setup", "unit_price": "10", "colour": "red"}, None),
        ({"description": "Setup", "unit_price": 10.5}, None),
    ],
)
def test_bad_charges_are_refused_and_change_nothing(setup, api, body, field):
    tenant = tenant_on(setup, "Flat Rate Starter", chicago(1, 1))
    response = api.post(f"/v1/tenants/{tenant.id}/charges", body)
    assert response.status_code == 422, response.json()
    if field:
        assert response.json()["error"]["field"] == field
    assert api.get(f"/v1/tenants/{tenant.id}/charges").json()["data"] == []


def test_charges_are_the_partners_own_and_not_for_cancelled_tenants(setup, api):
    _, other_admin = make_partner()
    theirs = tenant_on(other_admin, "Flat Rate Starter", chicago(1, 1))
    body = {"description": "Setup", "unit_price": "10"}
    assert api.post(f"/v1/tenants/{theirs.id}/charges", body).status_code == 404
    assert api.get(f"/v1/tenants/{theirs.id}/charges").status_code == 404
    ours = tenant_on(setup, "Flat Rate Starter", chicago(1, 1))
    Tenant.objects.filter(pk=ours.pk).update(
        status=Tenant.Status.CANCELLED, cancelled_at=chicago(1, 10)
    )
    response = api.post(f"/v1/tenants/{ours.id}/charges", body)
    assert response.status_code == 409
    assert api.get(f"/v1/tenants/{ours.id}/charges").json()["data"] == []


# --- extensions on the invoice ------------------------------------------------------------------


def extension(admin, tenant, number, at):
    from trunkline.pbx.extensions import extension_create

    return extension_create(
        actor=actor_for_user(admin),
        tenant=tenant,
        fields={"number": number, "name": f"User {number}"},
        now=at,
    )


def test_extensions_are_billed_by_days_held(setup):
    admin = setup
    tenant = tenant_on(admin, "Pay-As-You-Go", chicago(1, 1))
    tenant_cycles_run(now=chicago(1, 1, 1))
    extension(admin, tenant, "101", chicago(1, 20))
    extension(admin, tenant, "102", chicago(1, 20))
    extension(admin, tenant, "103", chicago(2, 15, 9))  # 14 of February's 28 days
    gone = extension(admin, tenant, "104", chicago(1, 20))
    from trunkline.pbx.extensions import extension_delete

    extension_delete(actor=actor_for_user(admin), extension=gone, now=chicago(2, 8, 12))
    tenant_cycles_run(now=MAR_1)
    invoice = Invoice.objects.get(tenant=tenant, period_start=date(2026, 2, 1))
    # 28 + 28 + 14 + 8 (1–8 February, the 8th counting) days over 28: 2.7857 × $15.
    line = invoice.lines.get(kind="extensions")
    assert format(line.quantity.normalize(), "f") == "2.7857"
    assert Money(line.amount_micros).to_json() == "41.79"
    assert "4 extensions, prorated by days held" in line.description


def test_a_flat_rates_included_extensions_come_off_first(setup):
    admin = setup
    tenant = tenant_on(admin, "Flat Rate Starter", chicago(1, 1))
    tenant_cycles_run(now=chicago(1, 1, 1))
    for number in ("101", "102", "103", "104", "105"):
        extension(admin, tenant, number, chicago(1, 1, 1))
    tenant_cycles_run(now=chicago(2, 1, 1))
    january = Invoice.objects.get(tenant=tenant, period_start=date(2026, 1, 1))
    assert lines(january) == [("base_fee", "1", "99.00")]  # five included
    extension(admin, tenant, "106", chicago(2, 1, 1))
    tenant_cycles_run(now=chicago(3, 1, 1))
    february = Invoice.objects.get(tenant=tenant, period_start=date(2026, 2, 1))
    assert lines(february) == [("base_fee", "1", "99.00"), ("extensions", "1", "15.00")]
    assert "5 included" in february.lines.get(kind="extensions").description


def test_a_tenant_holds_at_most_100_pending_charges(setup, api):
    from django.utils import timezone

    from trunkline.billing.models import TenantCharge

    tenant = tenant_on(setup, "Flat Rate Starter", chicago(1, 1))
    now = timezone.now()
    TenantCharge.objects.bulk_create(
        [
            TenantCharge(
                partner=setup.partner,
                tenant=tenant,
                description=f"Item {n}",
                unit_price_micros=1_000_000,
                created_at=now,
            )
            for n in range(100)
        ]
    )
    body = {"description": "One more", "unit_price": "1.00"}
    refused = api.post(f"/v1/tenants/{tenant.id}/charges", body)
    assert refused.status_code == 409 and "at most 100" in refused.json()["error"]["message"]
    assert TenantCharge.objects.filter(tenant=tenant).count() == 100
