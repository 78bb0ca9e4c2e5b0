"""TRIAL → ACTIVE → SUSPENDED → CANCELLED, the 90-day window and the purge."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.core.capture import assert_error, capture_audit, capture_events
from tests.factories import actor_for_user, make_api_key, make_tenant, make_user
from tests.tenants.helpers import row
from trunkline.accounts.models import ApiKey, User
from trunkline.core.errors import PermissionDenied
from trunkline.core.models import AuditEntry
from trunkline.core.scheduler import run_due_jobs
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import (
    tenant_delete,
    tenant_reactivate,
    tenant_suspend,
    tenant_unsuspend,
    tenants_purge_expired,
)


def _path(tenant, action=""):
    return f"/v1/tenants/{tenant.id}" + (f"/{action}" if action else "")


class TestSuspension:
    def test_suspend_and_unsuspend_an_active_tenant(self, api, tenant):
        with capture_events(["tenant.suspended"]) as events:
            response = api.post(_path(tenant, "suspend"), {"reason": "Past due invoice"})
        assert response.status_code == 200
        assert response.json()["status"] == "SUSPENDED"
        assert response.json()["suspension_reason"] == "Past due invoice"
        assert events[0].payload["reason"] == "Past due invoice"

        with capture_events(["tenant.unsuspended"]):
            response = api.post(_path(tenant, "unsuspend"))
        assert response.json()["status"] == "ACTIVE"
        assert response.json()["suspension_reason"] is None

    def test_suspend_without_a_body(self, api, tenant):
        assert api.post(_path(tenant, "suspend")).json()["status"] == "SUSPENDED"

    def test_a_trial_tenant_returns_to_trial(self, api, admin):
        trial = make_tenant(admin, status="TRIAL")
        api.post(_path(trial, "suspend"))
        assert api.post(_path(trial, "unsuspend")).json()["status"] == "TRIAL"

    def test_created_suspended_unsuspends_to_trial(self, api, admin):
        with capture_events(["tenant.created", "tenant.suspended"]):
            created = make_tenant(admin, status="SUSPENDED")
        assert api.post(_path(created, "unsuspend")).json()["status"] == "TRIAL"

    def test_suspend_through_an_edit(self, api, tenant):
        with capture_events(["tenant.suspended"]):
            response = api.patch(_path(tenant), {"status": "SUSPENDED"})
        assert response.json()["status"] == "SUSPENDED"
        with capture_events(["tenant.unsuspended"]):
            response = api.patch(_path(tenant), {"status": "ACTIVE"})
        assert response.json()["status"] == "ACTIVE"


class TestDeletion:
    def test_delete_cancels_with_a_90_day_window(self, api, tenant):
        started = timezone.now()
        with capture_events(["tenant.deleted"]) as events:
            response = api.delete(_path(tenant))
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "CANCELLED"
        stored = Tenant.objects.get(pk=tenant.pk)
        assert stored.cancelled_at >= started
        assert stored.purge_after == stored.cancelled_at + timedelta(days=90)
        assert events[0].payload["tenant"]["status"] == "CANCELLED"
        # a cancelled tenant is kept and still readable during the window
        assert api.get(_path(tenant)).json()["status"] == "CANCELLED"

    def test_reactivate_inside_the_window(self, api, tenant):
        api.delete(_path(tenant))
        with capture_events(["tenant.updated"]) as events:
            response = api.post(_path(tenant, "reactivate"))
        assert response.status_code == 200
        assert response.json()["status"] == "ACTIVE"
        assert response.json()["cancelled_at"] is None
        assert response.json()["purge_after"] is None
        assert events[0].payload["previous_attributes"] == {"status": "CANCELLED"}

    def test_reactivate_on_the_last_day(self, api, tenant):
        api.delete(_path(tenant))
        Tenant.objects.filter(pk=tenant.pk).update(
            purge_after=timezone.now() + timedelta(minutes=5)
        )
        assert api.post(_path(tenant, "reactivate")).status_code == 200

    def test_a_cancelled_tenant_is_read_only(self, api, tenant):
        api.delete(_path(tenant))
        before = row(tenant)
        with capture_events([]), capture_audit([]):
            response = api.patch(_path(tenant), {"name": "Zombie Plumbing"})
        assert_error(response, 409, "invalid_state_transition")
        assert row(tenant) == before

    def test_reactivate_through_an_edit(self, api, tenant):
        api.delete(_path(tenant))
        response = api.patch(_path(tenant), {"status": "ACTIVE"})
        assert response.status_code == 200
        assert response.json()["status"] == "ACTIVE"
        assert response.json()["purge_after"] is None


ILLEGAL = [
    ("suspend a cancelled tenant", [tenant_delete], "post", "suspend"),
    ("suspend a suspended tenant", [tenant_suspend], "post", "suspend"),
    ("unsuspend an active tenant", [], "post", "unsuspend"),
    ("unsuspend a cancelled tenant", [tenant_delete], "post", "unsuspend"),
    ("delete twice", [tenant_delete], "delete", ""),
    ("reactivate an active tenant", [], "post", "reactivate"),
    ("reactivate a suspended tenant", [tenant_suspend], "post", "reactivate"),
]


@pytest.mark.parametrize(
    ("case", "setup", "method", "action"), ILLEGAL, ids=[c[0] for c in ILLEGAL]
)
def test_illegal_transitions_are_409_and_change_nothing(
    api, admin, tenant, case, setup, method, action
):
    for step in setup:
        tenant = step(actor=actor_for_user(admin), tenant=tenant)
    before = row(tenant)
    with capture_events([]), capture_audit([]):
        response = (
            api.delete(_path(tenant)) if method == "delete" else api.post(_path(tenant, action))
        )
    assert_error(response, 409, "invalid_state_transition")
    assert row(tenant) == before


def test_reactivate_after_the_window_is_409(api, tenant):
    api.delete(_path(tenant))
    Tenant.objects.filter(pk=tenant.pk).update(purge_after=timezone.now() - timedelta(seconds=1))
    before = row(tenant)
    with capture_events([]), capture_audit([]):
        response = api.post(_path(tenant, "reactivate"))
    assert_error(response, 409, "invalid_state_transition")
    assert row(tenant) == before
    response = api.patch(_path(tenant), {"status": "ACTIVE"})
    assert_error(response, 409, "invalid_state_transition")
    assert row(tenant) == before


@pytest.mark.parametrize(
    ("start", "target"),
    [("ACTIVE", "TRIAL"), ("SUSPENDED", "CANCELLED")],
)
def test_edits_follow_the_same_rules(api, admin, start, target):
    tenant = make_tenant(admin, status="ACTIVE")
    if start == "SUSPENDED":
        tenant = tenant_suspend(actor=actor_for_user(admin), tenant=tenant)
    response = api.patch(_path(tenant), {"status": target})
    if (start, target) == ("ACTIVE", "TRIAL"):
        assert_error(response, 409, "invalid_state_transition", "status")
    else:
        assert response.json()["status"] == "CANCELLED"  # deleting a suspended tenant is fine


def test_services_refuse_a_read_only_partner_user(admin, tenant):
    viewer = make_user(admin.partner, role=User.Role.PARTNER_USER)
    for service in (tenant_suspend, tenant_delete, tenant_unsuspend, tenant_reactivate):
        with pytest.raises(PermissionDenied):
            service(actor=actor_for_user(viewer), tenant=tenant)
    assert row(tenant)["status"] == "ACTIVE"


class TestPurge:
    @pytest.fixture
    def tenants(self, admin):
        actor = actor_for_user(admin)
        old = tenant_delete(actor=actor, tenant=make_tenant(admin, name="Old"))
        recent = tenant_delete(actor=actor, tenant=make_tenant(admin, name="Recent"))
        active = make_tenant(admin, name="Active", status="ACTIVE")
        suspended = tenant_suspend(actor=actor, tenant=make_tenant(admin, name="Suspended"))
        now = timezone.now()
        Tenant.objects.filter(pk=old.pk).update(
            cancelled_at=now - timedelta(days=91), purge_after=now - timedelta(days=1)
        )
        Tenant.objects.filter(pk=recent.pk).update(
            cancelled_at=now - timedelta(days=10), purge_after=now + timedelta(days=80)
        )
        return old, recent, active, suspended

    def test_only_tenants_past_the_window_are_purged(self, tenants):
        old, recent, active, suspended = tenants
        assert tenants_purge_expired(now=timezone.now()) == 1
        remaining = set(Tenant.objects.values_list("id", flat=True))
        assert remaining == {recent.id, active.id, suspended.id}
        entry = AuditEntry.objects.get(action="tenant.purged")
        assert (entry.object_id, entry.actor_type) == (old.id, "system")
        assert tenants_purge_expired(now=timezone.now()) == 0

    def test_now_decides(self, tenants):
        old, recent, active, suspended = tenants
        assert tenants_purge_expired(now=timezone.now() - timedelta(days=2)) == 0
        assert tenants_purge_expired(now=timezone.now() + timedelta(days=81)) == 2
        assert set(Tenant.objects.values_list("id", flat=True)) == {active.id, suspended.id}

    def test_a_reactivated_tenant_is_never_purged(self, admin, tenants):
        _, recent, _, _ = tenants
        tenant_reactivate(actor=actor_for_user(admin), tenant=recent)
        tenants_purge_expired(now=timezone.now() + timedelta(days=365))
        assert Tenant.objects.filter(pk=recent.pk).exists()

    def test_the_periodic_job_runs_it(self, tenants):
        assert run_due_jobs(now=timezone.now())["tenants.purge_cancelled"] == 1

    def test_the_tenants_users_go_with_it(self, tenants):
        old = tenants[0]
        User.objects.create_user("someone@old.example", "x", tenant=old, partner=old.partner)
        tenants_purge_expired(now=timezone.now())
        assert not User.objects.filter(email="someone@old.example").exists()

    def test_a_key_limited_to_purged_tenants_does_not_widen(self, partner, make_api, tenants):
        old, recent, _, _ = tenants
        only_old = make_api(make_api_key(partner, scopes="all", tenant_ids=[old.id]))
        old_and_recent = make_api(
            make_api_key(partner, scopes="all", tenant_ids=[old.id, recent.id])
        )
        tenants_purge_expired(now=timezone.now())

        assert only_old.get("/v1/tenants").status_code == 401
        assert ApiKey.objects.get(tenants=None, revoked_at__isnull=False)
        listed = old_and_recent.get("/v1/tenants").json()["data"]
        assert [t["id"] for t in listed] == [recent.id]
