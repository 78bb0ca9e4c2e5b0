"""The demo data `make run` loads: it must load, once, through the real services."""

from trunkline.accounts.models import ApiKey, Partner, User
from trunkline.billing.ledger import wallet_balance
from trunkline.billing.models import CallRecord
from trunkline.core.demo import DEMO_COMPANY, load_demo
from trunkline.core.models import Event
from trunkline.tenants.models import Tenant


def test_loads_once(db):
    lines = load_demo(only_once=True)
    assert lines and any("sk_live_" in line for line in lines)
    partner = Partner.objects.get(company_name=DEMO_COMPANY)
    assert Tenant.objects.filter(partner=partner).count() == 4
    assert Tenant.objects.get(sip_prefix="deltafrt").status == "SUSPENDED"
    assert User.objects.filter(partner=partner).count() == 2
    assert ApiKey.objects.filter(partner=partner).count() == 1
    assert Event.objects.filter(partner=partner, type="tenant.created").count() == 4
    # a week of rated calls through the real intake, and a wallet to charge them to
    calls = CallRecord.objects.filter(partner=partner)
    assert calls.count() == 80
    assert set(calls.values_list("call_class", flat=True)) == {
        "local",
        "toll_free",
        "international",
        "internal",
    }
    # activated on a test card, so the trial-expiry job leaves it alone
    partner.refresh_from_db()
    assert partner.status == "ACTIVE"
    assert partner.billing_account.plan == "professional"
    assert partner.payment_methods.get().last4 == "4242"
    assert 0 < wallet_balance(partner).micros < 300_000_000  # $250 + $50 initial credit
    # numbers bought from the simulated carrier: two with 911 registered, one not (the
    # portal's warning), one unassigned
    from trunkline.phone_numbers.models import PhoneNumber

    numbers = PhoneNumber.objects.filter(partner=partner)
    assert sorted(numbers.values_list("status", flat=True)) == ["ACTIVE"] * 4
    assert sorted(numbers.values_list("e911_status", flat=True)) == [
        "NOT_SET",
        "NOT_SET",
        "REGISTERED",
        "REGISTERED",
    ]
    assert numbers.filter(tenant__isnull=True).count() == 1
    # tenant billing history: Acme's two past flat-rate cycles with sales tax, the first
    # paid, the second open, and a draft for hardware
    from trunkline.billing.models import Invoice

    invoices = Invoice.objects.filter(partner=partner).order_by("number")
    assert [invoice.status for invoice in invoices] == ["PAID", "SENT", "DRAFT"]
    assert {invoice.tax_code for invoice in invoices} == {"US-AR-Pulaski"}
    assert invoices[0].total_micros == 107_420_000  # $99 and 8.5 % tax

    # Acme's phone system: two sites, a nested department, four extensions
    from trunkline.pbx.models import Department, Extension, Site

    acme = Tenant.objects.get(sip_prefix="acme")
    assert Site.objects.filter(tenant=acme).count() == 2
    assert Department.objects.get(tenant=acme, name="Dispatch").parent.name == "Office"
    assert sorted(Extension.objects.filter(tenant=acme).values_list("number", flat=True)) == [
        "100",
        "101",
        "102",
        "200",
    ]
    assert any("8 extensions" in line for line in lines)

    # Riverside Dental runs on licences: seats, add-ons and a device per user.
    from trunkline.licensing.services import overview
    from trunkline.pbx.models import Device

    riverside = Tenant.objects.get(sip_prefix="riverside")
    seats = {row["sku"]: row for row in overview(riverside)}
    assert (seats["seat_premium"]["assigned"], seats["seat_basic"]["assigned"]) == (2, 2)
    assert seats["webex"]["assigned"] == 1
    assert Device.objects.filter(tenant=riverside).count() == 4
    # …and its number rings an auto attendant on AA Standard with an after-hours menu.
    from trunkline.pbx.models import CallFlow

    attendant = CallFlow.objects.get(tenant=riverside, kind="auto_attendant")
    assert seats["aa_standard"]["assigned"] == 1
    assert attendant.config["after_hours_menu"] == "closed"
    assert PhoneNumber.objects.get(tenant=riverside).route == {
        "type": "call_flow",
        "id": attendant.id,
    }

    assert load_demo(only_once=True) is None
    assert Partner.objects.filter(company_name=DEMO_COMPANY).count() == 1


def test_the_demo_tenants_run_on_a_pbx_node_and_render(db, tmp_path):
    from trunkline.telephony.asterisk import render_asterisk
    from trunkline.telephony.models import TenantPlacement

    load_demo(only_once=True)
    partner = Partner.objects.get(company_name=DEMO_COMPANY)
    placed = TenantPlacement.objects.filter(tenant__partner=partner)
    assert placed.count() == 4 and {p.node.name for p in placed} == {"docs-demo-pbx-1"}
    result = render_asterisk(tmp_path)
    assert result.tenants == 4 and result.waiting == 0
    riverside = (tmp_path / "docs-demo-pbx-1/tenants/riverside/extensions.conf").read_text()
    assert "; auto attendant" in riverside and "GotoIfTime(" in riverside
