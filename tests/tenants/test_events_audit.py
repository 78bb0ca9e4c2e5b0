"""Each call writes exactly the expected outbox events and audit entries, atomically."""

import pytest
from django.db import transaction
from django.db.models.signals import post_save

from tests.core.capture import assert_error, capture_audit, capture_events
from tests.factories import actor_for_user, make_api_key
from tests.tenants.helpers import AR_ADDRESS, tenant_body
from trunkline.accounts.models import ApiKey
from trunkline.core.models import AuditEntry, Event
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_create, tenant_delete, tenant_suspend, tenant_update


def _path(tenant, action=""):
    return f"/v1/tenants/{tenant.id}" + (f"/{action}" if action else "")


class TestEventsPerCall:
    def test_create(self, api, partner):
        with capture_events(["tenant.created"]) as events:
            created = api.post("/v1/tenants", tenant_body(sip_prefix="acme")).json()
        event = events[0]
        assert event.partner_id == partner.id
        assert set(event.payload) == {"tenant"}
        assert event.payload["tenant"]["id"] == created["id"]
        assert event.payload["tenant"]["name"] == "Acme Plumbing"
        assert event.payload["tenant"]["sip_prefix"] == "acme"
        assert event.payload["tenant"]["status"] == "TRIAL"

    def test_the_webhook_envelope(self, api, partner):
        with capture_events(["tenant.created"]) as events:
            api.post("/v1/tenants", tenant_body())
        envelope = events[0].envelope()
        assert set(envelope) == {"id", "type", "created_at", "partner_id", "data"}
        assert envelope["id"].startswith("evt_")
        assert envelope["type"] == "tenant.created"
        assert envelope["partner_id"] == partner.id
        assert envelope["created_at"].endswith("Z")
        assert envelope["data"]["tenant"]["status"] == "TRIAL"

    def test_create_suspended(self, api):
        with capture_events(["tenant.created", "tenant.suspended"]):
            api.post("/v1/tenants", tenant_body(status="SUSPENDED"))

    def test_update_names_previous_attributes(self, api, tenant):
        with capture_events(["tenant.updated"]) as events:
            api.patch(_path(tenant), {"name": "Acme Heating", "default_cnam": "ACME HEAT"})
        payload = events[0].payload
        assert payload["tenant"]["name"] == "Acme Heating"
        assert payload["previous_attributes"] == {"name": "Acme Plumbing", "default_cnam": None}

    def test_an_edit_that_changes_nothing_is_silent(self, api, tenant):
        with capture_events([]), capture_audit([]):
            assert api.patch(_path(tenant), {"name": tenant.name}).status_code == 200
            assert api.patch(_path(tenant), {}).status_code == 200
        assert Tenant.objects.get(pk=tenant.pk).updated_at == tenant.updated_at

    def test_a_plain_status_change_is_one_update(self, api, admin):
        trial = tenant_create(
            actor=actor_for_user(admin), name="Trial Co", billing_email="a@trial.example"
        )
        with capture_events(["tenant.updated"]) as events:
            api.patch(_path(trial), {"status": "ACTIVE", "name": "Paying Co"})
        assert events[0].payload["previous_attributes"] == {"status": "TRIAL", "name": "Trial Co"}
        assert events[0].payload["tenant"]["status"] == "ACTIVE"

    def test_edit_and_suspend_in_one_call(self, api, tenant):
        with capture_events(["tenant.updated", "tenant.suspended"]) as events:
            api.patch(_path(tenant), {"name": "Acme Heating", "status": "SUSPENDED"})
        assert events[0].payload["previous_attributes"] == {"name": "Acme Plumbing"}
        assert events[1].payload["tenant"]["status"] == "SUSPENDED"

    def test_suspend_unsuspend_delete_reactivate(self, api, tenant):
        with capture_events(["tenant.suspended"]) as events:
            api.post(_path(tenant, "suspend"), {"reason": "Past due"})
        assert events[0].payload["tenant"]["status"] == "SUSPENDED"
        with capture_events(["tenant.unsuspended"]) as events:
            api.post(_path(tenant, "unsuspend"))
        assert events[0].payload["tenant"]["status"] == "ACTIVE"
        with capture_events(["tenant.deleted"]) as events:
            api.delete(_path(tenant))
        assert events[0].payload["tenant"]["status"] == "CANCELLED"
        assert events[0].payload["purge_after"].endswith("Z")
        with capture_events(["tenant.updated"]):
            api.post(_path(tenant, "reactivate"))

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("post", "/v1/tenants", tenant_body(timezone="Mars/Base")),
            ("patch", "{tenant}", {"sip_prefix": "other"}),
            ("post", "{tenant}/unsuspend", None),
            ("get", "{tenant}", None),
            ("get", "/v1/tenants", None),
        ],
    )
    def test_refused_and_read_only_calls_emit_nothing(self, api, tenant, method, path, body):
        path = path.format(tenant=_path(tenant))
        with capture_events([]), capture_audit([]):
            if method == "get":
                api.get(path)
            else:
                getattr(api, method)(path, body)

    def test_events_belong_to_the_tenants_partner(self, api, partner, other_partner):
        partner_b, admin_b = other_partner
        with capture_events() as events:
            api.post("/v1/tenants", tenant_body())
            tenant_create(
                actor=actor_for_user(admin_b), name="Bravo", billing_email="b@bravo.example"
            )
        assert [event.partner_id for event in events] == [partner.id, partner_b.id]


class TestAudit:
    def test_api_calls_are_attributed_to_the_key(self, partner, make_api):
        plaintext = make_api_key(partner, name="CRM sync")
        api_key = ApiKey.objects.get(partner=partner, name="CRM sync")
        client = make_api(plaintext)
        with capture_audit(["tenant.created"]) as entries:
            response = client.post("/v1/tenants", tenant_body(e911_address=AR_ADDRESS))
        entry = entries[0]
        assert entry.actor_type == AuditEntry.ActorType.API_KEY
        assert entry.actor_id == api_key.id
        assert entry.actor_label == "CRM sync"
        assert entry.partner_id == partner.id
        assert entry.object_type == "tenant"
        assert entry.object_id == response.json()["id"]
        assert entry.tenant_id == response.json()["id"]
        assert entry.before is None
        assert entry.after["name"] == "Acme Plumbing"
        assert entry.after["e911_address"]["postal_code"] == "72201"
        assert entry.request_id == response["X-Request-Id"]
        assert entry.ip_address == "127.0.0.1"

    def test_the_callers_request_id_is_kept(self, api, tenant):
        with capture_audit(["tenant.updated"]) as entries:
            response = api.patch(
                _path(tenant), {"name": "Acme 2"}, headers={"X-Request-Id": "crm-4711-abcdef"}
            )
        assert response["X-Request-Id"] == "crm-4711-abcdef"
        assert entries[0].request_id == "crm-4711-abcdef"
        assert entries[0].before == {"name": "Acme Plumbing"}
        assert entries[0].after == {"name": "Acme 2"}

    @pytest.mark.parametrize(
        ("action", "expected", "before", "after"),
        [
            ("suspend", "tenant.suspended", {"status": "ACTIVE"}, {"status": "SUSPENDED"}),
            ("delete", "tenant.deleted", {"status": "ACTIVE"}, {"status": "CANCELLED"}),
        ],
    )
    def test_status_changes(self, api, tenant, action, expected, before, after):
        with capture_audit([expected]) as entries:
            response = (
                api.delete(_path(tenant)) if action == "delete" else api.post(_path(tenant, action))
            )
        assert (entries[0].before, entries[0].after) == (before, after)
        assert entries[0].request_id == response["X-Request-Id"]

    def test_a_suspension_reason_is_audited(self, api, tenant):
        with capture_audit(["tenant.suspended"]) as entries:
            api.post(_path(tenant, "suspend"), {"reason": "Chargeback"})
        assert entries[0].after == {"status": "SUSPENDED", "reason": "Chargeback"}

    def test_portal_users_are_attributed_by_user(self, admin):
        actor = actor_for_user(admin, request_id="req_portal_1", ip_address="203.0.113.9")
        with capture_audit(["tenant.created", "tenant.suspended"]) as entries:
            tenant = tenant_create(actor=actor, name="Acme", billing_email="a@acme.example")
            tenant_suspend(actor=actor, tenant=tenant, reason="x")
        for entry in entries:
            assert (entry.actor_type, entry.actor_id) == ("user", admin.id)
            assert entry.actor_label == admin.email
            assert entry.request_id == "req_portal_1"
            assert entry.ip_address == "203.0.113.9"


class _Boom(Exception):
    pass


class TestRollback:
    """The audit entry and the event commit or roll back with the change itself."""

    def test_create(self, admin):
        with pytest.raises(_Boom), transaction.atomic():
            tenant_create(actor=actor_for_user(admin), name="Acme", billing_email="a@acme.example")
            raise _Boom
        assert not Tenant.objects.exists()
        assert not AuditEntry.objects.filter(action__startswith="tenant.").exists()
        assert not Event.objects.exists()

    def test_update_and_delete(self, admin, tenant):
        actor = actor_for_user(admin)
        with pytest.raises(_Boom), transaction.atomic():
            tenant_update(actor=actor, tenant=tenant, changes={"name": "Renamed"})
            tenant_delete(actor=actor, tenant=tenant)
            raise _Boom
        stored = Tenant.objects.get(pk=tenant.pk)
        assert (stored.name, stored.status) == ("Acme Plumbing", "ACTIVE")
        assert list(Event.objects.values_list("type", flat=True)) == ["tenant.created"]
        assert list(
            AuditEntry.objects.filter(object_id=tenant.id).values_list("action", flat=True)
        ) == ["tenant.created"]

    def test_a_failure_after_the_writes_leaves_nothing(self, api):
        """The service's last write fails: the tenant and its audit entry go with it."""

        def fail(sender, instance, **kwargs):
            raise _Boom("outbox unavailable")

        post_save.connect(fail, sender=Event, dispatch_uid="fail-outbox")
        try:
            response = api.post("/v1/tenants", tenant_body())
        finally:
            post_save.disconnect(sender=Event, dispatch_uid="fail-outbox")
        assert_error(response, 500, "internal_error")
        assert "outbox unavailable" not in response.content.decode()
        assert not Tenant.objects.exists()
        assert not AuditEntry.objects.filter(action__startswith="tenant.").exists()
        assert not Event.objects.exists()
