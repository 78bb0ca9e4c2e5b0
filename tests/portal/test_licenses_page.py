"""Tenants → [Tenant] → Licences and the site-level page (`000_*.txt`, "Licenses": limit and
in use, the orange warning when a licence is depleted, progress bars, number entitlements
on their own tab, the breadcrumb Tenant → Site; `001_*.txt`, "Manage Licenses": search by
licence type, user or extension number, and the mass-configuration upload)."""

from __future__ import annotations

import html
import io
import re

import pytest

from tests.factories import actor_for_user, make_tenant
from tests.licensing.conftest import hold, licence_profile
from tests.portal.conftest import HTMX, sign_in
from trunkline.licensing import services as licences
from trunkline.licensing.models import (
    LicenseAllocation,
    LicenseAssignment,
    LicenseSubscription,
)
from trunkline.pbx.extensions import extension_create
from trunkline.pbx.models import Extension, Site
from trunkline.pbx.services import site_create
from trunkline.phone_numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db


def make_user(admin, tenant, number: str, name: str, site=None, seat="seat_basic"):
    fields = {"number": number, "name": name, "license": seat}
    if site is not None:
        fields["site_id"] = site.id
    return extension_create(actor=actor_for_user(admin), tenant=tenant, fields=fields)


@pytest.fixture
def seat_co(admin):
    """A small fixed data set, counted by hand below.

    Holds 3 Basic seats, 2 Call Recording, 1 AA Basic, 4 trunk licences and 5 local number
    entitlements; two sites; Ann Lee (2001) at Main site with Call Recording and Bob Stone
    (2002) at Branch, each on a Basic seat taken by their site as they were created."""
    licensed = make_tenant(admin, name="Seat Co", billing_profile_id=licence_profile(admin).id)
    hold(admin, licensed, "seat_basic", 3)
    hold(admin, licensed, "call_recording", 2)
    hold(admin, licensed, "aa_basic", 1)
    hold(admin, licensed, "trunk", 4)
    hold(admin, licensed, "number_local", 5)
    branch = site_create(actor=actor_for_user(admin), tenant=licensed, name="Branch")
    ann = make_user(admin, licensed, "2001", "Ann Lee")
    bob = make_user(admin, licensed, "2002", "Bob Stone", site=branch)
    licences.assignment_create(
        actor=actor_for_user(admin),
        tenant=licensed,
        sku_code="call_recording",
        target_type="extension",
        target_id=ann.id,
    )
    licensed.branch, licensed.ann, licensed.bob = branch, ann, bob
    licensed.main = Site.objects.get(tenant=licensed, is_default=True)
    return licensed


def get(client, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, response.content.decode()[:2000]
    return response.content.decode()


def row_of(content: str, sku: str) -> str:
    start = content.index(f'<tr data-sku="{sku}"')
    return content[start : content.index("</tr>", start)]


def figures(content: str, sku: str) -> dict[str, int]:
    return {
        name: int(value)
        for name, value in re.findall(r'data-figure="(\w+)">(\d+)<', row_of(content, sku))
    }


def assignment_ids(content: str) -> set[str]:
    return set(re.findall(r'data-assignment="(lca_\w+)"', content))


def licenses_page(client, tenant, query: str = "") -> str:
    return get(client, f"/tenants/{tenant.id}/licenses{query}")


# --- the figures ---------------------------------------------------------------------------


def test_the_overview_shows_the_engines_figures_per_licence(admin_client, seat_co):
    content = licenses_page(admin_client, seat_co)
    assert figures(content, "seat_basic") == {
        "limit": 3,
        "in_use": 2,
        "assigned": 2,
        "unallocated": 1,
    }
    assert figures(content, "call_recording") == {
        "limit": 2,
        "in_use": 1,
        "assigned": 1,
        "unallocated": 1,
    }
    seats = row_of(content, "seat_basic")
    # The bar: 2 of 3 in use is 67 %, every one of them assigned.
    assert 'role="progressbar"' in seats and 'aria-valuenow="2"' in seats
    assert 'aria-valuemax="3"' in seats and 'data-progress="67"' in seats
    assert "Base" in seats and "Add-on" in row_of(content, "call_recording")
    # Each site's allocated / used, linking to the site's page.
    assert f'href="/tenants/{seat_co.id}/sites/{seat_co.main.id}"' in seats
    assert f'href="/tenants/{seat_co.id}/sites/{seat_co.branch.id}"' in seats
    assert "Branch</a> 1 / 1" in seats
    # The user tab holds user licences only.
    assert 'data-sku="trunk"' not in content and 'data-sku="number_local"' not in content


def test_the_other_tabs_hold_call_flow_trunk_and_number_licences(admin_client, seat_co):
    call_flows = licenses_page(admin_client, seat_co, "?tab=call_flows")
    assert figures(call_flows, "aa_basic") == {
        "limit": 1,
        "in_use": 0,
        "assigned": 0,
        "unallocated": 1,
    }
    assert 'data-sku="seat_basic"' not in call_flows
    assert figures(licenses_page(admin_client, seat_co, "?tab=trunks"), "trunk")["limit"] == 4
    entitlements = licenses_page(admin_client, seat_co, "?tab=entitlements")
    number_row = row_of(entitlements, "number_local")
    assert figures(entitlements, "number_local")["limit"] == 5
    assert "local numbers, US" in number_row  # the seed's hover details: type and country
    assert 'aria-current="page">Number entitlements' in entitlements
    # An unknown tab is the first one.
    assert 'data-sku="seat_basic"' in licenses_page(admin_client, seat_co, "?tab=nonsense")


def test_an_auto_attendant_holds_its_licence_on_the_call_flow_tab(admin, admin_client, seat_co):
    from trunkline.pbx.call_flows import call_flow_create

    config = {
        "menus": {"main": {"options": {"0": {"type": "extension", "id": seat_co.ann.id}}}},
        "business_hours_menu": "main",
    }
    call_flow_create(
        actor=actor_for_user(admin),
        tenant=seat_co,
        fields={"kind": "auto_attendant", "name": "Front desk", "number": "4000", "config": config},
    )
    page = licenses_page(admin_client, seat_co, "?tab=call_flows")
    assert figures(page, "aa_basic") == {"limit": 1, "in_use": 1, "assigned": 1, "unallocated": 0}
    assert "Auto attendant Front desk" in page


def test_the_orange_warning_shows_when_every_licence_is_in_use(admin, admin_client, seat_co):
    # N - 1: two of the three seats are allocated and assigned.
    content = licenses_page(admin_client, seat_co)
    assert "data-depletion-warning" not in content and "data-depleted" not in content
    assert "⚠" not in content
    assert "data-depleted" not in get(admin_client, f"/tenants/{seat_co.id}")
    # N = limit: the third user takes the last seat.
    make_user(admin, seat_co, "2003", "Cy Young")
    content = licenses_page(admin_client, seat_co)
    warning = content[content.index("data-depletion-warning") :]
    assert "1 licence type depleted:" in warning[:400] and "Basic seat" in warning[:400]
    assert "data-depleted" in row_of(content, "seat_basic")
    assert 'class="meter depleted"' in row_of(content, "seat_basic")
    assert "data-depleted" not in row_of(content, "call_recording")
    tabs = content[content.index('aria-label="Licence types"') :]
    assert 'User licences <span class="warning-sign"' in tabs[:600]
    assert "Trunking <span" not in tabs[:900]
    # The tenant page's Licences card carries the warning too.
    assert "Depleted: Basic seat" in get(admin_client, f"/tenants/{seat_co.id}")


def test_allocated_but_unassigned_licences_are_in_use_and_not_depleted(
    admin, admin_client, seat_co
):
    # The seed's note: a site given more than it uses shows them all in use.
    licences.allocation_set(
        actor=actor_for_user(admin), site=seat_co.branch, sku_code="seat_basic", quantity=2
    )
    content = licenses_page(admin_client, seat_co)
    assert figures(content, "seat_basic") == {
        "limit": 3,
        "in_use": 3,
        "assigned": 2,
        "unallocated": 0,
    }
    assert "data-depleted" not in row_of(content, "seat_basic")


# --- search ---------------------------------------------------------------------------------


def test_search_by_licence_type_user_name_and_extension(admin_client, seat_co):
    ann_seat, ann_recording = (
        LicenseAssignment.objects.get(target_id=seat_co.ann.id, sku_id=code).id
        for code in ("seat_basic", "call_recording")
    )
    bob_seat = LicenseAssignment.objects.get(target_id=seat_co.bob.id).id
    assert assignment_ids(licenses_page(admin_client, seat_co)) == {
        ann_seat,
        ann_recording,
        bob_seat,
    }
    assert assignment_ids(licenses_page(admin_client, seat_co, "?sku=call_recording")) == {
        ann_recording
    }
    assert assignment_ids(licenses_page(admin_client, seat_co, "?sku=seat_basic")) == {
        ann_seat,
        bob_seat,
    }
    by_user = licenses_page(admin_client, seat_co, "?user=stone")
    assert assignment_ids(by_user) == {bob_seat}
    assert "Bob Stone" in by_user and 'value="stone"' in by_user
    assert assignment_ids(licenses_page(admin_client, seat_co, "?extension=2001")) == {
        ann_seat,
        ann_recording,
    }
    both = licenses_page(admin_client, seat_co, "?extension=2001&sku=seat_basic")
    assert assignment_ids(both) == {ann_seat}
    nothing = licenses_page(admin_client, seat_co, "?extension=2999")
    assert assignment_ids(nothing) == set() and "data-no-results" in nothing
    # The search stays on its tab: no user licence is a trunk licence.
    assert assignment_ids(licenses_page(admin_client, seat_co, "?tab=trunks")) == set()


def test_the_api_searches_with_the_same_selector(api, admin_client, seat_co):
    url = f"/v1/tenants/{seat_co.id}/license-assignments"
    by_name = {a["id"] for a in api.get(url, {"user": "stone"}).json()["data"]}
    assert by_name == assignment_ids(licenses_page(admin_client, seat_co, "?user=stone"))
    by_extension = {a["id"] for a in api.get(url, {"extension": "2001"}).json()["data"]}
    assert by_extension == assignment_ids(licenses_page(admin_client, seat_co, "?extension=2001"))
    assert len(by_extension) == 2


# --- the site-level page --------------------------------------------------------------------


def test_the_site_page_has_the_breadcrumb_its_licences_and_its_users(admin_client, seat_co):
    content = get(admin_client, f"/tenants/{seat_co.id}/sites/{seat_co.branch.id}")
    crumbs = content[content.index('class="breadcrumb"') :]
    crumbs = crumbs[: crumbs.index("</nav>")]
    assert re.search(
        r'<a href="/tenants">Tenants</a>.*›.*'
        rf'<a href="/tenants/{seat_co.id}">Seat Co</a>.*›.*'
        r'<span aria-current="page">Branch</span>',
        crumbs,
    )
    assert figures(content, "seat_basic") == {
        "allocated": 1,
        "used": 1,
        "free": 0,
        "tenant_unallocated": 1,
    }
    assert 'data-sku="call_recording"' not in content  # only the main site has one
    users = content[content.index('id="site-users-title"') :]
    assert "Bob Stone" in users and "Ann Lee" not in users and "Basic seat" in users
    assert f'href="/tenants/{seat_co.id}/licenses"' in content
    assert f'href="/tenants/{seat_co.id}/sites/{seat_co.main.id}"' in content
    main = get(admin_client, f"/tenants/{seat_co.id}/sites/{seat_co.main.id}")
    assert figures(main, "call_recording")["used"] == 1
    assert "Call Recording" in main[main.index('id="site-users-title"') :]


def test_the_tenant_page_links_to_the_licences_and_the_sites(admin_client, seat_co):
    content = get(admin_client, f"/tenants/{seat_co.id}")
    assert f'href="/tenants/{seat_co.id}/licenses"' in content
    assert f'<a href="/tenants/{seat_co.id}/sites/{seat_co.branch.id}">Branch</a>' in content


def test_a_tenant_not_billed_by_licence_gets_a_note(admin_client, tenant):
    content = get(admin_client, f"/tenants/{tenant.id}")
    assert f"/tenants/{tenant.id}/licenses" not in content
    note = licenses_page(admin_client, tenant)
    assert "data-not-licensed" in note and "needs no licences" in note
    assert "Add licences" not in note
    site = Site.objects.get(tenant=tenant)
    site_page = get(admin_client, f"/tenants/{tenant.id}/sites/{site.id}")
    assert "Licences at this site" not in site_page and "No users at this site yet" in site_page


# --- the forms ------------------------------------------------------------------------------


def test_add_licences(admin_client, seat_co):
    path = f"/tenants/{seat_co.id}/licenses/add"
    form = get(admin_client, path)
    assert '<optgroup label="User base licence">' in form and 'value="seat_basic"' in form
    back = f"/tenants/{seat_co.id}/licenses?tab=users"
    added = admin_client.post(path, {"sku": "seat_basic", "quantity": "2", "next": back}, **HTMX)
    assert added.status_code == 200 and added["HX-Redirect"] == back
    page = get(admin_client, back)
    assert "Added 2 × Basic seat" in page
    assert figures(page, "seat_basic")["limit"] == 5


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({"sku": "seat_basic", "quantity": "0"}, "quantity is a whole number from 1 to 100,000"),
        ({"sku": "seat_basic", "quantity": "two"}, "quantity is a whole number"),
        ({"sku": "seat_basic", "quantity": ""}, "quantity is a whole number"),
        ({"sku": "no_such_thing", "quantity": "1"}, "is not a licence of the right kind"),
    ],
)
def test_add_licences_refused_shows_the_reason_on_the_form(admin_client, seat_co, posted, message):
    before = LicenseSubscription.objects.count()
    response = admin_client.post(f"/tenants/{seat_co.id}/licenses/add", posted, **HTMX)
    assert response.status_code == 422
    assert message in html.unescape(response.content.decode()).lower()
    assert 'role="dialog"' in response.content.decode()
    assert LicenseSubscription.objects.count() == before


def test_a_cancelled_tenant_takes_no_licences(admin, admin_client, seat_co):
    from trunkline.tenants.models import Tenant

    Tenant.objects.filter(pk=seat_co.pk).update(status=Tenant.Status.CANCELLED)
    content = licenses_page(admin_client, seat_co)
    assert "Add licences</a>" not in content
    refused = admin_client.post(
        f"/tenants/{seat_co.id}/licenses/add", {"sku": "seat_basic", "quantity": "1"}, **HTMX
    )
    assert refused.status_code == 409 and "cancelled tenant" in refused.content.decode()


def test_allocate_to_a_site(admin_client, seat_co):
    path = f"/tenants/{seat_co.id}/licenses/allocate"
    form = get(admin_client, f"{path}?site={seat_co.branch.id}&sku=seat_basic")
    assert 'value="1"' in form  # what the site has now
    done = admin_client.post(
        path, {"site": seat_co.branch.id, "sku": "seat_basic", "quantity": "2"}, **HTMX
    )
    assert done.status_code == 200, done.content.decode()
    assert LicenseAllocation.objects.get(site=seat_co.branch, sku="seat_basic").quantity == 2


@pytest.mark.parametrize(
    ("quantity", "status", "message"),
    [
        ("3", 409, "Branch can have at most 2"),  # the main site has 1 of the 3
        ("0", 409, "1 Basic seat licences are assigned at Branch"),
        ("-1", 422, "quantity is a whole number"),
    ],
)
def test_allocation_refused(admin_client, seat_co, quantity, status, message):
    response = admin_client.post(
        f"/tenants/{seat_co.id}/licenses/allocate",
        {"site": seat_co.branch.id, "sku": "seat_basic", "quantity": quantity},
        **HTMX,
    )
    assert response.status_code == status
    assert message in response.content.decode().replace("Quantity", "quantity")
    assert LicenseAllocation.objects.get(site=seat_co.branch, sku="seat_basic").quantity == 1


def test_allocation_to_another_partners_site_is_refused(admin_client, seat_co, other_partner):
    theirs = Site.objects.get(tenant=other_partner[2])
    response = admin_client.post(
        f"/tenants/{seat_co.id}/licenses/allocate",
        {"site": theirs.id, "sku": "seat_basic", "quantity": "1"},
        **HTMX,
    )
    assert response.status_code == 422 and "No such site" in response.content.decode()
    assert not LicenseAllocation.objects.filter(site=theirs).exists()


def test_migrate_between_sites(admin, admin_client, seat_co):
    licences.allocation_set(
        actor=actor_for_user(admin), site=seat_co.branch, sku_code="seat_basic", quantity=2
    )
    path = f"/tenants/{seat_co.id}/licenses/migrate"
    assert f'value="{seat_co.branch.id}" selected' in get(
        admin_client, f"{path}?from_site={seat_co.branch.id}"
    )
    moved = {
        "sku": "seat_basic",
        "from_site": seat_co.branch.id,
        "to_site": seat_co.main.id,
        "quantity": "1",
    }
    done = admin_client.post(path, moved, **HTMX)
    assert done.status_code == 200, done.content.decode()
    quantities = dict(
        LicenseAllocation.objects.filter(sku="seat_basic").values_list("site", "quantity")
    )
    assert quantities == {seat_co.main.id: 2, seat_co.branch.id: 1}
    # Nothing free is left at Branch: its one seat is Bob's.
    refused = admin_client.post(path, moved, **HTMX)
    assert refused.status_code == 409
    assert "Branch has 0 free Basic seat licences to move" in refused.content.decode()
    same = admin_client.post(path, {**moved, "to_site": seat_co.branch.id}, **HTMX)
    assert same.status_code == 422 and "The two sites are the same" in same.content.decode()
    assert (
        dict(LicenseAllocation.objects.filter(sku="seat_basic").values_list("site", "quantity"))
        == quantities
    )


def test_terminate_a_subscription_by_its_uuid(admin, admin_client, seat_co):
    spare = hold(admin, seat_co, "team_chat", 2)
    content = licenses_page(admin_client, seat_co)
    assert str(spare.id) in content
    path = f"/tenants/{seat_co.id}/licenses/subscriptions/{spare.id}/terminate"
    assert admin_client.post(path).status_code == 302
    spare.refresh_from_db()
    assert spare.status == "TERMINATED"
    # The seats are assigned: terminating them is refused, with the reason.
    seats = LicenseSubscription.objects.get(tenant=seat_co, sku="seat_basic")
    refused = admin_client.post(
        f"/tenants/{seat_co.id}/licenses/subscriptions/{seats.id}/terminate", follow=True
    )
    assert "Basic seat licences are assigned" in refused.content.decode()
    seats.refresh_from_db()
    assert seats.status == "ACTIVE"


# --- mass configuration ---------------------------------------------------------------------


def csv_file(text: str, name: str = "users.csv"):
    file = io.BytesIO(text.encode())
    file.name = name
    return file


def numbers(tenant, *e164s):
    for e164 in e164s:
        PhoneNumber.objects.create(
            partner_id=tenant.partner_id,
            tenant=tenant,
            e164=e164,
            kind="local",
            status=PhoneNumber.Status.ACTIVE,
        )


@pytest.fixture
def ready(admin, seat_co):
    hold(admin, seat_co, "phone_system", 5)
    hold(admin, seat_co, "device_ip_phone", 3)
    numbers(seat_co, "+15015550101", "+15015550102")
    return seat_co


MIXED = (
    "Ext key,Number,User,Addon license 1\r\n"
    "2101,+15015550101,Dana Cruz,device_ip_phone\r\n"
    "2102,+15015550199,Eli Park,device_ip_phone\r\n"
    "2103,,,nonsense\r\n"
    "2104,+15015550102,Fay Moss,\r\n"
)
GOOD = (
    "Ext key,Number,User,Addon license 1\r\n"
    "2101,+15015550101,Dana Cruz,device_ip_phone\r\n"
    "2104,+15015550102,Fay Moss,\r\n"
)


def upload(client, tenant, text: str, action: str):
    return client.post(
        f"/tenants/{tenant.id}/licenses/mass-configuration",
        {"file": csv_file(text), "action": action},
    )


def test_the_mass_configuration_page_and_its_sample(admin_client, reader_client, ready):
    content = get(admin_client, f"/tenants/{ready.id}/licenses/mass-configuration")
    assert 'enctype="multipart/form-data"' in content
    assert 'name="action" value="check"' in content and 'name="action" value="apply"' in content
    assert "<code>device_ip_phone</code>" in content
    assert f'href="/tenants/{ready.id}/licenses/mass-configuration"' in licenses_page(
        admin_client, ready
    )
    sample = admin_client.get(f"/tenants/{ready.id}/licenses/mass-configuration/sample.csv")
    assert sample.status_code == 200 and sample["Content-Type"].startswith("text/csv")
    assert "attachment" in sample["Content-Disposition"]
    from trunkline.licensing.mass_config import sample_csv

    assert sample.content.decode() == sample_csv()
    # Readers may download the sample but get no upload form.
    assert (
        reader_client.get(f"/tenants/{ready.id}/licenses/mass-configuration/sample.csv").status_code
        == 200
    )
    read_only = get(reader_client, f"/tenants/{ready.id}/licenses/mass-configuration")
    assert 'enctype="multipart/form-data"' not in read_only and "read-only" in read_only


@pytest.mark.parametrize("action", ["check", "apply"])
def test_a_file_with_mixed_rows_lists_every_problem_and_applies_nothing(
    admin_client, ready, action
):
    before = (Extension.objects.count(), LicenseAssignment.objects.count())
    response = upload(admin_client, ready, MIXED, action)
    assert response.status_code == 422
    content = response.content.decode()
    assert "3 problems in the file; nothing was applied" in content
    table = content[content.index('id="row-errors-title"') :]
    rows = re.findall(
        r'<tr data-row-error="(\d*)"><td class="num">[^<]*</td><td>([^<]*)</td>'
        r'<td class="wrap">([^<]*)</td>',
        table,
    )
    assert [(row, column) for row, column, _ in rows] == [
        ("3", "Number"),
        ("4", "User"),
        ("4", "Addon license 1"),
    ]
    assert "+15015550199 is not one of the tenant" in rows[0][2]
    assert "&#x27;nonsense&#x27; is not an add-on licence code" in rows[2][2]
    assert (Extension.objects.count(), LicenseAssignment.objects.count()) == before
    assert not Extension.objects.filter(tenant=ready, number__in=["2101", "2104"]).exists()


def test_a_good_file_is_checked_then_applied_with_a_summary(admin_client, ready):
    checked = upload(admin_client, ready, GOOD, "check")
    assert checked.status_code == 200
    content = checked.content.decode()
    assert "Checked: the file is good, nothing was applied" in content
    assert re.search(r'data-summary="created">2<', content)
    assert re.search(r'data-summary="licenses_assigned">3<', content)  # 2 seats, 1 IP phone
    assert not Extension.objects.filter(tenant=ready, number="2101").exists()

    applied = upload(admin_client, ready, GOOD, "apply")
    assert applied.status_code == 200
    content = applied.content.decode()
    assert "<strong>Applied</strong>" in content and re.search(r'data-summary="rows">2<', content)
    dana = Extension.objects.get(tenant=ready, number="2101")
    assert dana.name == "Dana Cruz" and dana.main_number.e164 == "+15015550101"
    assert set(
        LicenseAssignment.objects.filter(target_id=dana.id).values_list("sku_id", flat=True)
    ) == {"phone_system", "device_ip_phone"}


def test_an_unreadable_upload_is_a_form_error(admin_client, ready):
    missing = admin_client.post(
        f"/tenants/{ready.id}/licenses/mass-configuration", {"action": "apply"}
    )
    assert missing.status_code == 422 and "The file is empty" in missing.content.decode()
    binary = admin_client.post(
        f"/tenants/{ready.id}/licenses/mass-configuration",
        {"file": csv_file("\x00\x01"), "action": "check"},
    )
    assert binary.status_code == 422 and "not a CSV file" in binary.content.decode()


# --- who may see and change what ------------------------------------------------------------


def test_readers_see_the_pages_but_cannot_write(reader_client, seat_co):
    content = licenses_page(reader_client, seat_co)
    assert figures(content, "seat_basic")["limit"] == 3
    for label in ("Add licences", "Allocate to a site", "Migrate between sites", "Terminate"):
        assert label not in content
    site_page = get(reader_client, f"/tenants/{seat_co.id}/sites/{seat_co.branch.id}")
    assert "Bob Stone" in site_page and ">Allocate</a>" not in site_page
    base = f"/tenants/{seat_co.id}/licenses"
    subscription = LicenseSubscription.objects.filter(tenant=seat_co).first()
    posts = [
        (f"{base}/add", {"sku": "seat_basic", "quantity": "1"}),
        (f"{base}/allocate", {"site": seat_co.branch.id, "sku": "seat_basic", "quantity": "2"}),
        (
            f"{base}/migrate",
            {
                "sku": "seat_basic",
                "from_site": seat_co.main.id,
                "to_site": seat_co.branch.id,
                "quantity": "1",
            },
        ),
        (f"{base}/subscriptions/{subscription.id}/terminate", {}),
        (f"{base}/mass-configuration", {"file": csv_file(GOOD), "action": "apply"}),
    ]
    before = (
        LicenseSubscription.objects.filter(status="ACTIVE").count(),
        list(LicenseAllocation.objects.order_by("id").values_list("quantity", flat=True)),
        Extension.objects.count(),
    )
    for path, data in posts:
        assert reader_client.post(path, data).status_code == 403, path
    assert reader_client.get(f"{base}/add").status_code == 403
    after = (
        LicenseSubscription.objects.filter(status="ACTIVE").count(),
        list(LicenseAllocation.objects.order_by("id").values_list("quantity", flat=True)),
        Extension.objects.count(),
    )
    assert after == before


def test_another_partners_tenant_and_sites_are_not_found(admin, admin_client, other_partner):
    _, admin_b, theirs = other_partner
    from trunkline.tenants.models import Tenant

    Tenant.objects.filter(pk=theirs.pk).update(billing_profile_id=licence_profile(admin_b).id)
    theirs.refresh_from_db()
    subscription = hold(admin_b, theirs, "seat_basic", 2)
    site = Site.objects.get(tenant=theirs)
    base = f"/tenants/{theirs.id}"
    for path in (
        f"{base}/licenses",
        f"{base}/sites/{site.id}",
        f"{base}/licenses/add",
        f"{base}/licenses/allocate",
        f"{base}/licenses/migrate",
        f"{base}/licenses/mass-configuration",
        f"{base}/licenses/mass-configuration/sample.csv",
    ):
        assert admin_client.get(path).status_code == 404, path
    for path, data in (
        (f"{base}/licenses/add", {"sku": "seat_basic", "quantity": "1"}),
        (f"{base}/licenses/allocate", {"site": site.id, "sku": "seat_basic", "quantity": "1"}),
        (f"{base}/licenses/subscriptions/{subscription.id}/terminate", {}),
        (f"{base}/licenses/mass-configuration", {"file": csv_file(GOOD), "action": "apply"}),
    ):
        assert admin_client.post(path, data).status_code == 404, path
    subscription.refresh_from_db()
    assert subscription.status == "ACTIVE"
    assert LicenseSubscription.objects.filter(tenant=theirs).count() == 1
    assert not LicenseAllocation.objects.filter(tenant=theirs).exists()
    # Their site under one of our tenants is not found either.
    ours = make_tenant(admin, billing_profile_id=licence_profile(admin).id)
    assert admin_client.get(f"/tenants/{ours.id}/sites/{site.id}").status_code == 404
    # And another tenant's subscription through ours.
    assert (
        admin_client.post(
            f"/tenants/{ours.id}/licenses/subscriptions/{subscription.id}/terminate"
        ).status_code
        == 404
    )


# --- in a real browser ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_bars_the_warning_and_a_csv_upload(page, live_server, admin, tmp_path):
    from playwright.sync_api import expect

    tenant = make_tenant(admin, name="Seat Co", billing_profile_id=licence_profile(admin).id)
    hold(admin, tenant, "seat_basic", 2)
    hold(admin, tenant, "phone_system", 2)
    hold(admin, tenant, "device_ip_phone", 1)
    make_user(admin, tenant, "2001", "Ann Lee")
    make_user(admin, tenant, "2002", "Bob Stone")

    sign_in(page, admin, live_server)
    page.goto(f"/tenants/{tenant.id}")
    page.locator("#licenses").get_by_role("link", name="Open licences").click()
    expect(page.get_by_role("heading", name="Licences", exact=True)).to_be_visible()
    seats = page.locator("tr[data-sku='seat_basic']")
    bar = seats.get_by_role("progressbar")
    expect(bar).to_be_visible()
    expect(bar).to_have_attribute("aria-valuenow", "2")
    assert bar.locator(".meter-assigned").bounding_box()["width"] > 0
    warning = page.locator("[data-depletion-warning]")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("Basic seat")
    expect(seats.locator("[data-depleted]")).to_be_visible()
    colour = seats.locator("[data-depleted]").evaluate("node => getComputedStyle(node).color")
    assert colour == "rgb(232, 89, 12)"  # the seed's orange

    # One more seat in the modal and the warning goes.
    page.get_by_role("link", name="Add licences").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Licence").select_option("seat_basic")
    dialog.get_by_label("Quantity").fill("1")
    dialog.get_by_role("button", name="Add licences").click()
    expect(page.locator("[data-depletion-warning]")).to_have_count(0)
    expect(page.locator("tr[data-sku='seat_basic'] [data-figure='limit']")).to_have_text("3")

    # Mass configuration: a bad file lists its problems, a good one is applied.
    page.get_by_role("link", name="Mass configuration").click()
    expect(page.get_by_role("heading", name="Mass configuration")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download sample file").click()
    assert download.value.suggested_filename == "mass-configuration-sample.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("Ext key,Number,User,Addon license 1\n2201,,Dana Cruz,nonsense\n2202,,,\n")
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Apply").click()
    errors = page.locator("[data-mass-config-errors]")
    expect(errors).to_contain_text("2 problems in the file; nothing was applied")
    expect(errors.locator("tr[data-row-error]")).to_have_count(2)
    expect(errors.locator("tr[data-row-error='2']")).to_contain_text("Addon license 1")
    expect(errors.locator("tr[data-row-error='3']")).to_contain_text("User")
    assert not Extension.objects.filter(tenant=tenant, number="2201").exists()
    good = tmp_path / "good.csv"
    good.write_text("Ext key,Number,User,Addon license 1\n2201,,Dana Cruz,device_ip_phone\n")
    page.get_by_label("CSV file").set_input_files(str(good))
    page.get_by_role("button", name="Apply").click()
    summary = page.locator("[data-mass-config-summary]")
    expect(summary).to_contain_text("Applied")
    expect(summary.locator("[data-summary='created']")).to_have_text("1")
    assert Extension.objects.get(tenant=tenant, number="2201").name == "Dana Cruz"
