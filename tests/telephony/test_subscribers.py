"""The SIP credentials directory follows devices, extensions and tenants in the same
transaction as the change, and holds digest hashes, never a password."""

from __future__ import annotations

import hashlib

import pytest

from tests.factories import actor_for_user, make_tenant
from trunkline.core.errors import Conflict
from trunkline.pbx.devices import device_create, device_delete, device_password_reset
from trunkline.pbx.extensions import extension_create, extension_delete, extension_update
from trunkline.telephony.models import SipSubscriber
from trunkline.tenants.services import (
    tenant_delete,
    tenant_reactivate,
    tenant_suspend,
    tenant_unsuspend,
    tenant_update,
)

pytestmark = pytest.mark.django_db


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
def actor(admin):
    return actor_for_user(admin)


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, sip_prefix="dirtest", status="ACTIVE")


def _device(actor, tenant, number="2001", **fields):
    extension = extension_create(actor=actor, tenant=tenant, fields={"number": number, "name": "A"})
    return device_create(actor=actor, extension=extension, fields={"kind": "softphone", **fields})


def _row(device) -> SipSubscriber:
    return SipSubscriber.objects.get(device=device)


def test_a_new_device_is_in_the_directory_with_its_digest_hashes(actor, tenant, settings):
    device, password = _device(actor, tenant)
    row = _row(device)
    domain = f"dirtest.{settings.TRUNKLINE_SIP_DOMAIN}"
    assert (row.username, row.domain, row.extension) == (device.sip_username, domain, "2001")
    assert row.ha1 == _md5(f"{device.sip_username}:{domain}:{password}")
    assert row.ha1b == _md5(f"{device.sip_username}@{domain}:{domain}:{password}")
    assert row.enabled is True
    # No column holds the password itself.
    assert password not in {row.username, row.domain, row.ha1, row.ha1b, row.extension}


def test_the_domain_follows_the_setting(admin, actor, settings):
    settings.TRUNKLINE_SIP_DOMAIN = "voice.example.net"
    tenant = make_tenant(admin, sip_prefix="setdom")
    device, _ = _device(actor, tenant)
    assert _row(device).domain == "setdom.voice.example.net"


def test_a_password_reset_replaces_the_hashes(actor, tenant):
    device, old = _device(actor, tenant)
    before = _row(device).ha1
    device, new = device_password_reset(actor=actor, device=device)
    row = _row(device)
    assert row.ha1 != before
    assert row.ha1 == _md5(f"{device.sip_username}:{row.domain}:{new}")


@pytest.mark.parametrize("via_update", [False, True])
def test_suspension_disables_the_tenants_devices_and_unsuspension_restores_them(
    admin, actor, tenant, via_update
):
    device, _ = _device(actor, tenant)
    other_tenant = make_tenant(admin, sip_prefix="bystander", status="ACTIVE")
    bystander, _ = _device(actor, other_tenant)
    if via_update:
        tenant = tenant_update(actor=actor, tenant=tenant, changes={"status": "SUSPENDED"})
    else:
        tenant = tenant_suspend(actor=actor, tenant=tenant, reason="unpaid")
    assert _row(device).enabled is False
    assert _row(bystander).enabled is True
    tenant_unsuspend(actor=actor, tenant=tenant)
    assert _row(device).enabled is True


def test_a_cancelled_tenant_is_disabled_until_reactivated(actor, tenant):
    device, _ = _device(actor, tenant)
    tenant = tenant_delete(actor=actor, tenant=tenant)
    assert _row(device).enabled is False
    tenant_reactivate(actor=actor, tenant=tenant)
    assert _row(device).enabled is True


def test_a_device_made_while_suspended_is_disabled(actor, tenant):
    extension = extension_create(actor=actor, tenant=tenant, fields={"number": "2001", "name": "A"})
    tenant = tenant_suspend(actor=actor, tenant=tenant, reason="")
    device, _ = device_create(actor=actor, extension=extension, fields={"kind": "softphone"})
    assert _row(device).enabled is False


def test_a_renumbered_extension_moves_its_devices(actor, tenant):
    device, _ = _device(actor, tenant)
    extension_update(actor=actor, extension=device.extension, changes={"number": "2042"})
    row = _row(device)
    assert row.extension == "2042"
    # The username (and so the stored hash) stays: the phone needs no new settings.
    assert row.username == device.sip_username


def test_deleting_a_device_or_its_extension_removes_its_rows(actor, tenant):
    first, _ = _device(actor, tenant, "2001")
    second, _ = _device(actor, tenant, "2002")
    device_delete(actor=actor, device=first)
    assert not SipSubscriber.objects.filter(device_id=first.id).exists()
    extension_delete(actor=actor, extension=second.extension)
    assert not SipSubscriber.objects.filter(device_id=second.id).exists()


def test_a_refused_device_leaves_no_row(actor, tenant):
    _device(actor, tenant, "2001", kind="desk_phone", mac="00:04:F2:11:22:33")
    count = SipSubscriber.objects.count()
    extension = extension_create(actor=actor, tenant=tenant, fields={"number": "2002", "name": "B"})
    with pytest.raises(Conflict):
        device_create(
            actor=actor, extension=extension, fields={"kind": "desk_phone", "mac": "0004F2112233"}
        )
    assert SipSubscriber.objects.count() == count


def test_a_new_sip_domain_is_taken_up_by_rebuilding_the_directory(actor, tenant, settings, capsys):
    import json

    from trunkline.cli import main

    device, password = _device(actor, tenant)
    other, other_password = _device(actor, tenant, number="2002")
    settings.TRUNKLINE_SIP_DOMAIN = "voice.example.net"
    assert _row(device).domain.endswith(".sip.trunkline.test")  # stale until rebuilt
    assert main(["sip-directory-rebuild"]) == 0
    assert json.loads(capsys.readouterr().out) == {"devices": 2, "rewritten": 2, "unchanged": 0}
    domain = "dirtest.voice.example.net"
    for found, secret in ((device, password), (other, other_password)):
        row = _row(found)
        assert row.domain == domain
        assert row.ha1 == _md5(f"{found.sip_username}:{domain}:{secret}")
    assert main(["sip-directory-rebuild"]) == 0
    assert json.loads(capsys.readouterr().out)["unchanged"] == 2
