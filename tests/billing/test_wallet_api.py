"""`GET /v1/wallet`, its history with type and date filters, and the CSV export
(`../shared/CONTRACT.md`; partner guide `004_*.txt`, "Transaction history")."""

import csv
import io
from datetime import UTC, datetime

import pytest

from tests.factories import make_api_key, make_partner
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db
T = Posting.Type


def post(partner, amount, key, type, day, **extra):
    operation = ledger.wallet_credit if amount > 0 else ledger.wallet_debit
    return operation(
        partner=partner,
        amount=Money(abs(amount)),
        type=type,
        actor=Actor.system(partner=partner),
        idempotency_key=key,
        now=datetime(2026, 11, day, 12, tzinfo=UTC),
        **extra,
    )[0]


@pytest.fixture
def history(partner):
    post(partner, 100_000_000, "t1", T.TOP_UP, 1)
    post(partner, -1_750_000, "d1", T.DID_MONTHLY_LOCAL, 2, reference="did_1")
    post(partner, -14_000, "u1", T.USAGE_LOCAL, 3, allow_negative=True)
    post(partner, -2_500_000, "d2", T.DID_MONTHLY_TOLL_FREE, 4)
    post(partner, 5_000_000, "a1", T.MANUAL_ADJUSTMENT, 5, memo="goodwill")


def test_balance(api, partner, history):
    assert api.get("/v1/wallet").json() == {"balance": "100.736", "currency": "USD"}


def test_empty_wallet(api):
    assert api.get("/v1/wallet").json() == {"balance": "0.00", "currency": "USD"}


def test_history_newest_first_with_signed_amounts(api, history):
    rows = api.get("/v1/wallet/transactions").json()["data"]
    assert [(row["type"], row["amount"], row["balance_after"]) for row in rows] == [
        ("manual_adjustment", "5.00", "100.736"),
        ("did_monthly_toll_free", "-2.50", "95.736"),
        ("usage_local", "-0.014", "98.236"),
        ("did_monthly_local", "-1.75", "98.25"),
        ("top_up", "100.00", "100.00"),
    ]
    assert rows[0]["memo"] == "goodwill"
    assert rows[3]["reference"] == "did_1"


def test_filters_by_type_and_dates(api, history):
    def types(**params):
        return [row["type"] for row in api.get("/v1/wallet/transactions", params).json()["data"]]

    assert types(type="did_monthly_local,did_monthly_toll_free") == [
        "did_monthly_toll_free",
        "did_monthly_local",
    ]
    assert types(**{"from": "2026-11-02", "to": "2026-11-03"}) == [
        "usage_local",
        "did_monthly_local",
    ]
    assert types(**{"from": "2026-11-04T12:00:00Z"}) == [
        "manual_adjustment",
        "did_monthly_toll_free",
    ]


def test_pages(api, history):
    first = api.get("/v1/wallet/transactions", {"limit": 2}).json()
    second = api.get("/v1/wallet/transactions", {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/v1/wallet/transactions", {"limit": 2, "cursor": second["next_cursor"]}).json()
    seen = [row["id"] for page in (first, second, third) for row in page["data"]]
    assert len(seen) == len(set(seen)) == 5
    assert third["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "coffee"}, "type"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-11-02T10:00:00"}, "to"),  # a time without its offset
        ({"limit": 0}, "limit"),
        ({"cursor": "nonsense"}, "cursor"),
    ],
)
def test_bad_filters_are_422(api, history, params, field):
    response = api.get("/v1/wallet/transactions", params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_csv_export(api, history):
    response = api.get("/v1/wallet/transactions.csv", {"type": "top_up,manual_adjustment"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["type"], row["amount"], row["memo"]) for row in rows] == [
        ("manual_adjustment", "5.00", "goodwill"),
        ("top_up", "100.00", ""),
    ]
    assert rows[1]["created_at"] == "2026-11-01T12:00:00Z"


def test_another_partners_money_is_invisible(make_api, history):
    other, _ = make_partner()
    other_api = make_api(make_api_key(other))
    assert other_api.get("/v1/wallet").json()["balance"] == "0.00"
    assert other_api.get("/v1/wallet/transactions").json()["data"] == []


def test_needs_the_billing_scope(make_api, partner, history):
    tenants_only = make_api(make_api_key(partner, scopes="tenants:read"))
    assert tenants_only.get("/v1/wallet").status_code == 403
    assert tenants_only.get("/v1/wallet/transactions.csv").status_code == 403
    reader = make_api(make_api_key(partner, scopes="billing:read"))
    assert reader.get("/v1/wallet").status_code == 200
