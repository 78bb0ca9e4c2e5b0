"""Settings → Billing → Tenant Invoices (partner guide 004_*.txt, "Tenant invoices",
"Refunds and disputes" and the Reports chapter's "Tenant Invoices")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.factories import actor_for_user, make_tenant
from tests.portal.conftest import htmx_headers, sign_in
from trunkline.billing import tenant_invoices as invoices
from trunkline.billing.models import BillingProfile, Invoice, InvoicePayment
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.core.models import AuditEntry, OutgoingEmail
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

URL = "/settings/billing/invoices"
JAN_17 = datetime(2026, 1, 17, 6, tzinfo=UTC)  # local midnight in Chicago
FEB_17 = datetime(2026, 2, 17, 6, 35, tzinfo=UTC)  # the job's run after the cycle ended
MODAL = htmx_headers("modal")


def off_cycle(admin, tenant, *, price="120.00", quantity=2, send=True, at=None):
    """A one-time invoice (quantity × price), sent unless asked not to."""
    actor = actor_for_user(admin)
    invoice = invoices.invoice_create_off_cycle(
        actor=actor,
        tenant=tenant,
        lines=[{"description": "Desk phone", "quantity": quantity, "unit_price": price}],
        now=at,
    )
    if send:
        invoice = invoices.invoice_send(actor=actor, invoice=invoice, now=at)
    return Invoice.objects.get(pk=invoice.pk)


def cycle_invoice(admin, **fields) -> Invoice:
    """A Flat Rate Starter month ($99), billed by the cycle job as it runs in production."""
    profile = BillingProfile.objects.get(partner=admin.partner, name="Flat Rate Starter")
    tenant = make_tenant(admin, billing_profile_id=profile.id, **fields)
    Tenant.objects.filter(pk=tenant.pk).update(
        created_at=JAN_17, billing_profile_since=JAN_17, billed_through=None, next_cycle_at=None
    )
    tenant_cycles_run(now=FEB_17)
    return Invoice.objects.get(tenant=tenant)


def listed(response) -> list[str]:
    return re.findall(r'data-invoice="(inv_\w+)"', response.content.decode())


def stat(content: str, name: str) -> str:
    block = content[content.index(f'data-stat="{name}"') :]
    return re.search(r'class="stat-value">([^<]*)<', block).group(1)


def snapshot(invoice: Invoice) -> tuple:
    invoice = Invoice.objects.get(pk=invoice.pk)
    return (
        invoice.status,
        invoice.paid_micros,
        invoice.refunded_micros,
        InvoicePayment.objects.filter(invoice=invoice).count(),
    )


@pytest.fixture
def sent(admin, tenant):
    return off_cycle(admin, tenant)  # $240.00, SENT


@pytest.fixture
def draft(admin, tenant):
    return off_cycle(admin, tenant, send=False)


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_the_cards_and_each_invoice_newest_first(admin_client, admin, tenant):
    cycle = cycle_invoice(admin, name="Bayou Dental", sip_prefix="bayou")
    paid = off_cycle(admin, tenant, price="10.00", quantity=1)
    invoices.invoice_record_payment(actor=actor_for_user(admin), invoice=paid)
    draft = off_cycle(admin, tenant, send=False)

    response = admin_client.get(URL)
    assert response.status_code == 200
    content = response.content.decode()
    assert listed(response) == [draft.id, paid.id, cycle.id]
    # Drafts are not issued invoices: the cards count the cycle invoice and the paid one.
    assert (stat(content, "total"), stat(content, "paid"), stat(content, "unpaid")) == (
        "2",
        "1",
        "1",
    )
    assert stat(content, "outstanding") == "$99.00"
    # The cards follow the filters.
    bayou = admin_client.get(URL, {"q": "bayou"}).content.decode()
    assert (stat(bayou, "total"), stat(bayou, "paid"), stat(bayou, "outstanding")) == (
        "1",
        "0",
        "$99.00",
    )
    row = content[content.index(f'data-invoice="{cycle.id}"') :]
    row = row[: row.index("</tr>")]
    assert cycle.display_number in row and "Bayou Dental" in row
    assert "Feb 17, 2026" in row and "Feb 24, 2026" in row  # issued, due a week later
    assert 'class="badge inv-SENT">Sent<' in row and "$99.00" in row
    assert f'href="{URL}/{cycle.id}/pdf"' in row and f"{URL}/{cycle.id}/pay" in row
    assert f'data-href="{URL}/{cycle.id}"' in row  # the row opens the invoice
    # The Billing tabs lead here, and so does Reports → Tenant Invoices.
    assert f'href="{URL}" aria-current="page">Tenant Invoices<' in content
    assert admin_client.get("/reports/invoices?status=PAID")["Location"] == f"{URL}?status=PAID"


def test_filters_by_status_search_tenant_and_issue_date(admin_client, admin, tenant):
    other = make_tenant(admin, name="Zephyr Roofing", sip_prefix="zephyr")
    early = off_cycle(admin, tenant, at=datetime(2026, 3, 2, 15, tzinfo=UTC))
    later = off_cycle(admin, other, at=datetime(2026, 3, 20, 15, tzinfo=UTC))
    paid = off_cycle(admin, other, at=datetime(2026, 4, 5, 15, tzinfo=UTC))
    invoices.invoice_record_payment(actor=actor_for_user(admin), invoice=paid)

    def found(**params):
        response = admin_client.get(URL, params)
        assert response.status_code == 200, response.content
        return set(listed(response))

    assert found(status="PAID") == {paid.id}
    assert found(status="SENT") == {early.id, later.id}
    assert found(q="zephyr") == {later.id, paid.id}  # SIP prefix
    assert found(q="Acme") == {early.id}  # tenant name
    assert found(q=later.display_number) == {later.id}
    assert found(q=str(early.number)) == {early.id}
    assert found(tenant=other.id) == {later.id, paid.id}
    assert found(date_from="2026-03-10", date_to="2026-03-31") == {later.id}
    assert found(date_from="2026-03-20") == {later.id, paid.id}
    assert found(tenant=other.id, status="SENT") == {later.id}
    assert found(status="OVERDUE") == set()
    empty = admin_client.get(URL, {"status": "OVERDUE"}).content.decode()
    assert "No invoices match" in empty


def test_a_bad_filter_is_shown_on_the_form(admin_client, sent, other_partner):
    backwards = admin_client.get(URL, {"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert backwards.status_code == 422
    assert "Issued_from is after issued_to" in backwards.content.decode()
    assert listed(backwards) == []
    # Another partner's tenant is not a choice.
    foreign = admin_client.get(URL, {"tenant": other_partner[2].id})
    assert foreign.status_code == 422 and listed(foreign) == []
    assert admin_client.get(URL, {"status": "LOST"}).status_code == 422


def test_pages_with_a_cursor(admin_client, admin, tenant, monkeypatch):
    from trunkline.portal.views import tenant_invoices as view

    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    made = [
        off_cycle(admin, tenant, at=datetime(2026, 5, day, 15, tzinfo=UTC)) for day in (1, 2, 3)
    ]
    first = admin_client.get(URL, {"status": "SENT"})
    assert listed(first) == [made[2].id, made[1].id]
    more = re.search(r'hx-get="([^"]+)" hx-target="#load-more"', first.content.decode()).group(1)
    assert "status=SENT" in more
    rest = admin_client.get(more.replace("&amp;", "&"), **htmx_headers("load-more"))
    assert listed(rest) == [made[0].id]
    assert b"<html" not in rest.content and b"load-more" not in rest.content
    assert admin_client.get(URL, {"cursor": "junk"}).status_code == 422


# --- one invoice ---------------------------------------------------------------------------


def test_the_invoice_page_shows_period_lines_totals_and_payments(admin_client, admin):
    invoice = cycle_invoice(admin, name="Bayou Dental")
    invoices.invoice_record_payment(
        actor=actor_for_user(admin), invoice=invoice, amount="40.00", note="Check #1042"
    )
    response = admin_client.get(f"{URL}/{invoice.id}")
    assert response.status_code == 200
    content = response.content.decode()
    assert f"Invoice {invoice.display_number}" in content and "Bayou Dental" in content
    assert "Jan 17, 2026 – Feb 16, 2026" in content  # the cycle, its last day shown
    line = content[content.index('data-line="1"') :]
    line = line[: line.index("</tr>")]
    assert "Monthly base fee" in line and ">1<" in line and line.count("$99.00") == 2
    for name, amount in [
        ("subtotal", "$99.00"),
        ("tax", "$0.00"),
        ("total", "$99.00"),
        ("paid", "$40.00"),
        ("refunded", "$0.00"),
        ("due", "$59.00"),
    ]:
        row = content[content.index(f'data-total="{name}"') :]
        assert amount in row[: row.index("</tr>")], name
    assert "Check #1042" in content and "+$40.00" in content
    assert 'class="badge inv-PARTIALLY_PAID">Partially Paid<' in content
    for action in ("pay", "remind", "refund"):
        assert f"{URL}/{invoice.id}/{action}" in content
    assert f"{URL}/{invoice.id}/void" not in content and f"{URL}/{invoice.id}/send" not in content


def test_the_pdf_is_served_by_the_portal(admin_client, sent):
    response = admin_client.get(f"{URL}/{sent.id}/pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{sent.display_number}.pdf"'
    assert response.content.startswith(b"%PDF")


def test_a_draft_offers_send_and_void_only(admin_client, draft):
    content = admin_client.get(f"{URL}/{draft.id}").content.decode()
    assert f"{URL}/{draft.id}/send" in content and f"{URL}/{draft.id}/void" in content
    for action in ("pay", "remind", "refund"):
        assert f"{URL}/{draft.id}/{action}" not in content


# --- actions -------------------------------------------------------------------------------


def test_send_issues_a_draft_and_a_second_send_is_refused_in_the_modal(admin_client, draft):
    modal = admin_client.get(f"{URL}/{draft.id}/send", **MODAL)
    assert modal.status_code == 200 and b'class="modal"' in modal.content
    response = admin_client.post(f"{URL}/{draft.id}/send", **MODAL)
    assert response.status_code == 200 and response["HX-Redirect"] == f"{URL}/{draft.id}"
    draft.refresh_from_db()
    assert draft.status == Invoice.Status.SENT and draft.due_date is not None
    (email,) = OutgoingEmail.objects.filter(subject__startswith=f"Invoice {draft.display_number}")
    assert email.recipients == [draft.tenant.billing_email]

    before = snapshot(draft)
    again = admin_client.post(f"{URL}/{draft.id}/send", **MODAL)
    assert again.status_code == 409
    assert b"A Sent invoice cannot be sent" in again.content and b'class="modal"' in again.content
    assert snapshot(draft) == before
    assert OutgoingEmail.objects.filter(subject__contains=draft.display_number).count() == 1


def test_void_cancels_a_draft_but_not_a_sent_invoice(admin_client, draft, sent):
    assert admin_client.post(f"{URL}/{draft.id}/void").status_code == 302
    assert Invoice.objects.get(pk=draft.pk).status == Invoice.Status.CANCELLED
    before = snapshot(sent)
    refused = admin_client.post(f"{URL}/{sent.id}/void", **MODAL)
    assert refused.status_code == 409
    assert b"Only a draft can be voided; this invoice is Sent" in refused.content
    assert snapshot(sent) == before
    assert not AuditEntry.objects.filter(action="invoice.voided", object_id=sent.id).exists()


def test_mark_as_paid_defaults_to_the_amount_due_and_takes_part(admin_client, sent):
    modal = admin_client.get(f"{URL}/{sent.id}/pay", **MODAL)
    assert b'value="240.00"' in modal.content  # the whole amount due
    part = admin_client.post(f"{URL}/{sent.id}/pay", {"amount": "40", "note": "Check"}, **MODAL)
    assert part.status_code == 200 and part["HX-Redirect"] == f"{URL}/{sent.id}"
    assert snapshot(sent) == (Invoice.Status.PARTIALLY_PAID, 40_000_000, 0, 1)
    assert InvoicePayment.objects.get(invoice=sent).note == "Check"
    # Blank: the rest.
    admin_client.post(f"{URL}/{sent.id}/pay", {"amount": "", "note": ""}, **MODAL)
    assert snapshot(sent) == (Invoice.Status.PAID, 240_000_000, 0, 2)
    # A paid invoice takes no more, and says so in the modal.
    again = admin_client.post(f"{URL}/{sent.id}/pay", {"amount": "1.00"}, **MODAL)
    assert again.status_code == 409 and b"A Paid invoice takes no payment" in again.content
    assert snapshot(sent) == (Invoice.Status.PAID, 240_000_000, 0, 2)


@pytest.mark.parametrize(
    "amount, status, message",
    [
        ("240.01", 409, "The amount due is 240.00"),
        ("abc", 422, "Amount:"),
        ("0", 422, "Amount is more than zero"),
        ("1.005", 422, "Amount is whole cents"),
    ],
)
def test_a_bad_payment_is_shown_in_the_modal_and_changes_nothing(
    admin_client, sent, amount, status, message
):
    before = snapshot(sent)
    response = admin_client.post(f"{URL}/{sent.id}/pay", {"amount": amount}, **MODAL)
    assert response.status_code == status
    content = response.content.decode()
    assert message in content and 'class="modal"' in content
    assert snapshot(sent) == before


def test_refund_needs_a_confirmation_and_takes_all_or_part(admin_client, admin, sent):
    invoices.invoice_record_payment(actor=actor_for_user(admin), invoice=sent, amount="100.00")
    modal = admin_client.get(f"{URL}/{sent.id}/refund", **MODAL)
    assert b'value="100.00"' in modal.content  # what was paid
    assert re.search(rb'value="credit"[^>]*checked', modal.content)  # credit by default
    before = snapshot(sent)
    unconfirmed = admin_client.post(f"{URL}/{sent.id}/refund", {"amount": "30"}, **MODAL)
    assert unconfirmed.status_code == 422 and b"Tick Confirm to refund." in unconfirmed.content
    too_much = admin_client.post(
        f"{URL}/{sent.id}/refund", {"amount": "100.01", "confirm": "on"}, **MODAL
    )
    assert too_much.status_code == 409 and b"At most 100.00 can be refunded" in too_much.content
    assert snapshot(sent) == before

    done = admin_client.post(
        f"{URL}/{sent.id}/refund", {"amount": "30", "note": "Outage", "confirm": "on"}, **MODAL
    )
    assert done.status_code == 200 and done["HX-Redirect"] == f"{URL}/{sent.id}"
    assert snapshot(sent) == (Invoice.Status.PARTIALLY_PAID, 100_000_000, 30_000_000, 2)
    before = snapshot(sent)
    nowhere = admin_client.post(
        f"{URL}/{sent.id}/refund", {"confirm": "on", "destination": "wallet"}, **MODAL
    )
    assert nowhere.status_code == 422 and snapshot(sent) == before
    # Blank: everything still refundable, here returned outside the platform.
    admin_client.post(
        f"{URL}/{sent.id}/refund", {"confirm": "on", "destination": "external"}, **MODAL
    )
    assert snapshot(sent)[2] == 100_000_000
    sent.tenant.refresh_from_db()
    assert sent.tenant.credit_micros == 30_000_000  # the first refund went to credit
    content = admin_client.get(f"{URL}/{sent.id}").content.decode()
    assert "−$30.00" in content and "−$70.00" in content and "Outage" in content
    assert f"{URL}/{sent.id}/refund" not in content  # nothing left to refund


def test_an_unpaid_invoice_cannot_be_refunded(admin_client, sent):
    before = snapshot(sent)
    response = admin_client.post(f"{URL}/{sent.id}/refund", {"confirm": "on"}, **MODAL)
    assert response.status_code == 409
    assert b"Nothing has been paid on this invoice to refund" in response.content
    assert snapshot(sent) == before


def test_send_reminder_emails_the_tenant_about_an_open_invoice(admin_client, admin, sent, draft):
    before = OutgoingEmail.objects.count()
    assert admin_client.post(f"{URL}/{sent.id}/remind").status_code == 302
    sent.refresh_from_db()
    assert sent.last_reminder_at is not None
    reminder = OutgoingEmail.objects.order_by("-created_at").first()
    assert reminder.subject.startswith(f"Reminder: invoice {sent.display_number}")
    refused = admin_client.post(f"{URL}/{draft.id}/remind", **MODAL)
    assert refused.status_code == 409 and b"A Draft invoice needs no reminder" in refused.content
    assert OutgoingEmail.objects.count() == before + 1


# --- a new off-cycle invoice ---------------------------------------------------------------


def test_new_invoice_saves_a_draft_with_its_lines(admin_client, tenant, other_partner):
    form = admin_client.get(f"{URL}/new", **MODAL).content.decode()
    assert f'<option value="{tenant.id}">Acme Plumbing</option>' in form
    assert other_partner[2].id not in form
    response = admin_client.post(
        f"{URL}/new",
        {
            "tenant": tenant.id,
            "description": ["Desk phone", "", "Installation"],
            "quantity": ["3", "", ""],
            "unit_price": ["$89.50", "", "150"],
            "memo": "Hardware for the new office",
        },
        **MODAL,
    )
    assert response.status_code == 200
    invoice = Invoice.objects.get(tenant=tenant)
    assert response["HX-Redirect"] == f"{URL}/{invoice.id}"
    assert invoice.status == Invoice.Status.DRAFT and invoice.kind == Invoice.Kind.OFF_CYCLE
    assert [
        (line.description, line.quantity, line.amount_micros) for line in invoice.lines.all()
    ] == [
        ("Desk phone", 3, 268_500_000),
        ("Installation", 1, 150_000_000),
    ]
    assert invoice.total_micros == 418_500_000 and invoice.memo == "Hardware for the new office"


@pytest.mark.parametrize(
    "data, message",
    [
        ({"description": ["Desk phone"], "quantity": ["1"], "unit_price": ["abc"]}, "Unit price:"),
        (
            {"description": ["Desk phone"], "quantity": ["1.5"], "unit_price": ["10"]},
            "Quantity is a whole number",
        ),
        ({"description": [""], "quantity": ["2"], "unit_price": ["10"]}, "Description is 1 to 200"),
        (
            {"description": [""], "quantity": [""], "unit_price": [""]},
            "An invoice has 1 to 100 lines",
        ),
    ],
)
def test_a_bad_new_invoice_is_shown_and_nothing_is_made(admin_client, tenant, data, message):
    response = admin_client.post(f"{URL}/new", {"tenant": tenant.id, **data}, **MODAL)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Invoice.objects.exists()


def test_new_invoice_needs_one_of_the_partners_tenants(admin_client, tenant, other_partner):
    line = {"description": ["Desk phone"], "quantity": ["1"], "unit_price": ["10"]}
    for tenant_id in ("", other_partner[2].id):
        response = admin_client.post(f"{URL}/new", {"tenant": tenant_id, **line}, **MODAL)
        assert response.status_code == 422
    assert (
        b"Choose one of your tenants."
        in admin_client.post(f"{URL}/new", {"tenant": "", **line}, **MODAL).content
    )
    assert not Invoice.objects.exists()


def test_more_lines_keeps_what_was_typed_and_makes_nothing(admin_client, tenant):
    response = admin_client.post(
        f"{URL}/new",
        {
            "tenant": tenant.id,
            "description": ["Desk phone"],
            "quantity": ["1"],
            "unit_price": ["10"],
            "add_lines": "1",
        },
        **MODAL,
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert 'value="Desk phone"' in content and content.count('name="description"') == 4
    assert not Invoice.objects.exists()


# --- who may do what -------------------------------------------------------------------------


def test_a_partner_user_sees_invoices_without_actions_and_cannot_act(
    reader_client, admin, sent, draft
):
    content = reader_client.get(URL).content.decode()
    assert sent.id in content and "New Invoice" not in content
    assert f"{URL}/{sent.id}/pay" not in content
    page = reader_client.get(f"{URL}/{sent.id}").content.decode()
    assert "$240.00" in page and "Download PDF" in page
    for action in ("pay", "remind", "refund", "send", "void"):
        assert f"{URL}/{sent.id}/{action}" not in page
    assert reader_client.get(f"{URL}/{sent.id}/pdf").status_code == 200
    before = (snapshot(sent), snapshot(draft), Invoice.objects.count())
    for path, data in [
        (f"{URL}/{draft.id}/send", {}),
        (f"{URL}/{draft.id}/void", {}),
        (f"{URL}/{sent.id}/pay", {"amount": "1"}),
        (f"{URL}/{sent.id}/refund", {"confirm": "on"}),
        (f"{URL}/{sent.id}/remind", {}),
        (f"{URL}/new", {"tenant": sent.tenant_id, "description": "X", "unit_price": "1"}),
    ]:
        assert reader_client.post(path, data).status_code == 403, path
        assert reader_client.get(path).status_code == 403, path
    assert (snapshot(sent), snapshot(draft), Invoice.objects.count()) == before


def test_another_partners_invoice_is_404_everywhere(admin_client, other_partner, sent):
    _partner_b, admin_b, tenant_b = other_partner
    foreign = off_cycle(admin_b, tenant_b)
    assert listed(admin_client.get(URL)) == [sent.id]
    before = snapshot(foreign)
    for suffix in ("", "/pdf", "/send", "/void", "/pay", "/refund", "/remind"):
        assert admin_client.get(f"{URL}/{foreign.id}{suffix}").status_code == 404, suffix
        if suffix not in ("", "/pdf"):
            assert admin_client.post(f"{URL}/{foreign.id}{suffix}", {}).status_code == 404
    assert admin_client.get(f"{URL}/inv_nope").status_code == 404
    assert snapshot(foreign) == before


# --- in a browser --------------------------------------------------------------------------


def test_in_a_browser_an_admin_records_a_part_payment(page, live_server, admin, tenant):
    from playwright.sync_api import expect

    invoice = off_cycle(admin, tenant, at=datetime.now(UTC) - timedelta(days=1))
    sign_in(page, admin, live_server)
    page.goto("/settings/billing")
    page.get_by_role("navigation", name="Billing").get_by_role(
        "link", name="Tenant Invoices"
    ).click()
    expect(page.locator('[data-stat="unpaid"] .stat-value')).to_have_text("1")
    page.locator(f'tr[data-invoice="{invoice.id}"] td').nth(1).click()  # the row, not a link
    expect(page).to_have_url(f"{live_server.url}{URL}/{invoice.id}")
    page.get_by_role("link", name="Mark as Paid").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Amount received (USD)")).to_have_value("240.00")
    dialog.get_by_label("Amount received (USD)").fill("240.01")
    dialog.get_by_role("button", name="Mark as Paid").click()
    expect(dialog.get_by_role("alert")).to_have_text("The amount due is 240.00")
    dialog.get_by_label("Amount received (USD)").fill("100")
    dialog.get_by_label("Note (optional)").fill("Check #1042")
    dialog.get_by_role("button", name="Mark as Paid").click()
    expect(page.locator("h1 .badge")).to_have_text("Partially Paid")
    expect(page.locator('tr[data-total="due"] td')).to_have_text("$140.00")
    expect(page.locator("tr[data-payment]")).to_contain_text("Check #1042")
    assert snapshot(invoice) == (Invoice.Status.PARTIALLY_PAID, 100_000_000, 0, 1)


def test_the_list_costs_the_same_queries_for_few_invoices_or_many(admin_client, admin, tenant):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(URL).status_code == 200
        return len(captured.captured_queries)

    off_cycle(admin, tenant)
    few = queries()
    for n in range(6):
        off_cycle(admin, make_tenant(admin, name=f"Tenant {n}"))
    assert queries() == few


def test_tenant_names_and_memos_are_escaped(admin_client, admin):
    hostile = make_tenant(admin, name="<script>alert(1)</script>")
    invoice = invoices.invoice_create_off_cycle(
        actor=actor_for_user(admin),
        tenant=hostile,
        lines=[{"description": "<b>phone</b>", "unit_price": "1.00"}],
        memo="<img src=x onerror=alert(1)>",
    )
    for path in (URL, f"{URL}/{invoice.id}", f"{URL}/new", "/settings/usage-limits"):
        content = admin_client.get(path).content.decode()
        assert "<script>alert(1)" not in content and "<img src=x" not in content, path
        assert "<b>phone" not in content, path


def test_export_csv_follows_the_filters(admin_client, admin, tenant):
    import csv
    import io

    other = make_tenant(admin, name="Zephyr Roofing", sip_prefix="zephyr")
    early = off_cycle(admin, tenant, at=datetime(2026, 3, 2, 15, tzinfo=UTC))
    paid = off_cycle(admin, other, at=datetime(2026, 4, 5, 15, tzinfo=UTC))
    invoices.invoice_record_payment(actor=actor_for_user(admin), invoice=paid)
    page = admin_client.get(URL, {"status": "PAID"}).content.decode()
    assert f'href="{URL}.csv?status=PAID" download>Export CSV' in page

    def exported(**params):
        response = admin_client.get(f"{URL}.csv", params)
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    everything = exported()
    assert [row["number"] for row in everything] == [paid.display_number, early.display_number]
    row = everything[0]
    assert (row["tenant_name"], row["sip_prefix"], row["status"]) == (
        "Zephyr Roofing",
        "zephyr",
        "PAID",
    )
    assert (row["total"], row["paid"], row["amount_due"]) == ("240.00", "240.00", "0.00")
    assert [row["id"] for row in exported(status="PAID")] == [paid.id]
    assert [row["id"] for row in exported(q="acme")] == [early.id]
    assert admin_client.get(f"{URL}.csv", {"status": "LOST"}).status_code == 422
