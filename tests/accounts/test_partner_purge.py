"""A deleted partner account is purged, with everything it owns, within 24 hours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import actor_for_user, make_api_key, make_partner, make_user
from trunkline.accounts.account_settings import partner_delete, partners_purge_deleted
from trunkline.accounts.models import ApiKey, Partner, User
from trunkline.core.models import AuditEntry
from trunkline.core.scheduler import run_due_jobs

JOB = "accounts.purge_deleted_partners"


@pytest.fixture
def deleted(partner, admin, clock):
    make_user(partner, role=User.Role.PARTNER_USER)
    make_api_key(partner)
    partner_delete(actor=actor_for_user(admin), confirmation="DELETE", now=clock.now)
    return partner


def test_the_account_stays_for_a_while_then_goes_with_everything_it_owns(deleted, clock):
    other, other_admin = make_partner()
    assert partners_purge_deleted(now=clock.now + timedelta(hours=22)) == 0
    assert Partner.objects.filter(pk=deleted.pk).exists()

    assert run_due_jobs(now=clock.now + timedelta(hours=24))[JOB] == 1
    assert not Partner.objects.filter(pk=deleted.pk).exists()
    assert not User.objects.filter(partner_id=deleted.pk).exists()
    assert not ApiKey.objects.filter(partner_id=deleted.pk).exists()
    assert not AuditEntry.objects.filter(partner_id=deleted.pk).exists()
    assert User.objects.filter(pk=other_admin.pk, partner=other).exists()


def test_the_purge_leaves_a_platform_audit_entry_and_frees_the_email(deleted, admin, clock):
    partners_purge_deleted(now=clock.now + timedelta(hours=24))
    entry = AuditEntry.objects.get(action="partner.purged")
    assert (entry.object_id, entry.partner_id, entry.actor_type) == (deleted.pk, None, "system")
    assert make_partner(email=admin.email)[0].pk != deleted.pk


def test_a_live_account_is_never_purged(partner, clock):
    assert partners_purge_deleted(now=clock.now + timedelta(days=365)) == 0
    assert Partner.objects.filter(pk=partner.pk).exists()
