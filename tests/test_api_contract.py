"""The outside contract's API conventions, held for every operation and every failure."""

import re

import pytest

from tests.core.capture import assert_error
from tests.tenants.helpers import tenant_body
from trunkline.accounts.api_auth import KeyAuth
from trunkline.accounts.scopes import RESOURCES, SCOPE_NAMES
from trunkline.core.api import api as ninja_api
from trunkline.tenants.models import Tenant

# The contract's scope names, copied here on purpose: changing them is a contract change.
CONTRACT_RESOURCES = (
    "tenants",
    "phone_numbers",
    "extensions",
    "call_flows",
    "queues",
    "voicemail",
    "calls",
    "billing",
    "webhooks",
    "provisioning",
    "licenses",
)
CONTRACT_SCOPES = {f"{r}:{a}" for r in CONTRACT_RESOURCES for a in ("read", "write")}


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _operations():
    for prefix, router in ninja_api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                yield (prefix.rstrip("/") + path), operation


class TestEveryOperationDeclaresItsScope:
    def test_there_are_operations(self):
        assert len(list(_operations())) >= 10

    def test_each_has_exactly_one_key_scope_from_the_contract(self):
        missing = []
        for path, operation in _operations():
            scopes = [a.scope for a in operation.auth_callbacks if isinstance(a, KeyAuth)]
            name = f"{','.join(operation.methods)} {path}"
            if len(scopes) != 1 or len(operation.auth_callbacks) != 1:
                missing.append(name)
            elif scopes[0] not in CONTRACT_SCOPES:
                missing.append(f"{name} ({scopes[0]})")
        assert missing == [], "operations without a contract scope"

    def test_reads_need_read_and_changes_need_write(self):
        for path, operation in _operations():
            scope = operation.auth_callbacks[0].scope
            access = "read" if set(operation.methods) <= {"GET", "HEAD"} else "write"
            assert scope.endswith(":" + access), f"{operation.methods} {path} uses {scope}"

    def test_declared_scope_names_are_the_contracts(self):
        assert set(RESOURCES) == set(CONTRACT_RESOURCES)
        assert set(SCOPE_NAMES) == CONTRACT_SCOPES

    def test_the_openapi_spec_shows_bearer_auth_everywhere(self, client):
        spec = client.get("/v1/openapi.json").json()
        for path, methods in spec["paths"].items():
            for method, operation in methods.items():
                assert operation.get("security"), f"{method.upper()} {path} has no security"

    def test_docs_and_spec_need_no_key(self, client):
        assert client.get("/v1/openapi.json").status_code == 200
        assert client.get("/v1/docs").status_code == 200


class TestErrorEnvelope:
    def test_bad_json_is_400(self, api):
        for raw in ("{bad", '{"name": "x",}', "\x00", "{'name': 'x'}"):
            assert_error(api.post("/v1/tenants", raw=raw), 400, "malformed_request")
        assert not Tenant.objects.exists()

    def test_deeply_nested_json_is_refused_cleanly(self, api):
        response = api.post("/v1/tenants", raw="[" * 100_000 + "]" * 100_000)
        assert response.status_code in (400, 422)
        assert_error(response, response.status_code)

    @pytest.mark.parametrize("raw", ["[]", "[1, 2]", "null", '"text"', "42", "true"])
    def test_a_body_that_is_not_an_object_is_422(self, api, raw):
        error = assert_error(api.post("/v1/tenants", raw=raw), 422, "validation_error")
        assert "object" in error["message"]

    def test_an_empty_body_is_422_with_a_clear_message(self, api):
        error = assert_error(api.post("/v1/tenants", raw=""), 422, "validation_error")
        assert "None" not in error["message"]

    def test_unknown_field_is_422_naming_it(self, api):
        error = assert_error(
            api.post("/v1/tenants", tenant_body(colour="red")), 422, "validation_error", "colour"
        )
        assert "colour" in error["message"]

    def test_wrong_type_is_422_naming_the_field(self, api):
        assert_error(api.post("/v1/tenants", tenant_body(name=123)), 422, field="name")

    def test_oversize_strings_are_422(self, api):
        assert_error(api.post("/v1/tenants", tenant_body(name="n" * 5000)), 422, field="name")
        assert_error(api.get("/v1/tenants", {"search": "s" * 201}), 422, field="search")

    @pytest.mark.parametrize("value", ["Acme\x00Plumbing", "\x00"], ids=["inside", "alone"])
    def test_nul_characters_are_refused_not_crashed_on(self, api, value):
        response = api.post("/v1/tenants", tenant_body(name=value))
        assert response.status_code in (400, 422)
        assert_error(response, response.status_code)
        response = api.post(
            "/v1/tenants",
            tenant_body(
                e911_address={
                    "street": value,
                    "city": "Little Rock",
                    "state": "AR",
                    "postal_code": "72201",
                }
            ),
        )
        assert response.status_code in (400, 422)
        assert not Tenant.objects.exists()

    def test_nul_in_the_query_or_path_is_refused(self, api):
        assert_error(api.get("/v1/tenants", {"search": "a\x00b"}), 400, "malformed_request")
        assert_error(api.get("/v1/tenants/tnt_%00"), 400, "malformed_request")

    @pytest.mark.parametrize("path", ["/v1/nope", "/v1/tenants/tnt_1/nope", "/v1/", "/v1/tenants/"])
    def test_unknown_paths_are_404_envelopes(self, api, path):
        assert_error(api.get(path), 404, "not_found")

    def test_unknown_paths_need_no_key_to_be_404(self, client):
        response = client.get("/v1/nothing-here")
        assert_error(response, 404, "not_found")

    @pytest.mark.parametrize(
        ("method", "path"),
        [("put", "/v1/tenants"), ("delete", "/v1/tenants"), ("post", "/v1/tenants/tnt_1")],
    )
    def test_wrong_method_is_405_envelope(self, api, method, path):
        response = getattr(api.client, method)(
            path, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api.key}"
        )
        assert_error(response, 405, "method_not_allowed")
        assert response["Allow"]

    def test_a_body_over_1_mib_is_413(self, api):
        big = tenant_body(name="x" * (1024 * 1024 + 1))
        error = assert_error(api.post("/v1/tenants", big), 413, "payload_too_large")
        assert error["field"] is None
        assert not Tenant.objects.exists()

    def test_a_body_just_under_1_mib_is_parsed(self, api):
        response = api.post("/v1/tenants", tenant_body(name="x" * (1024 * 1024 - 200)))
        assert_error(response, 422, "validation_error", "name")

    def test_nothing_under_v1_answers_html(self, api, client):
        responses = [
            client.get("/v1/tenants"),
            api.get("/v1/nope"),
            api.post("/v1/tenants", raw="{"),
            client.generic("OPTIONS", "/v1/tenants"),
        ]
        for response in responses:
            assert response["Content-Type"].startswith("application/json")
            assert b"<html" not in response.content.lower()


class TestRequestId:
    def test_on_success_and_every_kind_of_error(self, api, client):
        responses = [
            api.get("/v1/tenants"),
            client.get("/v1/tenants"),
            api.get("/v1/tenants/tnt_missing"),
            api.post("/v1/tenants", raw="{"),
            api.post("/v1/tenants", tenant_body(name=1)),
            api.get("/v1/nope"),
            client.put("/v1/tenants"),
            api.post("/v1/tenants", tenant_body(name="x" * (1024 * 1024 + 1))),
            client.get("/v1/openapi.json"),
        ]
        ids = [response["X-Request-Id"] for response in responses]
        assert all(re.fullmatch(r"req_[0-9a-f]{32}", value) for value in ids)
        assert len(set(ids)) == len(ids)

    def test_a_sane_incoming_id_is_echoed(self, api):
        for value in ("crm-4711-abcdef", "01J9ZQ7K3M.trace:span_1", "a" * 64):
            response = api.get("/v1/tenants", headers={"X-Request-Id": value})
            assert response["X-Request-Id"] == value
        error = api.get("/v1/tenants/tnt_nope", headers={"X-Request-Id": "crm-4711-abcdef"})
        assert error["X-Request-Id"] == "crm-4711-abcdef"

    @pytest.mark.parametrize(
        "value",
        ["short", "a" * 65, "has space in it", "<script>alert(1)</script>", "é" * 10, "abcdefgh\n"],
    )
    def test_an_insane_incoming_id_is_replaced(self, api, value):
        response = api.get("/v1/tenants", headers={"X-Request-Id": value})
        assert response["X-Request-Id"] != value
        assert response["X-Request-Id"].startswith("req_")
