"""Settings → Audit Log: the partner's changes and API requests, never another partner's."""

from datetime import timedelta

from django.utils import timezone

from tests.factories import make_api_key, make_tenant
from tests.portal.conftest import htmx_headers
from trunkline.accounts.models import ApiKey, ApiRequestLog
from trunkline.core.models import AuditEntry


def test_lists_the_partners_entries_with_their_changes(admin_client, admin, tenant):
    admin_client.post(f"/tenants/{tenant.id}/suspend", {"reason": "Past due"})
    response = admin_client.get("/settings/audit-log")
    content = response.content.decode()
    assert "tenant.created" in content
    assert "tenant.suspended" in content
    assert admin.email in content
    assert "<del>TRIAL</del>" in content
    assert "<ins>SUSPENDED</ins>" in content
    entry = AuditEntry.objects.get(action="tenant.suspended")
    assert entry.request_id and entry.request_id in content


def test_never_shows_another_partners_entries(admin_client, tenant, other_partner):
    _, admin_b, tenant_b = other_partner
    content = admin_client.get("/settings/audit-log").content.decode()
    assert tenant_b.id not in content
    assert admin_b.email not in content
    # Not even when asked for by id or by actor.
    content = admin_client.get("/settings/audit-log", {"object_id": tenant_b.id}).content.decode()
    assert "No entries" in content
    content = admin_client.get("/settings/audit-log", {"actor": admin_b.email}).content.decode()
    assert "No entries" in content


def test_filter_by_action_object_and_actor(admin_client, admin, tenant):
    second = make_tenant(admin, name="Second Tenant")
    admin_client.post(f"/tenants/{tenant.id}/suspend", {"reason": ""})

    page = admin_client.get("/settings/audit-log", {"action": "tenant.suspended"}).context["page"]
    assert [entry.object_id for entry in page.items] == [tenant.id]

    page = admin_client.get("/settings/audit-log", {"object_id": second.id}).context["page"]
    assert {entry.object_id for entry in page.items} == {second.id}

    page = admin_client.get("/settings/audit-log", {"actor": admin.email[:6]}).context["page"]
    assert page.items and all(entry.actor_label == admin.email for entry in page.items)

    page = admin_client.get("/settings/audit-log", {"actor": "nobody@"}).context["page"]
    assert page.items == []


def test_filter_by_dates(admin_client, tenant):
    old = AuditEntry.objects.get(action="tenant.created", object_id=tenant.id)
    old.created_at = timezone.now() - timedelta(days=10)
    old.save()
    today = timezone.now().date()
    page = admin_client.get("/settings/audit-log", {"date_from": today.isoformat()}).context["page"]
    assert old.id not in {entry.id for entry in page.items}
    page = admin_client.get(
        "/settings/audit-log", {"date_to": (today - timedelta(days=5)).isoformat()}
    ).context["page"]
    assert [entry.id for entry in page.items] == [old.id]


def test_invalid_date_shows_an_error(admin_client):
    response = admin_client.get("/settings/audit-log", {"date_from": "yesterday"})
    assert response.status_code == 200
    assert response.context["form"].errors["date_from"]


def test_action_filter_offers_only_own_actions(admin_client, tenant, other_partner):
    partner_b, _, _ = other_partner
    make_api_key(partner_b)
    content = admin_client.get("/settings/audit-log").content.decode()
    assert '<option value="tenant.created">' in content
    assert "api_key.created" not in content


def test_entries_are_paginated(admin_client, admin, partner):
    for number in range(55):
        make_tenant(admin, name=f"T{number}")
    first = admin_client.get("/settings/audit-log", {"action": "tenant.created"})
    page = first.context["page"]
    assert len(page.items) == 50
    assert "action=tenant.created" in first.context["load_more_url"]
    more = admin_client.get(first.context["load_more_url"], **htmx_headers("load-more"))
    assert "<html" not in more.content.decode()
    ids = [entry.id for entry in page.items] + [entry.id for entry in more.context["page"].items]
    assert len(ids) == len(set(ids)) == 55


def test_partner_user_can_read_the_audit_log(reader_client, tenant):
    assert "tenant.created" in reader_client.get("/settings/audit-log").content.decode()


# API requests tab


def test_api_requests_tab_lists_calls_made_with_keys(admin_client, api, partner, client):
    assert api.get("/v1/tenants").status_code == 200
    response = admin_client.get("/settings/audit-log/api-requests")
    content = response.content.decode()
    log = ApiRequestLog.objects.get(partner=partner)
    assert "/v1/tenants" in content
    assert log.request_id in content
    assert "test key" in content


def _log(partner, api_key_id="key_x", name="CRM", when=None, path="/v1/tenants"):
    return ApiRequestLog.objects.create(
        partner=partner,
        api_key_id=api_key_id,
        api_key_name=name,
        method="GET",
        path=path,
        status_code=200,
        request_id="req_test",
        ip_address="203.0.113.7",
        created_at=when or timezone.now(),
    )


def test_api_requests_filter_by_key_and_date(admin_client, partner):
    make_api_key(partner, name="CRM")
    make_api_key(partner, name="Billing")
    crm = ApiKey.objects.get(name="CRM")
    billing = ApiKey.objects.get(name="Billing")
    _log(partner, crm.id, "CRM", path="/v1/crm-call")
    _log(partner, billing.id, "Billing", path="/v1/billing-call")
    _log(partner, crm.id, "CRM", when=timezone.now() - timedelta(days=3), path="/v1/old-call")

    content = admin_client.get(
        "/settings/audit-log/api-requests", {"api_key": crm.id}
    ).content.decode()
    assert "/v1/crm-call" in content and "/v1/old-call" in content
    assert "/v1/billing-call" not in content

    today = timezone.now().date().isoformat()
    content = admin_client.get(
        "/settings/audit-log/api-requests", {"api_key": crm.id, "date_from": today}
    ).content.decode()
    assert "/v1/crm-call" in content and "/v1/old-call" not in content


def test_api_requests_never_show_another_partner(admin_client, partner, other_partner):
    partner_b, _, _ = other_partner
    _log(partner_b, "key_b", "B secret integration", path="/v1/b-only")
    content = admin_client.get("/settings/audit-log/api-requests").content.decode()
    assert "/v1/b-only" not in content
    assert "B secret integration" not in content
    content = admin_client.get(
        "/settings/audit-log/api-requests", {"api_key": "key_b"}
    ).content.decode()
    assert "/v1/b-only" not in content


def test_api_requests_are_paginated(admin_client, partner):
    now = timezone.now()
    for number in range(60):
        # Pairs share a timestamp, so the cursor's tie-break on id is exercised.
        _log(partner, when=now - timedelta(seconds=number // 2), path=f"/v1/call-{number}")
    first = admin_client.get("/settings/audit-log/api-requests")
    page = first.context["page"]
    assert len(page.items) == 50
    more = admin_client.get(first.context["load_more_url"], **htmx_headers("load-more"))
    rest = more.context["page"]
    assert rest.next_cursor is None
    paths = [log.path for log in page.items + rest.items]
    assert len(paths) == len(set(paths)) == 60


def test_api_requests_bad_cursor(admin_client):
    response = admin_client.get("/settings/audit-log/api-requests", {"cursor": "bm9wZQ"})
    assert response.status_code == 400


def test_a_creation_shows_values_without_a_before_side(admin_client, tenant):
    page = admin_client.get("/settings/audit-log", {"action": "tenant.created"})
    content = page.content.decode()
    assert "<ins>acmeplumb</ins>" in content
    assert "<del>" not in content
