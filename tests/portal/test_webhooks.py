"""Settings → Webhooks: endpoints, the secret shown once, and the deliveries debugger."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import actor_for_user, make_tenant
from tests.portal.conftest import htmx_headers, sign_in
from tests.webhooks.helpers import Receiver
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import AuditEntry
from trunkline.webhooks import services, signing
from trunkline.webhooks.delivery import deliver_due
from trunkline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

URL = "https://hooks.example.com/trunkline"


@pytest.fixture(autouse=True)
def _offline_urls(settings):
    # Test URLs name hosts that do not resolve here; the address rules have their own tests.
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True


def _create(client, **fields):
    data = {"url": URL, "description": "CRM sync", "events": ["tenant.created"]}
    data.update(fields)
    return client.post("/settings/webhooks/new", data, **htmx_headers("modal"))


def _endpoint(admin, url=URL, events=("tenant.created",)) -> tuple[WebhookEndpoint, str]:
    return services.endpoint_create(actor=actor_for_user(admin), url=url, events=list(events))


def _attempted(delivery: WebhookDelivery, *, code: int | None, body: str = "", error: str = ""):
    """Record an attempt on a delivery as the sender would, for display tests."""
    now = timezone.now()
    number = delivery.attempts + 1
    request_body = delivery.event.envelope()
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=number,
        started_at=now,
        duration_ms=42,
        url=delivery.endpoint.url,
        request_body=json.dumps(request_body),
        response_code=code,
        response_body=body,
        error=error,
    )
    delivered = code is not None and 200 <= code < 300
    delivery.attempts = number
    delivery.last_attempt_at = now
    delivery.last_response_code = code
    delivery.last_error = error
    delivery.status = WebhookDelivery.Status.DELIVERED if delivered else "FAILED"
    delivery.next_attempt_at = None if delivered else now + timedelta(seconds=30)
    delivery.save()
    return delivery


# --- endpoints -------------------------------------------------------------------------


def test_settings_menu_links_to_webhooks(admin_client):
    assert 'href="/settings/webhooks"' in admin_client.get("/").content.decode()


def test_add_endpoint_form_groups_events_by_category(admin_client):
    content = admin_client.get("/settings/webhooks/new").content.decode()
    for name in EVENT_TYPES:
        assert f'value="{name}"' in content
    for category in ("Tenants", "Phone Numbers", "Extensions", "Billing", "Calls"):
        assert f"<legend>{category}</legend>" in content
        assert f'aria-label="Select all {category} events"' in content
    assert "<strong>Select All</strong>" in content


def test_create_shows_the_secret_exactly_once(admin_client, partner):
    response = _create(admin_client, events=["tenant.created", "tenant.deleted"])
    assert response.status_code == 201
    secret = response.context["secret"]
    assert secret.startswith("whsec_")
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    endpoint = WebhookEndpoint.objects.get(partner=partner)
    assert endpoint.url == URL
    assert endpoint.description == "CRM sync"
    assert endpoint.events == ["tenant.created", "tenant.deleted"]
    assert signing.secret_open(endpoint.secret_encrypted, endpoint_id=endpoint.id) == secret
    assert secret not in endpoint.secret_encrypted

    listing = admin_client.get("/settings/webhooks").content.decode()
    assert URL in listing
    assert secret not in listing
    assert secret not in admin_client.get(f"/settings/webhooks/{endpoint.id}/edit").content.decode()
    entry = AuditEntry.objects.get(action="webhook_endpoint.created", object_id=endpoint.id)
    assert secret not in str(entry.after)


def test_list_shows_events_count_status_failures_and_reason(admin_client, admin):
    healthy, _ = _endpoint(admin, url="https://a.example.com/hook")
    failing, _ = _endpoint(admin, url="https://b.example.com/hook", events=list(EVENT_TYPES))
    WebhookEndpoint.objects.filter(pk=failing.pk).update(
        status="DISABLED", disabled_reason="failures", consecutive_failures=100
    )
    WebhookEndpoint.objects.filter(pk=healthy.pk).update(consecutive_failures=3)
    content = admin_client.get("/settings/webhooks").content.decode()
    assert "Consecutive Failures: 3" in content
    assert "Consecutive Failures: 100" in content
    assert "100 consecutive failures" in content  # the auto-disable reason
    assert f"{len(EVENT_TYPES)} (all)" in content
    assert '<span class="badge DISABLED">DISABLED</span>' in content
    assert '<span class="badge ACTIVE">ACTIVE</span>' in content


def test_create_errors_are_shown_next_to_fields(admin_client, partner, settings):
    response = _create(admin_client, events=[])
    assert response.status_code == 422
    assert "event" in response.context["form"].errors["events"][0].lower()
    response = _create(admin_client, url="")
    assert response.context["form"].errors["url"]
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = False
    response = _create(admin_client, url="http://hooks.example.com/plain")
    assert "https" in response.context["form"].errors["url"][0]
    response = _create(admin_client, url="https://127.0.0.1/hook")
    assert "public" in response.context["form"].errors["url"][0]
    assert not WebhookEndpoint.objects.filter(partner=partner).exists()


def test_edit_url_description_and_events(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    form = admin_client.get(f"/settings/webhooks/{endpoint.id}/edit").content.decode()
    assert 'value="tenant.created" checked' in form
    assert 'value="tenant.updated">' in form
    response = admin_client.post(
        f"/settings/webhooks/{endpoint.id}/edit",
        {
            "url": "https://new.example.com/hook",
            "description": "Billing sync",
            "events": ["invoice.paid", "tenant.updated"],
        },
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://new.example.com/hook"
    assert endpoint.description == "Billing sync"
    assert sorted(endpoint.events) == ["invoice.paid", "tenant.updated"]


def test_toggle_disables_and_enables(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    response = admin_client.post(f"/settings/webhooks/{endpoint.id}/toggle", **htmx_headers())
    assert response["HX-Redirect"] == "/settings/webhooks"
    endpoint.refresh_from_db()
    assert endpoint.status == "DISABLED"
    assert endpoint.disabled_reason == "manual"
    content = admin_client.get("/settings/webhooks").content.decode()
    assert "Disabled by you" in content
    assert f'aria-label="Enable {URL}"' in content
    admin_client.post(f"/settings/webhooks/{endpoint.id}/toggle")
    endpoint.refresh_from_db()
    assert endpoint.status == "ACTIVE"


def test_toggle_is_post_only(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    assert admin_client.get(f"/settings/webhooks/{endpoint.id}/toggle").status_code == 405
    endpoint.refresh_from_db()
    assert endpoint.status == "ACTIVE"


def test_rotate_secret_shows_the_new_one_once(admin_client, admin):
    endpoint, old_secret = _endpoint(admin)
    confirm = admin_client.get(f"/settings/webhooks/{endpoint.id}/rotate-secret")
    assert "stops working at once" in confirm.content.decode()
    endpoint.refresh_from_db()
    assert signing.secret_open(endpoint.secret_encrypted, endpoint_id=endpoint.id) == old_secret

    response = admin_client.post(
        f"/settings/webhooks/{endpoint.id}/rotate-secret", **htmx_headers("modal")
    )
    assert response.status_code == 200
    new_secret = response.context["secret"]
    assert new_secret != old_secret
    assert new_secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    endpoint.refresh_from_db()
    assert signing.secret_open(endpoint.secret_encrypted, endpoint_id=endpoint.id) == new_secret
    assert new_secret not in admin_client.get("/settings/webhooks").content.decode()


def test_delete_asks_first_and_keeps_the_history(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    make_tenant(admin)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    confirm = admin_client.get(f"/settings/webhooks/{endpoint.id}/delete").content.decode()
    assert "past deliveries are kept" in confirm
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is None

    response = admin_client.post(f"/settings/webhooks/{endpoint.id}/delete")
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.deleted_at is not None
    listing = admin_client.get("/settings/webhooks").content.decode()
    assert "deleted. Nothing more will be sent to it." in listing
    assert f"<code>{URL}</code>" not in listing
    assert WebhookDelivery.objects.filter(pk=delivery.pk).exists()
    assert admin_client.get(f"/settings/webhooks/{endpoint.id}/deliveries").status_code == 404


# --- the deliveries debugger -------------------------------------------------------------


def test_deliveries_show_type_status_attempts_time_and_code(admin_client, admin):
    endpoint, _ = _endpoint(admin, events=["tenant.created", "tenant.suspended"])
    make_tenant(admin, name="Delivered Co")
    make_tenant(admin, name="Timeout Co")
    make_tenant(admin, name="Pending Co")
    delivered, timed_out, pending = WebhookDelivery.objects.filter(endpoint=endpoint).order_by(
        "created_at", "id"
    )
    _attempted(delivered, code=200, body='{"ok": true}')
    _attempted(timed_out, code=500, body="boom")
    _attempted(timed_out, code=None, error="Timeout")
    WebhookDelivery.objects.filter(pk=pending.pk).update(status="DEAD")

    response = admin_client.get(
        f"/settings/webhooks/{endpoint.id}/deliveries", **htmx_headers("modal")
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert 'role="dialog"' in content
    assert content.count("<code>tenant.created</code>") == 3
    for status in ("DELIVERED", "FAILED", "DEAD"):
        assert f'<span class="badge {status}">{status}</span>' in content
    assert "1/8" in content and "2/8" in content and "0/8" in content
    assert "Timeout" in content
    assert '<span class="http-status s2xx">200</span>' in content
    assert "Not sent yet" in content
    assert content.count(">Redeliver</button>") == 3


def test_a_delivery_expands_to_request_and_response_bodies(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    make_tenant(admin, name="Acme Plumbing")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    _attempted(delivery, code=503, body='{"error": "maintenance"}')

    response = admin_client.get(f"/settings/webhooks/deliveries/{delivery.id}", **htmx_headers())
    content = response.content.decode()
    assert "modal-backdrop" not in content  # a fragment for the card, not a new modal
    assert "Request body" in content and "Response body" in content
    assert "&quot;name&quot;: &quot;Acme Plumbing&quot;" in content
    assert f"&quot;id&quot;: &quot;{delivery.event_id}&quot;" in content
    assert "&quot;error&quot;: &quot;maintenance&quot;" in content
    # Without JavaScript the same detail is a page of its own.
    assert (
        "Request body"
        in admin_client.get(f"/settings/webhooks/deliveries/{delivery.id}").content.decode()
    )


def test_a_delivery_not_attempted_yet_shows_the_body_it_will_send(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    make_tenant(admin, name="Waiting Co")
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    content = admin_client.get(
        f"/settings/webhooks/deliveries/{delivery.id}", **htmx_headers()
    ).content.decode()
    assert "Not attempted yet" in content
    assert "Waiting Co" in content


def test_the_debugger_lists_the_last_100(admin_client, admin):
    endpoint, _ = _endpoint(admin, events=["tenant.updated"])
    tenant = make_tenant(admin)
    actor = actor_for_user(admin)
    from trunkline.tenants.services import tenant_update

    for number in range(101):
        tenant = tenant_update(actor=actor, tenant=tenant, changes={"name": f"Name {number}"})
    response = admin_client.get(f"/settings/webhooks/{endpoint.id}/deliveries")
    assert len(response.context["deliveries"]) == 100
    assert response.content.decode().count('class="delivery"') == 100


def test_redeliver_starts_the_same_delivery_again(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    make_tenant(admin)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    _attempted(delivery, code=500)
    response = admin_client.post(
        f"/settings/webhooks/deliveries/{delivery.id}/redeliver", **htmx_headers("modal")
    )
    assert response.status_code == 200
    assert "queued to be sent again" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "PENDING"
    assert delivery.attempts == 0
    assert delivery.next_attempt_at is not None
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 1


def test_redeliver_to_a_disabled_endpoint_says_why_not(admin_client, admin):
    endpoint, _ = _endpoint(admin)
    make_tenant(admin)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    services.endpoint_set_status(actor=actor_for_user(admin), endpoint=endpoint, status="DISABLED")
    response = admin_client.post(
        f"/settings/webhooks/deliveries/{delivery.id}/redeliver", **htmx_headers("modal")
    )
    assert response.status_code == 409
    assert "enable it first" in response.content.decode()


# --- who may do what ---------------------------------------------------------------------


def test_partner_user_sees_but_cannot_change(reader_client, admin):
    endpoint, secret = _endpoint(admin)
    make_tenant(admin)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    listing = reader_client.get("/settings/webhooks")
    assert listing.status_code == 200
    content = listing.content.decode()
    assert URL in content
    assert "Add Endpoint" not in content
    assert "Rotate Secret" not in content
    assert ">Delete<" not in content
    deliveries = reader_client.get(f"/settings/webhooks/{endpoint.id}/deliveries")
    assert deliveries.status_code == 200
    assert "Redeliver" not in deliveries.content.decode()
    assert reader_client.get(f"/settings/webhooks/deliveries/{delivery.id}").status_code == 200

    base = f"/settings/webhooks/{endpoint.id}"
    assert reader_client.get("/settings/webhooks/new").status_code == 403
    assert _create(reader_client).status_code == 403
    assert reader_client.post(f"{base}/edit", {"url": URL, "events": ["all"]}).status_code == 403
    assert reader_client.post(f"{base}/toggle").status_code == 403
    rotate = reader_client.post(f"{base}/rotate-secret")
    assert rotate.status_code == 403
    assert "whsec_" not in rotate.content.decode()
    assert reader_client.post(f"{base}/delete").status_code == 403
    redeliver = reader_client.post(f"/settings/webhooks/deliveries/{delivery.id}/redeliver")
    assert redeliver.status_code == 403

    endpoint.refresh_from_db()
    assert endpoint.status == "ACTIVE" and endpoint.deleted_at is None
    assert signing.secret_open(endpoint.secret_encrypted, endpoint_id=endpoint.id) == secret
    assert WebhookEndpoint.objects.count() == 1


def test_other_partners_endpoints_and_deliveries_answer_404(admin_client, other_partner):
    _, admin_b, _ = other_partner
    foreign, _ = _endpoint(admin_b, url="https://other.example.com/hook")
    make_tenant(admin_b)
    delivery = WebhookDelivery.objects.get(endpoint=foreign)
    base = f"/settings/webhooks/{foreign.id}"
    for path in (f"{base}/edit", f"{base}/rotate-secret", f"{base}/delete", f"{base}/deliveries"):
        assert admin_client.get(path).status_code == 404, path
    for path in (f"{base}/toggle", f"{base}/rotate-secret", f"{base}/delete"):
        assert admin_client.post(path).status_code == 404, path
    assert admin_client.get(f"/settings/webhooks/deliveries/{delivery.id}").status_code == 404
    redeliver = admin_client.post(f"/settings/webhooks/deliveries/{delivery.id}/redeliver")
    assert redeliver.status_code == 404
    foreign.refresh_from_db()
    assert foreign.status == "ACTIVE" and foreign.deleted_at is None
    assert "other.example.com" not in admin_client.get("/settings/webhooks").content.decode()


def test_writes_need_the_csrf_token(admin, admin_client):
    endpoint, _ = _endpoint(admin)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)
    base = f"/settings/webhooks/{endpoint.id}"
    assert (
        strict.post(
            "/settings/webhooks/new", {"url": URL, "events": ["tenant.created"]}
        ).status_code
        == 403
    )
    for path in (f"{base}/toggle", f"{base}/rotate-secret", f"{base}/delete", f"{base}/edit"):
        assert strict.post(path).status_code == 403, path
    endpoint.refresh_from_db()
    assert endpoint.status == "ACTIVE" and endpoint.deleted_at is None
    # Every form the pages render carries the token.
    page = strict.get("/settings/webhooks").content.decode()
    assert page.count('name="csrfmiddlewaretoken"') >= 2  # sign-out and the toggle
    assert "X-CSRFToken" in page  # htmx requests send it as a header


def test_signed_out_visitors_are_sent_to_sign_in(client, admin):
    endpoint, _ = _endpoint(admin)
    assert client.get("/settings/webhooks")["Location"].startswith("/login")
    response = client.post(f"/settings/webhooks/{endpoint.id}/toggle")
    assert response["Location"].startswith("/login")
    endpoint.refresh_from_db()
    assert endpoint.status == "ACTIVE"


# --- in a real browser -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_add_see_secret_toggle_and_debug_deliveries(page, live_server, admin):
    from playwright.sync_api import expect

    def respond(request, count):
        if count == 0:
            return 500, {"Content-Type": "application/json"}, b'{"error": "not ready"}'
        return 200, {}, b"ok"

    receiver = Receiver(respond)
    with receiver:
        _walk(page, live_server, admin, receiver, expect)


def _walk(page, live_server, admin, receiver, expect):
    hook_url = receiver.url("/hook")
    sign_in(page, admin, live_server)
    page.goto("/settings/webhooks")
    expect(page.get_by_role("heading", name="No webhook endpoints yet")).to_be_visible()

    # Add Endpoint: the form opens in a modal, events grouped with Select All.
    page.get_by_role("link", name="Add Endpoint").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Add Endpoint")).to_be_visible()
    dialog.get_by_label("Endpoint URL").fill(hook_url)
    dialog.get_by_label("Description (optional)").fill("Browser check")
    dialog.get_by_label("Select all Tenants events").check()
    tenants = dialog.locator("fieldset.event-group").filter(has_text="tenant.created")
    expect(tenants.locator("input[name=events]:checked")).to_have_count(5)
    tenants.locator("input[value='tenant.deleted']").uncheck()
    expect(dialog.get_by_label("Select all Tenants events")).not_to_be_checked()
    expect(dialog.locator("input[name=events]:checked")).to_have_count(4)
    dialog.get_by_role("button", name="Create Endpoint").click()

    # The secret, once, with a copy button.
    secret_box = dialog.get_by_label("Signing secret for")
    expect(secret_box).to_have_value(re.compile(r"^whsec_"))
    secret = secret_box.input_value()
    dialog.get_by_role("button", name="Copy").click()
    expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    dialog.get_by_role("link", name="I have saved the secret").click()

    row = page.locator("tr", has_text=hook_url)
    expect(row).to_contain_text("Browser check")
    expect(row.locator("td").nth(2)).to_have_text("4")
    expect(row).to_contain_text("ACTIVE")
    assert secret not in page.content()
    endpoint = WebhookEndpoint.objects.get(partner=admin.partner)
    assert sorted(endpoint.events) == [
        "tenant.created",
        "tenant.suspended",
        "tenant.unsuspended",
        "tenant.updated",
    ]

    # An event happens; the sender's first attempt meets a 500.
    make_tenant(admin, name="Browser Plumbing")
    assert deliver_due(worker_id="browser-test") == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    row.get_by_role("link", name="Deliveries").click()
    dialog = page.get_by_role("dialog")
    card = dialog.locator("details.delivery").first
    expect(card).to_contain_text("tenant.created")
    expect(card).to_contain_text("FAILED")
    expect(card).to_contain_text("1/8")
    expect(card.locator(".response-code")).to_have_text("500")
    card.locator("summary").click()
    expect(card.locator(".request-body")).to_contain_text('"name": "Browser Plumbing"')
    expect(card.locator(".response-body")).to_contain_text('"error": "not ready"')

    card.get_by_role("button", name=re.compile("^Redeliver")).click()
    expect(dialog.get_by_role("status")).to_contain_text("queued to be sent again")
    card = dialog.locator("details.delivery").first
    expect(card).to_contain_text("PENDING")
    expect(card).to_contain_text("0/8")
    delivery.refresh_from_db()
    assert delivery.status == "PENDING" and delivery.redelivered_at is not None

    # The same event, id and body go out again; this time the receiver takes it.
    assert deliver_due(worker_id="browser-test") == 1
    first, second = receiver.requests
    assert first.body == second.body
    assert second.headers["webhook-id"] == delivery.event_id
    dialog.get_by_role("button", name="Close").click()
    row.get_by_role("link", name="Deliveries").click()
    card = page.get_by_role("dialog").locator("details.delivery").first
    expect(card).to_contain_text("DELIVERED")
    expect(card).to_contain_text("1/8")
    expect(card.locator(".response-code")).to_have_text("200")
    dialog = page.get_by_role("dialog")

    # Close the modal, then Toggle Status.
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    row.get_by_role("button", name=f"Disable {hook_url}").click()
    expect(page.locator(".flash")).to_contain_text("disabled")
    row = page.locator("tr", has_text=hook_url)
    expect(row).to_contain_text("DISABLED")
    expect(row).to_contain_text("Disabled by you")
    endpoint.refresh_from_db()
    assert endpoint.status == "DISABLED"
