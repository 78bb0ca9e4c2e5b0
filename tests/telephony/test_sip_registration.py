"""The SIP credentials Trunkline provisions work on a real SIP server, and only within
their tenant (issue 8, part 4).

Kamailio is the registrar and authenticating proxy, with the configuration
`trunkline render-kamailio` writes, reading Trunkline's `sip_subscriber` table; SIPp
plays the phones (scenarios in `sipp/`). Devices, tenants and their suspension are made
through the services, as the API would.

Where Kamailio reads the rows: on PostgreSQL (the second leg of `.ci/run`) it connects to
the test database itself, which is why the test is transactional: the services' rows are
committed and visible to another process. The SQLite test database is in memory and
cannot be opened by another process, so there the test copies it whole into a file with
SQLite's online backup after each change (`DirectorySnapshot`) and Kamailio reads that
file: the same tables and rows the services wrote, through the same configuration.

Kamailio listens on a free loopback port and every SIPp phone uses its own; nothing
waits a fixed time: readiness is an answered OPTIONS ping, each SIPp run has a global
timeout, and its exit status is the verdict.
"""

from __future__ import annotations

import os

import pytest

from tests.factories import actor_for_user, make_tenant
from tests.telephony.sip import (
    DirectorySnapshot,
    Kamailio,
    Phone,
    free_udp_ports,
    missing_tools,
    sipp_finish,
    sipp_run,
    sipp_start,
)
from trunkline.pbx.devices import device_create, device_password_reset
from trunkline.pbx.extensions import extension_create
from trunkline.telephony.kamailio import (
    database_for_kamailio,
    kamailio_config,
    kamailio_config_write,
)
from trunkline.telephony.subscribers import sip_domain
from trunkline.tenants.services import tenant_suspend, tenant_unsuspend

_missing = missing_tools()
# CI sets this so that a missing tool fails the run instead of skipping the check.
_required = os.environ.get("TRUNKLINE_REQUIRE_SIP") == "1"

pytestmark = [
    pytest.mark.sip,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        bool(_missing) and not _required,
        reason="the SIP check needs " + " and ".join(_missing) + " installed",
    ),
]


def _device(actor, tenant, number: str, name: str):
    extension = extension_create(
        actor=actor, tenant=tenant, fields={"number": number, "name": name}
    )
    device, password = device_create(actor=actor, extension=extension, fields={"kind": "softphone"})
    return device, password


def test_provisioned_devices_register_and_call_within_their_tenant_only(admin, tmp_path):
    assert not _missing, "missing: " + ", ".join(_missing)
    actor = actor_for_user(admin)
    acme = make_tenant(admin, name="Acme Dental", sip_prefix="acmesip", status="ACTIVE")
    globex = make_tenant(admin, name="Globex Law", sip_prefix="globexsip", status="ACTIVE")
    caller, caller_password = _device(actor, acme, "2001", "Front desk")
    callee, callee_password = _device(actor, acme, "2002", "Back office")
    outsider, outsider_password = _device(actor, globex, "2001", "Reception")
    acme_domain, globex_domain = sip_domain(acme), sip_domain(globex)

    snapshot = DirectorySnapshot(tmp_path)
    snapshot.publish()
    kamailio_port, caller_port, callee_port, outsider_port = free_udp_ports(4)
    config = kamailio_config(
        listen=f"udp:127.0.0.1:{kamailio_port}",
        database=database_for_kamailio(snapshot.settings_dict()),
        children=2,
    )
    config_path = kamailio_config_write(tmp_path / "etc", config)
    kamailio = Kamailio(config_path, kamailio_port, tmp_path)
    try:
        kamailio.wait_ready()
        run = {"kamailio": kamailio, "workdir": tmp_path}
        phone = Phone(
            username=caller.sip_username,
            password=caller_password,
            domain=acme_domain,
            port=caller_port,
        )

        # (a) The provisioned device registers with its credentials.
        sipp_run("register.xml", phone=phone, **run)

        # (b) A wrong password is refused.
        wrong = Phone(
            username=caller.sip_username,
            password=caller_password[::-1],
            domain=acme_domain,
            port=caller_port,
        )
        sipp_run("register_refused.xml", phone=wrong, **run)
        assert kamailio.logged(f"refused REGISTER of {caller.sip_username}@{acme_domain}: bad")

        # (c) Valid credentials presented to another tenant's domain are refused, and a
        # domain that is no tenant's is refused before any challenge.
        elsewhere = Phone(
            username=caller.sip_username,
            password=caller_password,
            domain=globex_domain,
            port=caller_port,
        )
        sipp_run("register_refused.xml", phone=elsewhere, **run)
        assert kamailio.logged(f"refused REGISTER of {caller.sip_username}@{globex_domain}: bad")
        for domain in ("nosuchtenant.sip.trunkline.test", "example.com"):
            stranger = Phone(
                username=caller.sip_username,
                password=caller_password,
                domain=domain,
                port=caller_port,
            )
            sipp_run("register_unknown_domain.xml", phone=stranger, **run)
            assert kamailio.logged(f"refused REGISTER for unknown domain {domain}") or (
                kamailio.logged(f"refused REGISTER for domain {domain} of no tenant")
            )

        # (d) A suspended tenant's device is refused; unsuspended, it registers again.
        tenant_suspend(actor=actor, tenant=acme, reason="unpaid invoice")
        snapshot.publish()
        sipp_run("register_refused.xml", phone=phone, **run)
        assert kamailio.logged(f"{caller.sip_username}@{acme_domain}: tenant not in service")
        tenant_unsuspend(actor=actor, tenant=acme)
        snapshot.publish()
        sipp_run("register.xml", phone=phone, **run)

        # A password reset takes effect at once: the old password is refused.
        caller, new_password = device_password_reset(actor=actor, device=caller)
        snapshot.publish()
        sipp_run("register_refused.xml", phone=phone, **run)
        phone = Phone(
            username=caller.sip_username,
            password=new_password,
            domain=acme_domain,
            port=caller_port,
        )
        sipp_run("register.xml", phone=phone, **run)

        # (e) A call to another extension of the tenant reaches the callee, which
        # registered from the port its answering phone then listens on.
        callee_phone = Phone(
            username=callee.sip_username,
            password=callee_password,
            domain=acme_domain,
            port=callee_port,
        )
        sipp_run("register.xml", phone=callee_phone, **run)
        answering = sipp_start("answer.xml", phone=callee_phone, **run)
        try:
            sipp_run("call.xml", phone=phone, callee="2002", caller_domain=acme_domain, **run)
        finally:
            sipp_finish(answering, "answer.xml", phone=callee_phone, **run)

        # …while a call into another tenant's extension is refused, though that
        # extension has the same number and its phone is registered.
        outsider_phone = Phone(
            username=outsider.sip_username,
            password=outsider_password,
            domain=globex_domain,
            port=outsider_port,
        )
        sipp_run("register.xml", phone=outsider_phone, **run)
        foreign = Phone(
            username=caller.sip_username,
            password=new_password,
            domain=globex_domain,
            port=caller_port,
        )
        sipp_run("call_refused.xml", phone=foreign, callee="2001", caller_domain=acme_domain, **run)
        assert kamailio.logged(f"to another tenant's sip:2001@{globex_domain}")
    finally:
        kamailio.stop()
