"""The API's search and the portal's Buy DIDs page are one search: they find the same
numbers and refuse the same input."""

import pytest

from tests.factories import actor_for_user
from trunkline.phone_numbers.availability import available_numbers

pytestmark = pytest.mark.django_db


def test_the_page_and_the_api_find_the_same_numbers(api, admin, client, inventory):
    answer = api.get(
        "/v1/phone-numbers/available", params={"type": "local", "state": "MO", "limit": 5}
    )
    direct = available_numbers(actor=actor_for_user(admin), kind="local", state="MO", limit=5)
    assert answer.json()["data"] == direct
    client.force_login(admin)
    page = client.get("/numbers/buy", {"state": "MO"}).context["results"]
    assert [row["number"] for row in page][:5] == [row["number"] for row in direct]


def test_a_toll_free_search_refuses_a_code_that_is_not_toll_free(api, admin, client, inventory):
    params = {"type": "toll_free", "area_code": "501"}
    answer = api.get("/v1/phone-numbers/available", params=params)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "area_code"
    client.force_login(admin)
    html = client.get("/numbers/buy/toll-free", {"search": "1", "code": "501"}).content.decode()
    assert "Toll-free codes are 800, 833" in html
