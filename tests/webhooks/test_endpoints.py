"""Webhook endpoints through the API: create, read, edit, toggle, delete, rotate."""

import pytest

from tests.core.capture import assert_error, capture_audit
from tests.factories import make_api_key
from tests.webhooks.helpers import fake_resolver
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import AuditEntry
from trunkline.webhooks.models import WebhookEndpoint
from trunkline.webhooks.signing import secret_open

URL = "https://hooks.example.com/trunkline"


@pytest.fixture(autouse=True)
def _public_names(monkeypatch):
    # Endpoint names are resolved when saved; keep these tests off the network.
    fake_resolver(monkeypatch, {"hooks.example.com": "93.184.216.34"})


def create(api, **overrides):
    body = {"url": URL, "description": "CRM sync", "events": ["tenant.created"]}
    body.update(overrides)
    return api.post("/v1/webhook-endpoints", body)


class TestCreate:
    def test_answers_201_with_the_secret_shown_once(self, api, partner):
        with capture_audit(["webhook_endpoint.created"]):
            response = create(api, events=["tenant.updated", "tenant.created"])
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["id"].startswith("whe_")
        assert body["url"] == URL
        assert body["description"] == "CRM sync"
        assert body["events"] == ["tenant.created", "tenant.updated"]  # catalogue order
        assert body["status"] == "ACTIVE"
        assert body["consecutive_failures"] == 0
        assert response["Cache-Control"] == "no-store"
        secret = body["secret"]
        assert secret.startswith("whsec_")
        import base64

        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
        # Later reads never show it again.
        again = api.get(f"/v1/webhook-endpoints/{body['id']}").json()
        assert "secret" not in again
        listed = api.get("/v1/webhook-endpoints").json()["data"]
        assert [item["id"] for item in listed] == [body["id"]]
        assert "secret" not in listed[0]

    def test_the_secret_is_stored_only_encrypted(self, api):
        body = create(api).json()
        endpoint = WebhookEndpoint.objects.get(id=body["id"])
        assert body["secret"] not in endpoint.secret_encrypted
        assert secret_open(endpoint.secret_encrypted, endpoint_id=endpoint.id) == body["secret"]
        for entry in AuditEntry.objects.all():
            assert body["secret"] not in str(entry.before) + str(entry.after)

    def test_every_catalogue_event_can_be_chosen(self, api):
        response = create(api, events=list(EVENT_TYPES))
        assert response.status_code == 201
        assert response.json()["events"] == list(EVENT_TYPES)

    @pytest.mark.parametrize(
        "events, message",
        [([], "at least one"), (["tenant.exploded"], "tenant.exploded"), (["TENANT.CREATED"], "")],
    )
    def test_unknown_or_no_events_are_422(self, api, events, message):
        error = assert_error(create(api, events=events), 422, "validation_error", "events")
        assert message in error["message"]
        assert WebhookEndpoint.objects.count() == 0

    @pytest.mark.parametrize(
        "url",
        [
            "http://hooks.example.com/plain",
            "ftp://hooks.example.com/x",
            "hooks.example.com/no-scheme",
            "https:///no-host",
            "https://user:pass@hooks.example.com/x",
            "https://hooks.example.com/with space",
            "",
        ],
    )
    def test_urls_that_are_not_plain_https_are_422(self, api, url):
        assert_error(create(api, url=url), 422, "validation_error", "url")

    @pytest.mark.parametrize(
        "url",
        [
            "https://127.0.0.1/hook",
            "https://127.8.9.10:8443/hook",
            "https://[::1]/hook",
            "https://10.1.2.3/hook",
            "https://192.168.1.20/hook",
            "https://172.16.0.1/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fe80::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://100.64.0.1/hook",
            "https://0.0.0.0/hook",
            "https://224.0.0.1/hook",
            "https://localhost/hook",
            "https://rebind.example.com/hook",
        ],
    )
    def test_private_loopback_and_link_local_targets_are_refused(self, api, monkeypatch, url):
        fake_resolver(
            monkeypatch, {"hooks.example.com": "93.184.216.34", "rebind.example.com": "127.0.0.1"}
        )
        error = assert_error(create(api, url=url), 422, "validation_error", "url")
        assert "address" in error["message"] or "this machine" in error["message"]
        assert WebhookEndpoint.objects.count() == 0

    def test_private_targets_and_http_are_allowed_when_configured(self, api, allow_private):
        response = create(api, url="http://127.0.0.1:9000/hook")
        assert response.status_code == 201
        assert response.json()["url"] == "http://127.0.0.1:9000/hook"

    def test_a_name_that_does_not_resolve_yet_is_accepted(self, api, monkeypatch):
        import socket

        def no_answer(host, *args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        monkeypatch.setattr(socket, "getaddrinfo", no_answer)
        response = create(api, url="https://not-yet.example.net/hook")
        assert response.status_code == 201  # checked again at every send

    def test_unknown_fields_and_bad_types_are_422(self, api):
        assert_error(create(api, secret="whsec_mine"), 422, "validation_error", "secret")
        assert_error(create(api, events="tenant.created"), 422, "validation_error", "events")


class TestReadAndEdit:
    def test_patch_changes_url_description_and_events(self, api, monkeypatch):
        fake_resolver(monkeypatch, {"new.example.com": "93.184.216.35"})
        endpoint_id = create(api).json()["id"]
        with capture_audit(["webhook_endpoint.updated"]) as entries:
            response = api.patch(
                f"/v1/webhook-endpoints/{endpoint_id}",
                {
                    "url": "https://new.example.com/x",
                    "description": "",
                    "events": ["call.completed"],
                },
            )
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["url"] == "https://new.example.com/x"
        assert body["description"] == ""
        assert body["events"] == ["call.completed"]
        assert entries[0].before["url"] == URL

    def test_patch_refuses_private_urls_and_unknown_events(self, api):
        endpoint_id = create(api).json()["id"]
        path = f"/v1/webhook-endpoints/{endpoint_id}"
        assert_error(api.patch(path, {"url": "https://10.0.0.1/"}), 422, field="url")
        assert_error(api.patch(path, {"events": ["nope"]}), 422, field="events")
        assert_error(api.patch(path, {"events": None}), 422, field="events")
        assert_error(api.patch(path, {"status": "PAUSED"}), 422, field="status")
        assert api.get(path).json()["url"] == URL

    def test_toggle_status(self, api):
        endpoint_id = create(api).json()["id"]
        path = f"/v1/webhook-endpoints/{endpoint_id}"
        with capture_audit(["webhook_endpoint.disabled"]):
            body = api.patch(path, {"status": "DISABLED"}).json()
        assert body["status"] == "DISABLED"
        assert body["disabled_reason"] == "manual"
        WebhookEndpoint.objects.filter(id=endpoint_id).update(consecutive_failures=7)
        with capture_audit(["webhook_endpoint.enabled"]):
            body = api.patch(path, {"status": "ACTIVE"}).json()
        assert body["status"] == "ACTIVE"
        assert body["disabled_reason"] is None
        assert body["consecutive_failures"] == 0

    def test_delete_hides_the_endpoint(self, api):
        endpoint_id = create(api).json()["id"]
        with capture_audit(["webhook_endpoint.deleted"]):
            response = api.delete(f"/v1/webhook-endpoints/{endpoint_id}")
        assert response.status_code == 204
        assert_error(api.get(f"/v1/webhook-endpoints/{endpoint_id}"), 404, "not_found")
        assert_error(api.delete(f"/v1/webhook-endpoints/{endpoint_id}"), 404, "not_found")
        assert api.get("/v1/webhook-endpoints").json()["data"] == []
        assert WebhookEndpoint.objects.filter(id=endpoint_id).exists()  # history is kept

    def test_rotate_secret_shows_a_new_secret_once(self, api):
        created = create(api).json()
        with capture_audit(["webhook_endpoint.secret_rotated"]) as entries:
            response = api.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret")
        assert response.status_code == 200, response.content
        assert response["Cache-Control"] == "no-store"
        secret = response.json()["secret"]
        assert secret.startswith("whsec_") and secret != created["secret"]
        assert response.json()["secret_rotated_at"] is not None
        endpoint = WebhookEndpoint.objects.get(id=created["id"])
        assert secret_open(endpoint.secret_encrypted, endpoint_id=endpoint.id) == secret
        assert secret not in str(entries[0].after)

    def test_event_types_are_the_catalogue(self, api):
        body = api.get("/v1/webhook-event-types").json()
        assert [item["name"] for item in body["data"]] == list(EVENT_TYPES)
        assert {"name", "category", "description"} == set(body["data"][0])
        assert body["next_cursor"] is None


class TestIsolation:
    def test_another_partners_endpoint_is_404_everywhere(self, api, other_partner, make_api):
        foreign = make_api(make_api_key(other_partner[0]))
        endpoint_id = create(foreign).json()["id"]
        base = f"/v1/webhook-endpoints/{endpoint_id}"
        assert_error(api.get(base), 404, "not_found")
        assert_error(api.patch(base, {"description": "x"}), 404, "not_found")
        assert_error(api.delete(base), 404, "not_found")
        assert_error(api.post(f"{base}/rotate-secret"), 404, "not_found")
        assert_error(api.get(f"{base}/deliveries"), 404, "not_found")
        assert api.get("/v1/webhook-endpoints").json()["data"] == []
        assert WebhookEndpoint.objects.get(id=endpoint_id).description == "CRM sync"

    def test_read_scope_cannot_write(self, partner, make_api):
        reader = make_api(make_api_key(partner, scopes="webhooks:read"))
        assert_error(create(reader), 403, "permission_denied")
        assert reader.get("/v1/webhook-endpoints").status_code == 200
        other = make_api(make_api_key(partner, scopes="tenants:write"))
        assert_error(other.get("/v1/webhook-endpoints"), 403, "permission_denied")

    def test_a_key_limited_to_some_tenants_cannot_use_webhooks(self, partner, admin, make_api):
        from tests.factories import make_tenant

        tenant = make_tenant(admin)
        limited = make_api(make_api_key(partner, tenant_ids=[tenant.id]))
        assert_error(create(limited), 403, "permission_denied")
        assert_error(limited.get("/v1/webhook-endpoints"), 403, "permission_denied")
