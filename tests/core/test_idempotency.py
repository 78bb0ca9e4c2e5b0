"""`Idempotency-Key` on POST: a retry returns the first response and does nothing twice."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_save
from django.utils import timezone

from tests.core.capture import assert_error, capture_events
from tests.factories import make_api_key, make_partner
from tests.tenants.helpers import tenant_body
from trunkline.core import ratelimit
from trunkline.core.api_middleware import purge_idempotency_records
from trunkline.core.models import Event, IdempotencyRecord
from trunkline.core.scheduler import run_due_jobs
from trunkline.tenants.models import Tenant


def _post(api, body, key="create-acme-1", **headers):
    return api.post("/v1/tenants", body, headers={"Idempotency-Key": key, **headers})


def test_a_retry_replays_the_first_response(api):
    with capture_events(["tenant.created"]):
        first = _post(api, tenant_body())
        second = _post(api, tenant_body())
        third = _post(api, tenant_body())
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    for retry in (second, third):
        assert retry.status_code == 201
        assert retry.json() == first.json()
        assert retry["Idempotent-Replayed"] == "true"
        assert retry["Content-Type"].startswith("application/json")
        assert retry["X-Request-Id"] and retry["X-Request-Id"] != first["X-Request-Id"]
    assert Tenant.objects.count() == 1


def test_without_a_key_each_post_creates(api):
    assert api.post("/v1/tenants", tenant_body()).status_code == 201
    assert api.post("/v1/tenants", tenant_body()).status_code == 201
    assert Tenant.objects.count() == 2


def test_the_same_key_with_another_body_is_a_conflict(api):
    assert _post(api, tenant_body()).status_code == 201
    with capture_events([]):
        response = _post(api, tenant_body(name="Other Name"))
    assert_error(response, 409, "idempotency_key_reused", "Idempotency-Key")
    assert Tenant.objects.count() == 1


def test_the_same_key_on_another_path_is_a_conflict(api):
    created = _post(api, tenant_body()).json()
    response = api.post(
        f"/v1/tenants/{created['id']}/suspend", headers={"Idempotency-Key": "create-acme-1"}
    )
    assert_error(response, 409, "idempotency_key_reused")
    assert Tenant.objects.get().status == "TRIAL"


def test_errors_are_replayed_too(api):
    """A 4xx answer is the request's answer; the retry must not run it again."""
    first = _post(api, tenant_body(timezone="Mars/Olympus"))
    assert_error(first, 422, "validation_error", "timezone")
    second = _post(api, tenant_body(timezone="Mars/Olympus"))
    assert second.status_code == 422
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"


def test_keys_belong_to_one_partner(api, make_api):
    partner_b, _ = make_partner()
    api_b = make_api(make_api_key(partner_b))
    first = _post(api, tenant_body())
    theirs = _post(api_b, tenant_body(name="Bravo Dental"))
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != first.json()["id"]
    assert theirs.json()["partner_id"] == partner_b.id
    assert Tenant.objects.filter(partner=partner_b).count() == 1
    # and the same body under B's key: still B's own tenant, never A's response
    again = _post(api_b, tenant_body(name="Bravo Dental"))
    assert again.json()["id"] == theirs.json()["id"]


def test_another_key_of_the_partner_never_sees_the_stored_response(partner, api, make_api):
    """A narrower key replaying a wider key's request must not read what it cannot read."""
    first = _post(api, tenant_body())
    billing_only = make_api(make_api_key(partner, scopes="billing:read"))
    response = _post(billing_only, tenant_body())
    assert response.status_code in (403, 409)
    assert first.json()["id"] not in response.content.decode()
    assert Tenant.objects.count() == 1


def test_a_401_is_not_stored(api, make_api, partner):
    anonymous = make_api("sk_live_" + "x" * 43)
    assert_error(_post(anonymous, tenant_body()), 401)
    assert not IdempotencyRecord.objects.exists()
    created = _post(api, tenant_body())
    assert created.status_code == 201 and "Idempotent-Replayed" not in created


def test_a_429_is_not_stored(partner, make_api):
    client = make_api(make_api_key(partner, rate_limit=1))
    assert client.get("/v1/tenants").status_code == 200
    assert_error(_post(client, tenant_body()), 429, "rate_limited")
    assert not IdempotencyRecord.objects.exists()
    ratelimit.reset()  # the minute has passed
    created = _post(client, tenant_body())
    assert created.status_code == 201 and "Idempotent-Replayed" not in created
    assert Tenant.objects.count() == 1


class _Boom(Exception):
    pass


def test_a_5xx_is_not_stored_and_leaves_nothing_behind(api):
    def fail_after_the_writes(sender, instance, **kwargs):
        raise _Boom("the outbox is down")

    post_save.connect(fail_after_the_writes, sender=Event, dispatch_uid="boom")
    try:
        failed = _post(api, tenant_body())
    finally:
        post_save.disconnect(dispatch_uid="boom", sender=Event)
    assert_error(failed, 500, "internal_error")
    assert not Tenant.objects.exists()
    assert not IdempotencyRecord.objects.exists()

    retried = _post(api, tenant_body())
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert Tenant.objects.count() == 1


def test_records_older_than_a_day_are_ignored(api):
    first = _post(api, tenant_body())
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    second = _post(api, tenant_body())
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert second.json()["id"] != first.json()["id"]
    assert IdempotencyRecord.objects.count() == 1


def test_records_younger_than_a_day_are_replayed(api):
    _post(api, tenant_body())
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(hours=23))
    assert _post(api, tenant_body())["Idempotent-Replayed"] == "true"


def test_old_records_are_purged(api):
    _post(api, tenant_body(), key="old")
    _post(api, tenant_body(name="Newer"), key="new")
    now = timezone.now()
    IdempotencyRecord.objects.filter(key="old").update(created_at=now - timedelta(hours=25))
    assert purge_idempotency_records(now) == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    IdempotencyRecord.objects.update(created_at=now - timedelta(days=2))
    assert run_due_jobs(now=now)["core.purge_idempotency_records"] == 1
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_a_key_must_be_1_to_255_characters(api, key):
    response = _post(api, tenant_body(), key=key)
    assert_error(response, 400, "malformed_request", "Idempotency-Key")
    assert not Tenant.objects.exists()


def test_a_255_character_key_works(api):
    assert _post(api, tenant_body(), key="k" * 255).status_code == 201
    assert _post(api, tenant_body(), key="k" * 255)["Idempotent-Replayed"] == "true"


def test_get_ignores_the_header(api):
    response = api.get("/v1/tenants", headers={"Idempotency-Key": "abc"})
    assert response.status_code == 200
    assert not IdempotencyRecord.objects.exists()


def test_an_in_flight_request_answers_409(api):
    """The first request's row exists but has no response yet: the retry must not run."""
    _post(api, tenant_body(), key="busy")
    IdempotencyRecord.objects.update(status_code=None, response_body=None)
    with capture_events([]):
        response = _post(api, tenant_body(), key="busy")
    assert_error(response, 409, "idempotency_request_in_progress", "Idempotency-Key")
    assert Tenant.objects.count() == 1


def test_a_stored_answer_holding_a_secret_is_sealed_at_rest(api):
    # The signing secret of a new webhook endpoint is shown once; a retry with the same
    # key must show it again, but the stored copy must not hold it in clear.
    body = {"url": "https://hooks.example.com/trunkline", "events": ["tenant.created"]}
    headers = {"Idempotency-Key": "endpoint-1"}
    first = api.post("/v1/webhook-endpoints", body, headers=headers)
    assert first.status_code == 201, first.content
    secret = first.json()["secret"]
    stored = bytes(IdempotencyRecord.objects.get(key="endpoint-1").response_body)
    assert secret.encode() not in stored and b"whsec_" not in stored
    replay = api.post("/v1/webhook-endpoints", body, headers=headers)
    assert replay.json()["secret"] == secret
    assert replay["Cache-Control"] == "no-store"
