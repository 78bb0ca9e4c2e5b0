"""`/v1/subscription`, its invoices and `/v1/plans` through the API: shapes, scopes and
the contract's error envelope for bad input."""

import pytest

from tests.billing.subscription_helpers import DECLINING_CARD, add_card, pdf_text
from tests.core.capture import assert_error
from tests.factories import make_api_key, make_partner

pytestmark = pytest.mark.django_db


def test_a_trial_partner_sees_its_trial(api, partner):
    response = api.get("/v1/subscription")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "TRIAL" and body["plan"] == "starter"
    assert body["trial_days_left"] == 14 and body["trial_ends_at"]
    assert body["rates"]["monthly_fee"] == "249.00"
    assert body["rates"]["minute_local"] == "0.020"
    assert body["rates"]["max_extensions"] == 300
    assert body["wallet_balance"] == "0.00" and body["pending_plan"] is None


def test_the_plans_list_the_tiers_with_enterprise_behind_sales(api):
    body = api.get("/v1/plans").json()
    by_plan = {item["plan"]: item for item in body["data"]}
    assert list(by_plan) == ["starter", "professional", "business", "enterprise"]
    assert by_plan["professional"]["rates"]["monthly_fee"] == "549.00"
    assert by_plan["professional"]["rates"]["did_toll_free_monthly"] == "2.25"
    assert by_plan["business"]["rates"]["max_extensions"] is None
    assert by_plan["enterprise"] == {
        "plan": "enterprise",
        "name": "Enterprise",
        "self_service": False,
        "rates": None,
    }


def test_activation_without_a_card_is_a_clear_409(api):
    error = assert_error(api.post("/v1/subscription/activate", {"plan": "starter"}), 409)
    assert error["type"] == "payment_method_required"


def test_activation_with_a_declined_card_is_402(api, partner):
    add_card(partner, DECLINING_CARD)
    assert_error(api.post("/v1/subscription/activate", {"plan": "starter"}), 402, "card_declined")
    assert api.get("/v1/subscription").json()["status"] == "TRIAL"


def test_activate_change_plan_and_read_the_invoices(api, partner):
    add_card(partner)
    response = api.post("/v1/subscription/activate", {"plan": "starter"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["subscription"]["status"] == "ACTIVE"
    assert body["subscription"]["wallet_balance"] == "50.00"
    invoice = body["invoice"]
    assert invoice["type"] == "subscription_invoice" and invoice["status"] == "paid"
    assert invoice["number"].startswith("TL-")

    preview = api.post("/v1/subscription/change-plan", {"plan": "business"}).json()
    assert preview["confirmed"] is False and preview["direction"] == "upgrade"
    assert preview["new_monthly_fee"] == "999.00"
    assert preview["amount_due_now"] == preview["prorated_charge"]
    assert api.get("/v1/subscription").json()["plan"] == "starter"
    done = api.post("/v1/subscription/change-plan", {"plan": "business", "confirm": True}).json()
    assert done["confirmed"] and done["subscription"]["plan"] == "business"
    assert done["invoice"]["total"] == preview["amount_due_now"]

    listing = api.get("/v1/subscription/invoices").json()
    assert [item["kind"] for item in listing["data"]] == ["upgrade", "activation"]
    one = api.get(f"/v1/subscription/invoices/{invoice['id']}").json()
    assert one["total"] == invoice["total"] and one["lines"][1]["amount"] == "50.00"
    pdf = api.get(f"/v1/subscription/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert invoice["number"] in pdf_text(pdf.content)


def test_enterprise_is_contact_sales(api, partner):
    add_card(partner)
    assert_error(
        api.post("/v1/subscription/activate", {"plan": "enterprise"}), 409, "contact_sales"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan": "gold"}, "plan"),
        ({}, "plan"),
        ({"plan": 5}, "plan"),
        ({"plan": "starter", "extra": 1}, "extra"),
        ({"plan": "x" * 100}, "plan"),
    ],
)
def test_bad_activation_input_is_422(api, body, field):
    assert_error(api.post("/v1/subscription/activate", body), 422, "validation_error", field)


def test_bad_change_plan_input_is_422(api):
    assert_error(
        api.post("/v1/subscription/change-plan", {"plan": "business", "confirm": "maybe"}),
        422,
        "validation_error",
        "confirm",
    )


def test_another_partners_invoice_is_404(api, make_api):
    other, _ = make_partner()
    add_card(other)
    other_api = make_api(make_api_key(other))
    invoice_id = other_api.post("/v1/subscription/activate", {"plan": "starter"}).json()["invoice"][
        "id"
    ]
    assert_error(api.get(f"/v1/subscription/invoices/{invoice_id}"), 404, "not_found")
    assert_error(api.get(f"/v1/subscription/invoices/{invoice_id}/pdf"), 404, "not_found")
    assert_error(api.post(f"/v1/subscription/invoices/{invoice_id}/pay"), 404, "not_found")


def test_a_read_only_key_reads_but_cannot_activate(partner, make_api):
    reader = make_api(make_api_key(partner, scopes="billing:read"))
    assert reader.get("/v1/subscription").status_code == 200
    assert_error(reader.post("/v1/subscription/activate", {"plan": "starter"}), 403)


def test_a_bad_cursor_is_422(api):
    assert_error(api.get("/v1/subscription/invoices", {"cursor": "nope"}), 422, field="cursor")
