"""Concurrent requests against a real server-side database: no duplicates, no lost checks.

These need concurrent transactions with row locks and unique indexes working across
connections; the test SQLite database is an in-memory one that threads cannot share, so
they run on PostgreSQL (CI runs the suite on both).
"""

import threading

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from tests.factories import make_api_key, make_partner, make_tenant
from tests.tenants.helpers import tenant_body
from trunkline.core.models import Event
from trunkline.tenants.models import Tenant

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
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def key_and_admin():
    partner, admin = make_partner()
    return make_api_key(partner, rate_limit=1000), admin


def _concurrently(request_of) -> list:
    """Run `request_of(client)` in THREADS threads released at the same moment."""
    barrier = threading.Barrier(THREADS)
    responses: list = [None] * THREADS
    failures: list = []

    def run(slot: int) -> None:
        try:
            client = Client()
            barrier.wait(timeout=10)
            responses[slot] = request_of(client, slot)
        except Exception as error:  # reported below; a thread must not die silently
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


def _post(client, key, body, **headers):
    extra = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return client.post(
        "/v1/tenants",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        **extra,
    )


def test_the_same_idempotency_key_creates_once(key_and_admin):
    key, _ = key_and_admin
    responses = _concurrently(
        lambda client, slot: _post(client, key, tenant_body(), **{"Idempotency-Key": "deal-42"})
    )
    assert Tenant.objects.count() == 1
    assert Event.objects.filter(type="tenant.created").count() == 1
    created = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    assert len(created) == 1
    tenant_id = created[0].json()["id"]
    for response in responses:
        if response is created[0]:
            continue
        if response.status_code == 201:
            assert response["Idempotent-Replayed"] == "true"
            assert response.json()["id"] == tenant_id
        else:
            assert response.status_code == 409
            assert response.json()["error"]["type"] == "idempotency_request_in_progress"


def test_the_same_sip_prefix_is_granted_once(key_and_admin):
    key, _ = key_and_admin
    responses = _concurrently(
        lambda client, slot: _post(client, key, tenant_body(name=f"Co {slot}", sip_prefix="acme"))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (THREADS - 1)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["type"] == "sip_prefix_taken"
            assert response.json()["error"]["field"] == "sip_prefix"
    assert Tenant.objects.filter(sip_prefix="acme").count() == 1
    assert Tenant.objects.count() == 1
    assert Event.objects.count() == 1


def test_suggested_prefixes_never_collide(key_and_admin):
    key, _ = key_and_admin
    responses = _concurrently(lambda client, slot: _post(client, key, tenant_body()))
    assert [r.status_code for r in responses] == [201] * THREADS
    prefixes = {r.json()["sip_prefix"] for r in responses}
    assert len(prefixes) == THREADS
    assert Tenant.objects.count() == THREADS


def test_one_of_two_concurrent_suspensions_wins(key_and_admin):
    key, admin = key_and_admin
    tenant = make_tenant(admin, status="ACTIVE")
    responses = _concurrently(
        lambda client, slot: client.post(
            f"/v1/tenants/{tenant.id}/suspend",
            {"reason": f"reason {slot}"},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * (THREADS - 1)
    assert Event.objects.filter(type="tenant.suspended").count() == 1


def test_partners_of_one_name_signing_up_together_all_get_a_slug():
    from trunkline.accounts.models import Partner
    from trunkline.accounts.services import partner_create
    from trunkline.core.actors import Actor

    def sign_up(client, slot):
        partner, _ = partner_create(
            actor=Actor.system(),
            company_name="Acme Telecom",
            email=f"owner{slot}@acme.example",
            password="Correct-Horse9battery",
        )
        return partner.slug

    slugs = _concurrently(sign_up)
    assert len(set(slugs)) == THREADS
    assert Partner.objects.filter(company_name="Acme Telecom").count() == THREADS
