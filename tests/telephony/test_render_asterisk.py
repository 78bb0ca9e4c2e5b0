"""`trunkline render-asterisk --out DIR`: every PBX node's configuration, written
atomically, only the files that changed, with a version hash; and the voicemail PIN check
the rendered dialplan calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key
from tests.telephony.asterisk_data import build_phone_system
from trunkline.cli import main
from trunkline.tenants.services import tenant_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client, partner):
    return ApiClient(client, make_api_key(partner, platform=True, name="Operator"))


def node(staff, name):
    made = staff.post(
        "/v1/platform/pbx-nodes", {"name": name, "address": "10.0.0.5", "capacity": 500}
    )
    assert made.status_code == 201, made.content
    return made.json()


def render(out, capsys) -> dict:
    assert main(["render-asterisk", "--out", str(out)]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_render_writes_each_node_then_only_what_changed(api, admin, staff, tmp_path, capsys):
    node(staff, "pbx-1")
    tenant, people = build_phone_system(api, admin)
    other, _ = build_phone_system(api, admin, name="Bayside Dental", prefix="bayside", area="479")
    (tmp_path / "pbx-1").mkdir()
    (tmp_path / "pbx-1" / "pjsip_local.conf").write_text("; the operator's transports\n")

    result = render(tmp_path, capsys)
    folder = tmp_path / "pbx-1"
    assert result["tenants"] == 2 and result["unchanged"] == 0
    assert sorted(result["written"])[:2] == ["pbx-1/VERSION", "pbx-1/extensions.conf"]
    assert len(result["written"]) == 4 + 8 + 1
    # Tenants' files first, so a reload between two writes never misses an include.
    assert result["written"][:8] == sorted(result["written"][:8])
    assert all("/tenants/" in path for path in result["written"][:8])
    top = (folder / "extensions.conf").read_text()
    # Asterisk reads includes from its own folder: they name the files by full path.
    includes = re.findall(r"^#include (.+)$", top + (folder / "pjsip.conf").read_text(), re.M)
    assert len(includes) == 4 and all(
        Path(path).is_absolute() and Path(path).is_file() for path in includes
    )
    # The carriers' entry context matches nothing itself: its includes are tried in
    # order, the tenants' numbers before the catch-all.
    carrier = top[
        top.index("[trunkline-from-carrier]") : top.index("[trunkline-from-carrier-unknown]")
    ]
    assert "exten =>" not in carrier
    assert carrier.rstrip().endswith("include => trunkline-from-carrier-unknown")
    for prefix in ("acme", "bayside"):
        assert f"#include {folder}/tenants/{prefix}/extensions.conf" in top
        assert f"include => t-{prefix}-in" in (folder / "extensions.conf").read_text()
        assert (
            f"#include {folder}/tenants/{prefix}/pjsip.conf" in (folder / "pjsip.conf").read_text()
        )
    version = (folder / "VERSION").read_text().strip()
    assert version == result["nodes"]["pbx-1"] and len(version) == 16
    assert (folder / "tenants/acme/pjsip.conf").stat().st_mode & 0o777 == 0o640

    # Nothing changed: nothing is written.
    again = render(tmp_path, capsys)
    assert again["written"] == [] and again["unchanged"] == 12
    # One user added to one tenant: that tenant's dialplan and the version, nothing else.
    stamp = (folder / "tenants/bayside/extensions.conf").stat().st_mtime_ns
    api.post(f"/v1/tenants/{tenant.id}/extensions", {"number": "2009", "name": "New Hire"})
    changed = render(tmp_path, capsys)
    assert changed["written"] == ["pbx-1/tenants/acme/extensions.conf", "pbx-1/VERSION"]
    assert changed["nodes"]["pbx-1"] != version
    assert (folder / "tenants/bayside/extensions.conf").stat().st_mtime_ns == stamp
    assert not list(folder.rglob(".*.conf.*"))  # no temporary files left behind

    # A tenant moved to another node leaves the first; a cancelled one is not rendered.
    second = node(staff, "pbx-2")
    assert (
        staff.post(f"/v1/platform/tenants/{other.id}/move", {"node_id": second["id"]}).status_code
        == 200
    )
    moved = render(tmp_path, capsys)
    assert "pbx-1/tenants/bayside/pjsip.conf" in moved["removed"]
    assert not (folder / "tenants/bayside").exists()
    assert (tmp_path / "pbx-2/tenants/bayside/extensions.conf").is_file()
    assert (folder / "pjsip_local.conf").read_text() == "; the operator's transports\n"
    tenant_delete(actor=actor_for_user(admin), tenant=tenant)
    cancelled = render(tmp_path, capsys)
    assert "pbx-1/tenants/acme/extensions.conf" in cancelled["removed"]
    assert "tenants/acme" not in (folder / "extensions.conf").read_text()


def test_tenants_waiting_for_a_node_are_counted_not_rendered(api, admin, tmp_path, capsys):
    build_phone_system(api, admin)
    result = render(tmp_path, capsys)
    assert result["tenants_waiting_for_a_node"] == 1 and result["nodes"] == {}
    assert not any(tmp_path.iterdir())


def test_a_node_renders_only_its_own_folder(api, admin, staff, tmp_path, capsys):
    node(staff, "pbx-1")
    build_phone_system(api, admin)
    node(staff, "pbx-2")
    build_phone_system(api, admin, name="Bayside Dental", prefix="bayside", area="479")
    assert main(["render-asterisk", "--out", str(tmp_path), "--node", "pbx-2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["nodes"]) == ["pbx-2"] and result["tenants"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["pbx-2"]
    assert (tmp_path / "pbx-2/tenants/bayside/extensions.conf").is_file()
    assert main(["render-asterisk", "--out", str(tmp_path), "--node", "pbx-9"]) == 2
    assert "no PBX node named 'pbx-9'" in capsys.readouterr().err


def test_an_unwritable_folder_is_a_clear_error(tmp_path, capsys, staff):
    node(staff, "pbx-1")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["render-asterisk", "--out", str(blocker)]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_the_voicemail_pin_check(api, admin):
    tenant, people = build_phone_system(api, admin)
    check = "/v1/telephony/voicemail/pin-check"
    mine = {"tenant_id": tenant.id, "extension_id": people["ana"]["id"]}
    good = api.post(check, {**mine, "pin": "4826"})
    assert good.status_code == 200, good.content
    assert good.json() == {"valid": True, "mailbox": people["own_box"]["id"], "context": "t-acme"}
    by_box = {"tenant_id": tenant.id, "box_id": people["after_box"]["id"]}
    assert api.post(check, {**by_box, "pin": "7391"}).json()["valid"] is True
    for _ in range(5):
        assert api.post(check, {**by_box, "pin": "0000"}).json() == {
            "valid": False,
            "mailbox": None,
            "context": None,
        }
    locked = api.post(check, {**by_box, "pin": "7391"})
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert api.post(check, {**mine, "pin": "4826"}).json()["valid"] is True  # another box
    assert api.post(check, {"tenant_id": tenant.id, "pin": "1"}).status_code == 404
    assert api.post(check, {**mine, "pin": "1", "extra": 1}).status_code == 422
    assert api.post(check, {**mine, "pin": 4826}).status_code == 422
