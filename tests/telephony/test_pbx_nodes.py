"""PBX nodes and tenant placement (`002_*.txt`, "PBX nodes": platform staff keep the
Asterisk servers; every tenant's phone system runs on one)."""

import pytest

from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key, make_tenant
from trunkline.core.models import AuditEntry
from trunkline.pbx.extensions import extension_create
from trunkline.telephony.models import PbxNode, TenantPlacement

pytestmark = pytest.mark.django_db
NODES = "/v1/platform/pbx-nodes"


@pytest.fixture
def staff(client, partner):
    return ApiClient(client, make_api_key(partner, platform=True, name="Operator"))


def add_node(staff, name, capacity=1000, **fields):
    response = staff.post(
        NODES, {"name": name, "address": "10.0.4.11", "capacity": capacity, **fields}
    )
    assert response.status_code == 201, response.content
    return response.json()


def node_of(tenant):
    placement = TenantPlacement.objects.filter(tenant=tenant).first()
    return placement.node.name if placement else None


def extensions(admin, tenant, count):
    actor = actor_for_user(admin)
    for n in range(count):
        extension_create(
            actor=actor, tenant=tenant, fields={"number": str(2000 + n), "name": f"U{n}"}
        )


def test_staff_register_a_node_and_see_its_load(staff, admin):
    node = add_node(staff, "pbx-dal-1", capacity=200)
    assert node["status"] == "active" and node["tenants"] == 0 and node["load_percent"] == 0
    tenant = make_tenant(admin)
    extensions(admin, tenant, 5)
    seen = staff.get(f"{NODES}/{node['id']}").json()
    assert (seen["tenants"], seen["extensions"], seen["load_percent"]) == (1, 5, 2.5)
    assert [n["name"] for n in staff.get(NODES).json()["data"]] == ["pbx-dal-1"]
    assert AuditEntry.objects.filter(action="pbx_node.created", object_id=node["id"]).exists()


def test_new_tenants_go_to_the_least_loaded_node_for_its_size(staff, admin):
    small = add_node(staff, "pbx-a", capacity=10)
    add_node(staff, "pbx-b", capacity=100)
    first = make_tenant(admin, name="First")
    assert node_of(first) == "pbx-a"  # both empty: fewest tenants, then the name
    extensions(admin, first, 2)  # pbx-a is 20 % full
    second = make_tenant(admin, name="Second")
    assert node_of(second) == "pbx-b"
    extensions(admin, second, 30)  # pbx-b is 30 % full
    assert node_of(make_tenant(admin, name="Third")) == "pbx-a"
    # A draining node keeps its tenants and takes no new ones.
    assert staff.patch(f"{NODES}/{small['id']}", {"status": "draining"}).status_code == 200
    assert node_of(make_tenant(admin, name="Fourth")) == "pbx-b"
    assert node_of(first) == "pbx-a"


def test_tenants_made_with_no_node_wait_and_are_placed_when_one_is_active(staff, admin):
    waiting = make_tenant(admin, name="Waiting")
    assert node_of(waiting) is None
    node = add_node(staff, "pbx-later", status="offline")
    assert node_of(waiting) is None  # an offline node takes no one
    assert staff.patch(f"{NODES}/{node['id']}", {"status": "active"}).json()["tenants"] == 1
    assert node_of(waiting) == "pbx-later"


def test_a_busy_node_cannot_go_offline_or_be_removed_until_its_tenants_move(staff, admin):
    old = add_node(staff, "pbx-old")
    tenant = make_tenant(admin)
    new = add_node(staff, "pbx-new", status="draining")
    offline = staff.patch(f"{NODES}/{old['id']}", {"status": "offline"})
    assert offline.status_code == 409, offline.content
    assert staff.delete(f"{NODES}/{old['id']}").status_code == 409
    # A move is to a node that takes tenants.
    refused = staff.post(f"/v1/platform/tenants/{tenant.id}/move", {"node_id": new["id"]})
    assert refused.status_code == 409
    staff.patch(f"{NODES}/{new['id']}", {"status": "active"})
    moved = staff.post(f"/v1/platform/tenants/{tenant.id}/move", {"node_id": new["id"]})
    assert moved.status_code == 200, moved.content
    assert moved.json()["node"]["name"] == "pbx-new" and node_of(tenant) == "pbx-new"
    entry = AuditEntry.objects.get(action="tenant.moved", object_id=tenant.id)
    assert (entry.before, entry.after) == ({"node_id": old["id"]}, {"node_id": new["id"]})
    assert staff.patch(f"{NODES}/{old['id']}", {"status": "offline"}).status_code == 200
    assert staff.delete(f"{NODES}/{old['id']}").status_code == 204
    assert not PbxNode.objects.filter(pk=old["id"]).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Has Space", "address": "10.0.0.1", "capacity": 10},
        {"name": "pbx", "address": "not a host!", "capacity": 10},
        {"name": "pbx", "address": "10.0.0.1", "capacity": 0},
        {"name": "pbx", "address": "10.0.0.1", "capacity": "10"},
        {"name": "pbx", "address": "10.0.0.1", "capacity": 10, "status": "broken"},
        {"name": "pbx", "address": "10.0.0.1", "capacity": 10, "colour": "red"},
        {"name": "x" * 64, "address": "10.0.0.1", "capacity": 10},
    ],
)
def test_bad_nodes_are_refused_and_change_nothing(staff, body):
    response = staff.post(NODES, body)
    assert response.status_code == 422, response.content
    assert "error" in response.json()
    assert not PbxNode.objects.exists()


def test_names_are_unique(staff):
    add_node(staff, "pbx-1")
    again = staff.post(NODES, {"name": "pbx-1", "address": "pbx1.example.net", "capacity": 5})
    assert again.status_code == 409 and again.json()["error"]["type"] == "name_taken"


def test_partners_do_not_find_the_node_endpoints(api, staff, admin):
    node = add_node(staff, "pbx-1")
    tenant = make_tenant(admin)
    assert api.get(NODES).status_code == 404
    assert (
        api.post(NODES, {"name": "mine", "address": "10.0.0.9", "capacity": 5}).status_code == 404
    )
    assert api.get(f"{NODES}/{node['id']}").status_code == 404
    assert (
        api.post(f"/v1/platform/tenants/{tenant.id}/move", {"node_id": node["id"]}).status_code
        == 404
    )
    assert staff.get(f"{NODES}/pbn_nope").status_code == 404
