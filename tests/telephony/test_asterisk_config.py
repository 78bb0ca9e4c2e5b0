"""The Asterisk configuration rendered from a tenant's phone system (partner guide
`004_*.txt`: "the dialplan is generated from your tenant's call flows automatically";
suspended tenants "can't take inbound calls or place outbound calls"; 911 never needs a
prefix).

The golden files under `golden/` are the whole expected output for one tenant with one
of everything; `TRUNKLINE_GOLDEN_UPDATE=1` rewrites them after a deliberate change, and
the diff is then read like code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.telephony.asterisk_data import build_phone_system, stable
from trunkline.telephony.asterisk import tenant_files

pytestmark = pytest.mark.django_db
GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TRUNKLINE_GOLDEN_UPDATE") == "1":
        path.write_text(text)
    assert path.is_file(), f"{path} is missing; run with TRUNKLINE_GOLDEN_UPDATE=1"
    assert text == path.read_text()


def contexts(text: str) -> dict[str, str]:
    """Each [context] of extensions.conf with its body."""
    found: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.fullmatch(r"\[([^\]]+)\]", line)
        if match:
            current = match.group(1)
            found[current] = ""
        elif current:
            found[current] += line + "\n"
    return found


@pytest.fixture
def acme(api, admin):
    return build_phone_system(api, admin)


def test_the_whole_tenant_matches_its_golden_files(acme):
    """One tenant with every kind of call flow (auto attendant with a submenu and
    after-hours and holiday menus, sequential hunt group, queue, premium call center),
    users with call settings, voicemail boxes, an IP trunk and routed numbers."""
    tenant, _ = acme
    files = tenant_files(tenant)
    names: dict[str, str] = {}
    for name in ("extensions.conf", "pjsip.conf", "queues.conf", "voicemail.conf"):
        golden(f"acme.{name}", stable(files[name], names))
