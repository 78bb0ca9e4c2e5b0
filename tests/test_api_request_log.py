"""The API request log: one row per key-authenticated call, as the ORM would store it."""

from datetime import timedelta

from django.utils import timezone

from trunkline.accounts.models import ApiKey, ApiRequestLog


def test_each_authenticated_call_writes_one_row(api, partner):
    before = timezone.now()
    response = api.get("/v1/tenants", params={"limit": 5}, headers={"X-Request-Id": "req-log-1234"})
    assert response.status_code == 200

    row = ApiRequestLog.objects.get()
    key = ApiKey.objects.get(partner=partner)
    assert row.partner_id == partner.id
    assert (row.api_key_id, row.api_key_name) == (key.id, key.name)
    assert (row.method, row.path, row.status_code) == ("GET", "/v1/tenants?limit=5", 200)
    assert row.request_id == "req-log-1234"
    assert row.ip_address == "127.0.0.1"
    assert row.duration_ms >= 0
    assert before - timedelta(seconds=1) <= row.created_at <= timezone.now()
    assert row.created_at.tzinfo is not None


def test_refused_calls_are_logged_with_their_status(api, partner):
    response = api.get("/v1/tenants/tnt_doesnotexist")
    assert response.status_code == 404
    assert list(ApiRequestLog.objects.values_list("status_code", flat=True)) == [404]


def test_calls_without_a_valid_key_are_not_logged(client, partner):
    response = client.get("/v1/tenants", HTTP_AUTHORIZATION="Bearer sk_live_not-a-real-key")
    assert response.status_code == 401
    assert not ApiRequestLog.objects.exists()
