"""Mass configuration from a CSV file (`001_*.txt`, "Mass Configuration": Ext key, Number,
User, Addon license 1..N with the add-on codes; a sample file to download; the whole file
validated, then applied)."""

from __future__ import annotations

import io

import pytest

from tests.factories import make_api_key, make_partner, make_tenant
from tests.licensing.conftest import hold
from trunkline.core.models import Event
from trunkline.licensing.mass_config import sample_csv
from trunkline.licensing.models import LicenseAllocation, LicenseAssignment
from trunkline.pbx.models import Extension, Site
from trunkline.phone_numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db


def numbers(tenant, *e164s):
    for e164 in e164s:
        PhoneNumber.objects.create(
            partner_id=tenant.partner_id,
            tenant=tenant,
            e164=e164,
            kind="local",
            status=PhoneNumber.Status.ACTIVE,
        )


def upload(client, api, tenant, text: str, dry_run=False, name="users.csv"):
    file = io.BytesIO(text.encode() if isinstance(text, str) else text)
    file.name = name
    url = f"/v1/tenants/{tenant.id}/mass-configuration" + ("?dry_run=true" if dry_run else "")
    return client.post(url, {"file": file}, HTTP_AUTHORIZATION=f"Bearer {api.key}")


@pytest.fixture
def ready(admin, licensed):
    hold(admin, licensed, "phone_system", 10)
    for sku in ("device_ip_phone", "device_mobile_app", "device_desktop_app"):
        hold(admin, licensed, sku, 4)
    hold(admin, licensed, "call_recording", 4)
    hold(admin, licensed, "license_dnc_checking_enabled", 2)
    numbers(licensed, "+15015550101", "+15015550102", "+15015550104", "+15015550109")
    return licensed


def test_the_sample_file_downloads_and_applies_as_it_is(client, api, ready):
    response = api.get(f"/v1/tenants/{ready.id}/mass-configuration/sample.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert text.splitlines()[0] == (
        "Ext key,Number,User,Addon license 1,Addon license 2,Addon license 3,Addon license 4"
    )
    applied = upload(client, api, ready, text)
    assert applied.status_code == 200, applied.json()
    assert applied.json() == {
        "applied": True,
        "rows": 4,
        "created": 4,
        "updated": 0,
        "licenses_assigned": 4 + 14,
        "licenses_removed": 0,
    }
    john = Extension.objects.get(tenant=ready, number="101")
    assert (john.name, john.main_number.e164) == ("John", "+15015550101")
    codes = set(
        LicenseAssignment.objects.filter(target_id=john.id).values_list("sku_id", flat=True)
    )
    assert codes == {
        "phone_system",
        "device_ip_phone",
        "device_mobile_app",
        "license_dnc_checking_enabled",
        "call_recording",
    }
    assert Event.objects.filter(type="extension.created").count() == 4
    created = Event.objects.filter(type="extension.created").first().payload["extension"]
    assert created["license"] == "phone_system" and created["addons"]
    # John's seat and two device add-ons: he may have two devices, and not three.
    path = f"/v1/tenants/{ready.id}/extensions/{john.id}/devices"
    assert api.post(path, {"kind": "softphone"}).status_code == 201
    assert api.post(path, {"kind": "softphone"}).status_code == 201
    assert api.post(path, {"kind": "softphone"}).json()["error"]["type"] == "license_required"


def test_a_file_with_bad_rows_applies_nothing_and_lists_every_error(client, api, ready):
    text = "\r\n".join(
        [
            "Ext key,Number,User,Addon license 1,Addon license 2",
            "101,+15015550101,John,device_ip_phone,",  # fine
            "911,+15015550102,Ann,,",  # emergency number
            "102,+15015550199,Bo,,",  # not the tenant's number
            "103,+15015550104,,team_chat_pro,",  # no name; unknown code
            "101,+15015550109,Dup,device_ip_phone,device_ip_phone",  # ext twice; code twice
            "104,not a number,Cy,,",
            "105,+15015550101,Di,,",  # John's number again
        ]
    )
    response = upload(client, api, ready, text)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_rows"
    found = {(e["row"], e["column"]) for e in error["errors"]}
    assert found == {
        (3, "Ext key"),
        (4, "Number"),
        (5, "User"),
        (5, "Addon license 1"),
        (6, "Ext key"),
        (6, "Addon license 2"),
        (7, "Number"),
        (8, "Number"),
    }
    assert "8 problems" in error["message"]
    assert not Extension.objects.filter(tenant=ready).exists()
    assert not LicenseAssignment.objects.exists()
    assert not LicenseAllocation.objects.filter(quantity__gt=0).exists()
    assert not Event.objects.filter(type="extension.created").exists()


def test_seats_and_add_ons_beyond_what_is_held_are_errors_at_their_rows(client, api, ready):
    rows = ["Ext key,User,Addon license 1"]
    rows += [f"{200 + n},User {n},license_dnc_checking_enabled" for n in range(3)]  # 2 held
    rows += [f"{300 + n},User {n}," for n in range(9)]  # 12 seats wanted, 10 held
    response = upload(client, api, ready, "\n".join(rows))
    assert response.status_code == 422
    errors = response.json()["error"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [
        (4, "Addon license 1"),  # the third DNC
        (12, "Seat"),  # the 11th seat
        (13, "Seat"),
    ]
    assert not Extension.objects.exists()


def test_ten_seats_configure_ten_users(client, api, ready):
    rows = ["Ext key,User"] + [f"{400 + n},User {n}" for n in range(10)]
    assert upload(client, api, ready, "\n".join(rows)).status_code == 200
    assert Extension.objects.filter(tenant=ready).count() == 10


def test_a_second_file_updates_users_and_sets_their_add_ons(client, api, admin, ready):
    upload(client, api, ready, sample_csv())
    lucie = Extension.objects.get(tenant=ready, number="104")
    text = "\n".join(
        [
            "Ext key,Number,User,Email,Addon license 1",
            "104,+15015550102,Lucie Grey,lucie@example.com,device_web_rtc",
            "102,+15015550104,Alice,,device_ip_phone",  # the two swap numbers
        ]
    )
    hold(admin, ready, "device_web_rtc", 1)
    checked = upload(client, api, ready, text, dry_run=True)
    assert checked.status_code == 200, checked.json()
    assert checked.json()["applied"] is False
    assert Extension.objects.get(pk=lucie.pk).name == "Lucie"  # the dry run changed nothing
    applied = upload(client, api, ready, text)
    assert applied.status_code == 200, applied.json()
    summary = applied.json()
    assert (summary["created"], summary["updated"]) == (0, 2)
    lucie.refresh_from_db()
    assert (lucie.name, lucie.email, lucie.main_number.e164) == (
        "Lucie Grey",
        "lucie@example.com",
        "+15015550102",
    )
    assert set(
        LicenseAssignment.objects.filter(target_id=lucie.id).values_list("sku_id", flat=True)
    ) == {"phone_system", "device_web_rtc"}
    alice = Extension.objects.get(tenant=ready, number="102")
    assert alice.main_number.e164 == "+15015550104"
    assert Event.objects.filter(type="extension.updated").count() == 2


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe\x00b\x00a\x00d",
        b"Number,User\n+15015550101,Ann\n",  # no Ext key column
        b"Ext key,User,Colour\n101,Ann,red\n",  # unknown column
        b"Ext key,User\n",  # no rows
    ],
)
def test_unreadable_files_are_refused(client, api, ready, content):
    response = upload(client, api, ready, content)
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["field"] == "file"
    assert not Extension.objects.exists()


def test_a_user_stays_at_its_site(client, api, ready):
    api.post(f"/v1/tenants/{ready.id}/sites", {"name": "Annex"})
    upload(client, api, ready, "Ext key,User,Site\n101,Ann,Annex\n")
    annex = Site.objects.get(tenant=ready, name="Annex")
    assert Extension.objects.get(number="101").site == annex
    moved = upload(client, api, ready, "Ext key,User,Site\n101,Ann,Main site\n")
    assert moved.status_code == 422
    assert moved.json()["error"]["errors"][0]["column"] == "Site"
    unknown = upload(client, api, ready, "Ext key,User,Site\n102,Bo,Mars\n")
    assert unknown.json()["error"]["errors"][0]["column"] == "Site"


def test_a_tenant_not_billed_by_licence_takes_users_but_no_add_ons(client, api, admin):
    tenant = make_tenant(admin)
    assert upload(client, api, tenant, "Ext key,User\n101,Ann\n").status_code == 200
    assert not LicenseAssignment.objects.exists()
    refused = upload(client, api, tenant, "Ext key,User,Addon license 1\n102,Bo,team_chat\n")
    assert refused.status_code == 422
    assert Extension.objects.filter(tenant=tenant).count() == 1


def test_another_partners_tenant_is_not_found(client, api, ready):
    from tests.conftest import ApiClient

    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    assert upload(client, outsider, ready, sample_csv()).status_code == 404
    assert outsider.get(f"/v1/tenants/{ready.id}/mass-configuration/sample.csv").status_code == 404
    assert not Extension.objects.exists()


def test_the_file_as_a_whole_stays_within_max_extensions(client, api, ready):
    from trunkline.tenants.models import Tenant

    Tenant.objects.filter(pk=ready.pk).update(max_extensions=3)
    rows = "Ext key,User\n" + "".join(f"{400 + n},User {n}\n" for n in range(4))
    refused = upload(client, api, ready, rows)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "limit_exceeded"
    assert "4 more" in refused.json()["error"]["message"]
    assert not Extension.objects.exists()
    assert upload(client, api, ready, rows.rsplit("403", 1)[0]).status_code == 200
    assert Extension.objects.filter(tenant=ready).count() == 3


def test_a_suspended_tenant_takes_no_new_users_from_a_file(client, api, ready):
    from trunkline.tenants.models import Tenant

    Tenant.objects.filter(pk=ready.pk).update(status=Tenant.Status.SUSPENDED)
    refused = upload(client, api, ready, "Ext key,User\n101,Ann\n")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "tenant_suspended"
    assert not Extension.objects.exists()
