"""Concurrent assignments and orders on PostgreSQL: Max DIDs holds at N+1 and a number is
sold once (the test SQLite database is in memory and cannot be shared by threads)."""

import json
import threading

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from tests.factories import make_api_key, make_partner, make_tenant
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.supply import supply_seed

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 6


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    supply_seed(states=["AR"], per_exchange=1, toll_free=70)


def _concurrently(call) -> list:
    barrier = threading.Barrier(THREADS)
    responses: list = [None] * THREADS
    failures: list = []

    def run(slot: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=10)
            responses[slot] = call(client, slot)
        except Exception as error:  # reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return responses


def _post(client, key, path, body):
    return client.post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )


def _funded_partner():
    partner, admin = make_partner()
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("500.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key=f"fund:{partner.id}",
    )
    return partner, admin, make_api_key(partner, rate_limit=1000)


def test_max_dids_holds_when_assignments_race():
    partner, admin, key = _funded_partner()
    tenant = make_tenant(admin)
    tenant.max_dids = 2
    tenant.save()
    client = Client()
    offers = client.get(
        "/v1/phone-numbers/available",
        {"type": "local", "state": "AR", "limit": THREADS},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()["data"]
    bought = _post(
        client, key, "/v1/phone-numbers/purchase", {"numbers": [o["number"] for o in offers]}
    )
    ids = [row["id"] for row in bought.json()["data"]]
    answers = _concurrently(
        lambda c, slot: _post(
            c, key, f"/v1/phone-numbers/{ids[slot]}/assign", {"tenant_id": tenant.id}
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 200] + [409] * (THREADS - 2)
    assert PhoneNumber.objects.filter(tenant=tenant).count() == 2


def test_a_number_is_sold_once_when_partners_race_for_it():
    buyers = [_funded_partner() for _ in range(THREADS)]
    client = Client()
    number = client.get(
        "/v1/phone-numbers/available",
        {"type": "local", "state": "AR", "limit": 1},
        HTTP_AUTHORIZATION=f"Bearer {buyers[0][2]}",
    ).json()["data"][0]["number"]
    answers = _concurrently(
        lambda c, slot: _post(
            c, buyers[slot][2], "/v1/phone-numbers/purchase", {"numbers": [number]}
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [201] + [409] * (THREADS - 1)
    assert PhoneNumber.objects.filter(e164=number).count() == 1
    winner = PhoneNumber.objects.get(e164=number).partner
    for partner, _, _ in buyers:
        charged = partner == winner
        assert (ledger.wallet_balance(partner) < Money.parse("500.00")) == charged


def _bought(client, key, count: int) -> list[str]:
    offers = client.get(
        "/v1/phone-numbers/available",
        {"type": "local", "state": "AR", "limit": count},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    ).json()["data"]
    bought = _post(
        client, key, "/v1/phone-numbers/purchase", {"numbers": [o["number"] for o in offers]}
    )
    assert bought.status_code == 201, bought.content
    return [row["id"] for row in bought.json()["data"]]


def test_max_dids_holds_when_bulk_assignments_race():
    partner, admin, key = _funded_partner()
    tenant = make_tenant(admin)
    tenant.max_dids = 5
    tenant.save()
    ids = _bought(Client(), key, THREADS * 2)
    answers = _concurrently(
        lambda c, slot: _post(
            c,
            key,
            "/v1/phone-numbers/bulk/assign",
            {"ids": ids[slot * 2 : slot * 2 + 2], "tenant_id": tenant.id},
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    # Pairs: two fit under five places, a third would make six; all or nothing each.
    assert codes == [200, 200] + [409] * (THREADS - 2)
    assert PhoneNumber.objects.filter(tenant=tenant).count() == 4


def test_bulk_assignments_of_the_same_numbers_in_any_order_do_not_deadlock():
    partner, admin, key = _funded_partner()
    tenants = [make_tenant(admin, name="North Office"), make_tenant(admin, name="South Office")]
    ids = _bought(Client(), key, 6)

    def assign(client, slot):
        order = ids if slot % 2 else list(reversed(ids))
        return _post(
            client,
            key,
            "/v1/phone-numbers/bulk/assign",
            {"ids": order, "tenant_id": tenants[slot % 2].id},
        )

    answers = _concurrently(assign)
    assert [answer.status_code for answer in answers] == [200] * THREADS
    # Every number ended with one tenant, all of them the same one (the last to commit).
    assert PhoneNumber.objects.filter(id__in=ids).values("tenant").distinct().count() == 1


def test_cancelling_a_tenant_while_its_numbers_are_assigned_does_not_deadlock():
    """Cancelling locks the tenant and then each of its numbers; assigning a number now
    locks the tenant first too, so the two queue instead of deadlocking."""
    from tests.concurrency import together
    from tests.factories import actor_for_user
    from trunkline.core.errors import TrunklineError
    from trunkline.phone_numbers.services import number_assign
    from trunkline.tenants.services import tenant_delete

    partner, admin = make_partner()
    tenant = make_tenant(admin)
    numbers = [
        PhoneNumber.objects.create(
            partner=partner,
            tenant=tenant,
            e164=f"+1501555{7000 + n}",
            kind="local",
            status=PhoneNumber.Status.ACTIVE,
        )
        for n in range(THREADS)
    ]
    actor = actor_for_user(admin)

    def work(slot: int):
        try:
            if slot == THREADS:
                tenant_delete(actor=actor, tenant=tenant)
            else:
                number_assign(actor=actor, number=numbers[slot], tenant=tenant)
        except TrunklineError as refused:  # a cancelled tenant takes no numbers
            return refused.type
        return "ok"

    outcomes = together(work, THREADS + 1)
    assert outcomes[THREADS] == "ok"
    tenant.refresh_from_db()
    assert tenant.status == "CANCELLED"
    left = PhoneNumber.objects.filter(pk__in=[n.pk for n in numbers])
    assert set(left.values_list("tenant_id", flat=True)) == {None}
