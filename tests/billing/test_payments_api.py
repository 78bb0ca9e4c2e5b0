"""The payment API: cards, top-ups and auto-recharge, with the contract's error envelope."""

import pytest

from tests.factories import make_api_key, make_partner
from trunkline.billing import payment_services

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"


def error_of(response):
    return response.json()["error"]


def test_cards_add_list_default_delete(api):
    first = api.post("/v1/payment-methods", {"token": VISA})
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["brand"] == "visa" and body["last4"] == "4242" and body["is_default"]
    second = api.post("/v1/payment-methods", {"token": "5555555555554444"}).json()
    assert not second["is_default"]

    listed = api.get("/v1/payment-methods").json()
    assert [m["id"] for m in listed["data"]] == [body["id"], second["id"]]
    assert VISA not in str(listed)

    made_default = api.post(f"/v1/payment-methods/{second['id']}/default")
    assert made_default.status_code == 200 and made_default.json()["is_default"]
    assert api.delete(f"/v1/payment-methods/{second['id']}").status_code == 204
    [left] = api.get("/v1/payment-methods").json()["data"]
    assert left["id"] == body["id"] and left["is_default"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"token": "1234"}, 422, "token"),
        ({}, 422, "token"),
        ({"token": VISA, "number": "x"}, 201, None),
    ],
)
def test_add_card_validation(api, body, status, field):
    response = api.post("/v1/payment-methods", body)
    assert response.status_code == status, response.content
    if status >= 400:
        assert error_of(response)["field"] == field


def test_declined_card_is_402(api):
    response = api.post("/v1/payment-methods", {"token": "4000000000000002"})
    assert response.status_code == 402
    assert error_of(response)["type"] == "card_declined"


def test_foreign_and_unknown_cards_are_404(api):
    other, _ = make_partner()
    foreign = payment_services.payment_method_add(
        partner=other, actor=payment_services.Actor.system(partner=other), token=VISA
    )
    for path in (
        f"/v1/payment-methods/{foreign.id}/default",
        "/v1/payment-methods/pmt_nope/default",
    ):
        assert api.post(path).status_code == 404
    assert api.delete(f"/v1/payment-methods/{foreign.id}").status_code == 404


def test_top_up(api):
    api.post("/v1/payment-methods", {"token": VISA})
    first = api.post("/v1/wallet/top-up", {"amount": "100.00"}, headers={"Idempotency-Key": "k1"})
    assert first.status_code == 200, first.content
    assert first.json()["balance"] == "100.00" and first.json()["amount"] == "100.00"
    retried = api.post("/v1/wallet/top-up", {"amount": "100.00"}, headers={"Idempotency-Key": "k1"})
    assert retried.json() == first.json()
    assert api.get("/v1/wallet").json()["balance"] == "100.00"
    api.post("/v1/wallet/top-up", {"amount": "25.50"})
    assert api.get("/v1/wallet").json()["balance"] == "125.50"


@pytest.mark.parametrize(
    ("card", "status", "kind"),
    [
        ("4000000000009995", 402, "card_declined"),
        ("4000002500003155", 409, "authentication_required"),
    ],
)
def test_top_up_failures(api, card, status, kind):
    api.post("/v1/payment-methods", {"token": card})
    response = api.post("/v1/wallet/top-up", {"amount": "50.00"})
    assert response.status_code == status
    assert error_of(response)["type"] == kind
    assert api.get("/v1/wallet").json()["balance"] == "0.00"


def test_top_up_without_card_is_409(api):
    response = api.post("/v1/wallet/top-up", {"amount": "50.00"})
    assert response.status_code == 409
    assert error_of(response)["type"] == "payment_method_required"


@pytest.mark.parametrize(
    "amount", ["abc", "5.00", "1e400", "20.001", 20.5, None, "99999999999999999999"]
)
def test_top_up_amount_validation(api, amount):
    api.post("/v1/payment-methods", {"token": VISA})
    response = api.post("/v1/wallet/top-up", {"amount": amount})
    assert response.status_code == 422, response.content
    assert error_of(response)["field"] == "amount"


def test_auto_recharge_settings(api):
    assert api.get("/v1/wallet/auto-recharge").json() == {
        "enabled": False,
        "threshold": "50.00",
        "amount": "200.00",
        "disabled_reason": "",
        "calls_blocked": False,
    }
    refused = api.put(
        "/v1/wallet/auto-recharge", {"enabled": True, "threshold": "20", "amount": "100"}
    )
    assert refused.status_code == 409
    api.post("/v1/payment-methods", {"token": VISA})
    api.post("/v1/wallet/top-up", {"amount": "30.00"})
    saved = api.put(
        "/v1/wallet/auto-recharge", {"enabled": True, "threshold": "20", "amount": "100"}
    )
    assert saved.status_code == 200
    assert saved.json()["enabled"] and saved.json()["threshold"] == "20.00"
    assert api.get("/v1/wallet/auto-recharge").json()["amount"] == "100.00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"enabled": True, "threshold": "20", "amount": "9.99"}, "amount"),
        ({"enabled": True, "threshold": "-1", "amount": "50"}, "threshold"),
        ({"enabled": True, "threshold": "x", "amount": "50"}, "threshold"),
        ({"enabled": "maybe", "threshold": "1", "amount": "50"}, "enabled"),
        ({"threshold": "1", "amount": "50"}, "enabled"),
    ],
)
def test_auto_recharge_validation(api, body, field):
    api.post("/v1/payment-methods", {"token": VISA})
    response = api.put("/v1/wallet/auto-recharge", body)
    assert response.status_code == 422, response.content
    assert error_of(response)["field"] == field


def test_scopes(make_api, partner):
    reader = make_api(make_api_key(partner, scopes="billing:read"))
    assert reader.get("/v1/payment-methods").status_code == 200
    assert reader.get("/v1/wallet/auto-recharge").status_code == 200
    assert reader.post("/v1/payment-methods", {"token": VISA}).status_code == 403
    assert reader.post("/v1/wallet/top-up", {"amount": "50"}).status_code == 403
    outsider = make_api(make_api_key(partner, scopes="tenants:read"))
    assert outsider.get("/v1/payment-methods").status_code == 403
