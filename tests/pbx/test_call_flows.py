"""Call flows (`000_*.txt`, "call flows"): auto attendants with menus, hunt groups, queues
and call centers; their destinations checked, nothing left pointing at a deleted target,
and users and call flows sharing one dial plan."""

from __future__ import annotations

import pytest

from tests.factories import make_api_key, make_partner, make_tenant
from trunkline.pbx.models import CallFlow

pytestmark = pytest.mark.django_db


def user(api, tenant, number, name="Ann", **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": name, **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def flow(api, tenant, kind, name, config, **fields):
    return api.post(
        f"/v1/tenants/{tenant.id}/call-flows",
        {"kind": kind, "name": name, "config": config, **fields},
    )


def to(item) -> dict:
    kind = "extension" if item["id"].startswith("ext") else "call_flow"
    return {"type": kind, "id": item["id"]}


def menu(options, **more):
    return {"menus": {"main": {"options": options}}, "business_hours_menu": "main", **more}


def test_a_hunt_group_rings_its_members_then_goes_where_it_is_told(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann, bob = user(api, tenant, "2001"), user(api, tenant, "2002", "Bob")
    made = flow(
        api,
        tenant,
        "hunt_group",
        "Sales",
        {
            "strategy": "sequential",
            "members": [ann["id"], bob["id"]],
            "ring_seconds": 15,
            "no_answer_destination": {"type": "external", "number": "+1 (501) 555-0123"},
        },
        number="4000",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["number"] == "4000"
    assert body["site_id"] == tenant.sites.get(is_default=True).id
    assert body["config"] == {
        "strategy": "sequential",
        "members": [ann["id"], bob["id"]],
        "ring_seconds": 15,
        "no_answer_destination": {"type": "external", "number": "+15015550123"},
    }
    assert body["license"] is None
    listed = api.get(f"/v1/tenants/{tenant.id}/call-flows?kind=hunt_group").json()["data"]
    assert [f["name"] for f in listed] == ["Sales"]
    assert api.get(f"/v1/tenants/{tenant.id}/call-flows?kind=queue").json()["data"] == []


def test_users_and_call_flows_share_one_dial_plan(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    taken = flow(api, tenant, "hunt_group", "Sales", {"members": [ann["id"]]}, number="2001")
    assert taken.status_code == 409
    assert taken.json()["error"]["type"] == "extension_taken"
    made = flow(api, tenant, "hunt_group", "Sales", {"members": [ann["id"]]}, number="4000")
    assert made.status_code == 201
    clash = api.post(f"/v1/tenants/{tenant.id}/extensions", {"number": "4000", "name": "Bob"})
    assert clash.status_code == 409
    assert "Sales" in clash.json()["error"]["message"]
    renumber = api.patch(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}", {"number": "4000"})
    assert renumber.status_code == 409
    emergency = flow(api, tenant, "hunt_group", "Help", {"members": [ann["id"]]}, number="911")
    assert emergency.status_code == 422


@pytest.mark.parametrize(
    "config, field",
    [
        ({"members": []}, "members"),
        ({"members": ["ext_nope"]}, "members[0]"),
        ({"members": [], "strategy": "loudest"}, "strategy"),
        ({"members": ["X"], "ring": 5}, "ring"),
        ({"members": ["X"], "ring_seconds": 2}, "ring_seconds"),
        ({"members": ["X"], "ring_seconds": True}, "ring_seconds"),
        ({"members": ["X"], "no_answer_destination": {"type": "fax"}}, "no_answer_destination"),
        (
            {"members": ["X"], "no_answer_destination": {"type": "external", "number": "12"}},
            "no_answer_destination",
        ),
        (
            {"members": ["X"], "no_answer_destination": {"type": "extension", "id": "ext_no"}},
            "no_answer_destination",
        ),
    ],
)
def test_a_bad_hunt_group_is_refused_with_the_field_at_fault(api, admin, config, field):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    config = {
        key: [ann["id"] if m == "X" else m for m in value] if key == "members" else value
        for key, value in config.items()
    }
    refused = flow(api, tenant, "hunt_group", "Sales", config)
    assert refused.status_code in (404, 422), refused.json()
    assert refused.json()["error"]["field"] == field
    assert not CallFlow.objects.exists()


def test_a_destination_in_another_tenant_is_not_found(api, admin):
    mine, theirs = make_tenant(admin, name="Mine"), make_tenant(admin, name="Theirs")
    ann = user(api, mine, "2001")
    stranger = user(api, theirs, "2001", "Zed")
    refused = flow(api, mine, "hunt_group", "Sales", {"members": [stranger["id"]]})
    assert refused.status_code == 404
    other = flow(api, theirs, "hunt_group", "Their group", {"members": [stranger["id"]]}).json()
    routed = flow(api, mine, "auto_attendant", "Front", menu({"1": to(other)}))
    assert routed.status_code == 404
    assert routed.json()["error"]["field"] == "menus.main.options.1"
    assert flow(api, mine, "auto_attendant", "Front", menu({"1": to(ann)})).status_code == 201


def test_a_call_flow_cannot_send_calls_straight_back_to_itself(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    group = flow(api, tenant, "hunt_group", "Sales", {"members": [ann["id"]]}).json()
    looped = api.patch(
        f"/v1/tenants/{tenant.id}/call-flows/{group['id']}",
        {"config": {"members": [ann["id"]], "no_answer_destination": to(group)}},
    )
    assert looped.status_code == 422
    assert looped.json()["error"]["field"] == "no_answer_destination"


def test_what_something_routes_to_cannot_be_deleted(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    group = flow(api, tenant, "hunt_group", "Sales", {"members": [ann["id"]]}).json()
    front = flow(
        api, tenant, "auto_attendant", "Front", menu({"1": to(group), "2": to(ann)})
    ).json()

    refused = api.delete(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "in_use"
    assert {(r["id"], r["via"]) for r in error["referrers"]} == {
        (group["id"], "member"),
        (front["id"], "menu main, key 2"),
    }
    refused = api.delete(f"/v1/tenants/{tenant.id}/call-flows/{group['id']}")
    assert refused.status_code == 409
    assert [r["name"] for r in refused.json()["error"]["referrers"]] == ["Front"]

    assert api.delete(f"/v1/tenants/{tenant.id}/call-flows/{front['id']}").status_code == 204
    assert api.delete(f"/v1/tenants/{tenant.id}/call-flows/{group['id']}").status_code == 204
    assert api.delete(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}").status_code == 204


def test_auto_attendant_menus_nest_and_every_menu_must_be_reachable(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    config = {
        "menus": {
            "main": {
                "greeting": "Thanks for calling Acme.",
                "options": {"1": {"type": "menu", "menu": "sales"}, "0": to(ann)},
                "timeout_destination": to(ann),
            },
            "sales": {
                "options": {
                    "1": {"type": "menu", "menu": "deep"},
                    "*": {"type": "menu", "menu": "main"},
                }
            },
            "deep": {"options": {"9": {"type": "repeat"}, "1": {"type": "hangup"}}},
        },
        "business_hours_menu": "main",
    }
    made = flow(api, tenant, "auto_attendant", "Front", config)
    assert made.status_code == 201, made.json()
    stored = made.json()["config"]
    assert list(stored["menus"]["main"]["options"]) == ["0", "1"]
    assert stored["menus"]["main"]["timeout_seconds"] == 5
    orphan = {**config, "menus": {**config["menus"], "lost": {"options": {}}}}
    refused = flow(api, tenant, "auto_attendant", "Other", orphan)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "menus.lost"
    bad_key = menu({"A": to(ann)})
    assert flow(api, tenant, "auto_attendant", "Other", bad_key).json()["error"]["field"] == (
        "menus.main.options.A"
    )
    no_menu = menu({"1": {"type": "menu", "menu": "nowhere"}})
    assert flow(api, tenant, "auto_attendant", "Other", no_menu).status_code == 422


def test_after_hours_and_holiday_menus_need_a_schedule(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    config = {
        "menus": {"day": {"options": {"0": to(ann)}}, "night": {"options": {}}},
        "business_hours_menu": "day",
        "after_hours_menu": "night",
    }
    refused = flow(api, tenant, "auto_attendant", "Front", config)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "schedule_id"
    hours = api.post(
        f"/v1/tenants/{tenant.id}/schedules",
        {"name": "Office", "hours": [{"days": ["mon", "fri"], "from": "09:00", "to": "17:00"}]},
    ).json()
    made = flow(api, tenant, "auto_attendant", "Front", config, schedule_id=hours["id"])
    assert made.status_code == 201
    in_use = api.delete(f"/v1/tenants/{tenant.id}/schedules/{hours['id']}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["referrers"][0]["via"] == "opening hours"


def test_queue_agents_sign_in_and_out(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann, bob = user(api, tenant, "2001"), user(api, tenant, "2002", "Bob")
    queue = flow(
        api,
        tenant,
        "queue",
        "Support",
        {
            "agents": [ann["id"], bob["id"]],
            "max_wait_seconds": 600,
            "ring_strategy": "longest_idle",
        },
    )
    assert queue.status_code == 201, queue.json()
    queue = queue.json()
    assert queue["config"]["hold_music"] == "default"
    path = f"/v1/tenants/{tenant.id}/call-flows/{queue['id']}/agents"
    assert [a["status"] for a in api.get(path).json()["data"]] == ["unavailable", "unavailable"]
    signed = api.put(f"{path}/{ann['id']}/status", {"status": "available"})
    assert signed.status_code == 200
    assert signed.json()["status"] == "available"
    states = {a["extension_id"]: a["status"] for a in api.get(path).json()["data"]}
    assert states == {ann["id"]: "available", bob["id"]: "unavailable"}
    carol = user(api, tenant, "2003", "Carol")
    assert api.put(f"{path}/{carol['id']}/status", {"status": "available"}).status_code == 404
    assert api.put(f"{path}/{ann['id']}/status", {"status": "asleep"}).status_code == 422


def test_call_center_tiers(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann, bob = user(api, tenant, "2001"), user(api, tenant, "2002", "Bob")
    standard = {"tier": "standard", "agents": [ann["id"]], "skills": ["billing"]}
    refused = flow(api, tenant, "call_center", "Help desk", standard)
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "skills"
    premium = {
        "tier": "premium",
        "skills": ["billing", "spanish"],
        "agents": [{"extension_id": ann["id"], "skills": {"billing": 7, "spanish": 3}}],
        "supervisors": [bob["id"]],
    }
    made = flow(api, tenant, "call_center", "Help desk", premium)
    assert made.status_code == 201, made.json()
    assert made.json()["config"]["agents"][0]["skills"] == {"billing": 7, "spanish": 3}
    unknown_skill = {**premium, "agents": [{"extension_id": ann["id"], "skills": {"french": 2}}]}
    assert flow(api, tenant, "call_center", "Other", unknown_skill).status_code == 422


def test_the_kind_and_site_of_a_call_flow_do_not_change(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    group = flow(api, tenant, "hunt_group", "Sales", {"members": [ann["id"]]}).json()
    path = f"/v1/tenants/{tenant.id}/call-flows/{group['id']}"
    assert api.patch(path, {"kind": "queue"}).status_code == 422
    other_site = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    assert api.patch(path, {"site_id": other_site["id"]}).status_code == 422
    renamed = api.patch(path, {"name": "Sales team", "number": "4001"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["number"]) == ("Sales team", "4001")
    assert api.patch(path, {"number": None}).json()["number"] is None
    assert api.patch(path, {"colour": "red"}).status_code == 422


def test_schedules_say_whether_they_are_open(api, admin):
    tenant = make_tenant(admin, name="Acme")
    made = api.post(
        f"/v1/tenants/{tenant.id}/schedules",
        {
            "name": "Office",
            "timezone": "America/Chicago",
            "hours": [
                {"days": ["fri", "mon"], "from": "08:00", "to": "12:00"},
                {"days": ["mon"], "from": "13:00", "to": "17:30"},
            ],
            "holidays": [{"date": "2026-12-25", "name": " Christmas  Day "}],
        },
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["hours"][0]["days"] == ["mon", "fri"]
    assert body["holidays"] == [{"date": "2026-12-25", "name": "Christmas Day"}]
    state = f"/v1/tenants/{tenant.id}/schedules/{body['id']}/state?at="
    # Monday 7 December 2026: 08:30 in Chicago is 14:30 UTC.
    assert api.get(state + "2026-12-07T14:30:00Z").json()["state"] == "open"
    assert api.get(state + "2026-12-07T18:30:00Z").json()["state"] == "closed"  # lunch
    assert api.get(state + "2026-12-07T19:00:00Z").json()["state"] == "open"
    assert api.get(state + "2026-12-07T23:30:00Z").json()["state"] == "closed"  # 17:30
    assert api.get(state + "2026-12-25T15:00:00Z").json()["state"] == "holiday"  # a Friday


@pytest.mark.parametrize(
    "fields",
    [
        {"hours": [{"days": ["mon"], "from": "17:00", "to": "09:00"}]},
        {"hours": [{"days": ["monday"], "from": "09:00", "to": "17:00"}]},
        {"hours": [{"days": ["mon"], "from": "9am", "to": "17:00"}]},
        {"hours": [{"days": ["mon"], "from": "09:00", "to": "25:00"}]},
        {"hours": [{"days": [], "from": "09:00", "to": "17:00"}]},
        {"holidays": [{"date": "2026-02-30"}]},
        {"holidays": [{"date": "2026-12-25"}, {"date": "2026-12-25"}]},
        {"timezone": "Mars/Olympus"},
        {"hours": "always"},
    ],
)
def test_a_bad_schedule_is_refused(api, admin, fields):
    tenant = make_tenant(admin, name="Acme")
    refused = api.post(f"/v1/tenants/{tenant.id}/schedules", {"name": "Office", **fields})
    assert refused.status_code == 422, refused.json()
    assert not tenant.schedules.exists()


def test_another_partners_call_flows_are_not_found(api, admin, client):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    group = flow(api, tenant, "hunt_group", "Sales", {"members": [ann["id"]]}).json()
    queue = flow(api, tenant, "queue", "Support", {"agents": [ann["id"]]}).json()
    hours = api.post(f"/v1/tenants/{tenant.id}/schedules", {"name": "Office"}).json()
    partner_b, _ = make_partner(company_name="Other Partner")
    from tests.conftest import ApiClient

    other = ApiClient(client, make_api_key(partner_b))
    base = f"/v1/tenants/{tenant.id}"
    calls = [
        other.get(f"{base}/call-flows"),
        other.post(f"{base}/call-flows", {"kind": "hunt_group", "name": "X", "config": {}}),
        other.get(f"{base}/call-flows/{group['id']}"),
        other.patch(f"{base}/call-flows/{group['id']}", {"name": "Mine"}),
        other.delete(f"{base}/call-flows/{group['id']}"),
        other.get(f"{base}/call-flows/{queue['id']}/agents"),
        other.put(
            f"{base}/call-flows/{queue['id']}/agents/{ann['id']}/status", {"status": "available"}
        ),
        other.get(f"{base}/schedules"),
        other.post(f"{base}/schedules", {"name": "Theirs"}),
        other.get(f"{base}/schedules/{hours['id']}"),
        other.patch(f"{base}/schedules/{hours['id']}", {"name": "Theirs"}),
        other.delete(f"{base}/schedules/{hours['id']}"),
        other.get(f"{base}/schedules/{hours['id']}/state"),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert CallFlow.objects.get(pk=group["id"]).name == "Sales"
