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

from tests.factories import actor_for_user
from tests.telephony.asterisk_data import build_phone_system, stable
from trunkline.telephony.asterisk import tenant_files
from trunkline.tenants.services import tenant_suspend

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


REFERENCE = re.compile(
    r"(?:Goto|Gosub)\((t-[a-z0-9]+)[-,]|include => (t-[a-z0-9]+)-|@(t-[a-z0-9]+)\b"
)


def test_a_tenants_dialplan_reaches_only_its_own_contexts(api, admin, acme):
    tenant, _ = acme
    other, _ = build_phone_system(api, admin, name="Bayside Dental", prefix="bayside", area="479")
    for who, prefix in ((tenant, "acme"), (other, "bayside")):
        text = tenant_files(who)["extensions.conf"]
        defined = set(contexts(text))
        assert all(name.startswith(f"t-{prefix}-") or name == f"t-{prefix}" for name in defined)
        reached = {next(g for g in m.groups() if g) for m in REFERENCE.finditer(text)}
        assert reached == {f"t-{prefix}"}, reached
        # Every context the dialplan sends a call to is defined (in the tenant's file or
        # the shared subroutines).
        targets = set(re.findall(r"(?:Goto|Gosub)\(([a-z][a-z0-9_-]+-[A-Za-z0-9_-]+),", text))
        shared = {
            "trunkline-outbound",
            "trunkline-emergency",
            "trunkline-voicemail-main",
            "trunkline-inbound",
            "trunkline-service-interrupted",
            "trunkline-not-configured",
        }
        assert targets - defined - shared == set()


def matches(pattern: str, number: str) -> bool:
    """Whether an Asterisk extension pattern (or plain name) matches the number dialled."""
    if not pattern.startswith("_"):
        return pattern == number
    classes = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
    regex = "".join(classes.get(ch, re.escape(ch)) for ch in pattern[1:])
    return re.fullmatch(regex, number) is not None


def test_911_is_dialled_directly_from_every_phone_and_trunk(acme):
    tenant, _ = acme
    files = tenant_files(tenant)
    found = contexts(files["extensions.conf"])
    phones = found["t-acme-phones"]
    assert "include => t-acme-emergency" in phones.splitlines()[1]  # before anything else
    # …and none of the phones' own patterns (matched before any include) takes them.
    own = re.findall(r"^exten => ([^,]+),1,", phones, re.M)
    assert own and not [p for p in own for n in ("911", "933", "9911") if matches(p, n)]
    assert matches("_NXXNXXXXXX", "5015550123") and matches("_+X.", "+15015550123")
    emergency = found["t-acme-emergency"]
    for number in ("911", "933"):
        assert f"exten => {number},1,Gosub(trunkline-emergency,s,1(${{EXTEN}}))" in emergency
    # Every endpoint (phones and the trunk) starts in the context that includes it.
    endpoints = re.findall(r"type=endpoint\ncontext=(\S+)", files["pjsip.conf"])
    assert len(endpoints) == 5 and set(endpoints) == {"t-acme-phones"}
    # …and is sent with a number whose E911 address is registered.
    assert set(re.findall(r"TL_EMERGENCY_CID=(\S+)", files["pjsip.conf"])) == {"+15015550100"}


def test_a_suspended_tenant_reaches_only_the_announcement_and_911(admin, acme):
    tenant, _ = acme
    tenant_suspend(actor=actor_for_user(admin), tenant=tenant, reason="unpaid")
    tenant.refresh_from_db()
    text = tenant_files(tenant)["extensions.conf"]
    found = contexts(text)
    assert set(found) == {"t-acme-phones", "t-acme-emergency", "t-acme-interrupted", "t-acme-in"}
    # A context's own extensions are matched before its includes: the phones' context
    # has none, and the emergency numbers are included before the announcement.
    phones = found["t-acme-phones"]
    assert "exten =>" not in phones
    assert phones.index("include => t-acme-emergency") < phones.index(
        "include => t-acme-interrupted"
    )
    assert "Goto(trunkline-service-interrupted,s,1)" in found["t-acme-interrupted"]
    inbound = found["t-acme-in"]
    for number in ("+15015550100", "+15015550101", "+15015550199"):
        assert f"exten => {number},1," in inbound
    assert inbound.count("Goto(trunkline-service-interrupted,s,1)") == 3
    assert "Dial(" not in text and "Queue(" not in text


def test_the_user_settings_that_change_a_call_are_in_the_dialplan(api, acme):
    tenant, people = acme
    ana = people["ana"]
    path = f"/v1/tenants/{tenant.id}/extensions/{ana['id']}/call-settings"
    api.patch(path, {"do_not_disturb": True, "hide_number": True})
    files = tenant_files(tenant)
    user = contexts(files["extensions.conf"])["t-acme-u2001"]
    assert user.index("Goto(busy)") < user.index("Dial(")
    assert " same => n(busy),Goto(t-acme-vm-" in user and ",busy,1)" in user
    assert "set_var=__TL_HIDE_NUMBER=yes" in files["pjsip.conf"]


def test_the_digest_hash_is_the_registrars_and_the_api_hides_it(api, acme):
    from trunkline.telephony.models import SipSubscriber

    tenant, _ = acme
    rendered = tenant_files(tenant)["pjsip.conf"]
    for subscriber in SipSubscriber.objects.filter(tenant=tenant):
        assert (
            f"username={subscriber.username}\nrealm={subscriber.domain}\nmd5_cred={subscriber.ha1}"
            in rendered
        )
    shown = api.get(f"/v1/tenants/{tenant.id}/telephony/config")
    assert shown.status_code == 200, shown.content
    body = shown.json()
    assert set(body["files"]) == {"pjsip.conf", "extensions.conf", "queues.conf", "voicemail.conf"}
    assert re.findall(r"md5_cred=(.*)", body["files"]["pjsip.conf"]) == ["(hidden)"] * 4
    assert body["files"]["extensions.conf"] == tenant_files(tenant)["extensions.conf"]
    assert body["node"] is None  # no PBX node registered
    # The version moves when the phone system does.
    api.post(f"/v1/tenants/{tenant.id}/extensions", {"number": "2004", "name": "Dee"})
    assert api.get(f"/v1/tenants/{tenant.id}/telephony/config").json()["version"] != body["version"]


def test_another_partners_tenant_config_is_not_found(client, acme):
    from tests.conftest import ApiClient
    from tests.factories import make_api_key, make_partner

    tenant, _ = acme
    other, _ = make_partner()
    stranger = ApiClient(client, make_api_key(other))
    assert stranger.get(f"/v1/tenants/{tenant.id}/telephony/config").status_code == 404
    assert (
        stranger.post(
            "/v1/telephony/voicemail/pin-check",
            {"tenant_id": tenant.id, "box_id": "vmb_x", "pin": "1"},
        ).status_code
        == 404
    )


def dialplan_problems(text: str) -> list[str]:
    """What Asterisk would trip over in a dialplan: a jump to a label its context does not
    have, an extension whose first step is not priority 1, a step before any extension."""
    problems = []
    for name, body in contexts(text).items():
        labels = set(re.findall(r"n\(([a-z0-9]+)\)", body))
        started = False
        for line in body.splitlines():
            if line.startswith("exten => "):
                started = True
                if not re.match(r"exten => [^,]+,1,", line):
                    problems.append(f"{name}: {line}")
            elif line.startswith(" same => ") and not started:
                problems.append(f"{name}: a step before any extension")
            jumps = re.findall(r"Goto\(([a-z0-9]+)\)", line)
            jumps += re.findall(r"\?([a-z0-9]+)\)", line)
            for jump in jumps:
                if jump not in labels:
                    problems.append(f"{name}: no label {jump!r}")
    return problems


def test_the_rendered_dialplan_holds_together(api, admin, acme):
    from trunkline.telephony.asterisk import SHARED_DIALPLAN

    broken = "[x]\nexten => s,2,Goto(missing)\n same => n(here),GotoIf($[1]?gone)\n"
    assert len(dialplan_problems(broken)) == 3  # the check itself finds faults
    tenant, _ = acme
    assert dialplan_problems(tenant_files(tenant)["extensions.conf"]) == []
    assert dialplan_problems(SHARED_DIALPLAN) == []
    tenant_suspend(actor=actor_for_user(admin), tenant=tenant, reason="unpaid")
    tenant.refresh_from_db()
    assert dialplan_problems(tenant_files(tenant)["extensions.conf"]) == []


def test_every_endpoint_names_an_auth_and_aor_that_exist(acme):
    tenant, _ = acme
    sections: dict[tuple[str, str], dict[str, list[str]]] = {}
    name = None
    for block in tenant_files(tenant)["pjsip.conf"].split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith(";")]
        if not lines or not lines[0].startswith("["):
            continue
        name = lines[0][1:-1]
        values: dict[str, list[str]] = {}
        for line in lines[1:]:
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
        sections[(name, values["type"][0])] = values
    endpoints = [(n, v) for (n, t), v in sections.items() if t == "endpoint"]
    assert len(endpoints) == 5
    for endpoint, values in endpoints:
        for aor in values["aors"]:
            assert (aor, "aor") in sections
        for auth in values.get("auth", []):
            assert (auth, "auth") in sections
        if "auth" not in values:  # the IP trunk is known by its addresses
            identify = sections[(endpoint, "identify")]
            assert identify["match"] == ["203.0.113.10", "198.51.100.0/24"]
