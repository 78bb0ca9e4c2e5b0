"""API keys: bearer authentication, scopes, tenant scope, hashing, rate limits."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from tests.core.capture import assert_error
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant, make_user
from tests.tenants.helpers import row, tenant_body
from trunkline.accounts import keys
from trunkline.accounts.models import ApiKey, User
from trunkline.accounts.scopes import ALL, SCOPE_NAMES, grants, normalize_scopes
from trunkline.accounts.services import api_key_create, api_key_revoke, api_key_update
from trunkline.core.actors import Actor
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.tenants.models import Tenant


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing", sip_prefix="acme", status="ACTIVE")


def _key(partner, **fields) -> tuple[ApiKey, str]:
    return api_key_create(
        actor=Actor.system(partner=partner), name=fields.pop("name", "integration"), **fields
    )


# --- authentication -------------------------------------------------------------------------


class TestAuthentication:
    def test_a_valid_key_is_accepted(self, api):
        response = api.get("/v1/tenants")
        assert response.status_code == 200
        assert response["X-Request-Id"]

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "",
            "Bearer",
            "Bearer ",
            "Token {key}",
            "Basic {key}",
            "{key}",
            "Bearer sk_test_" + "a" * 43,
            "Bearer {key}x",
            "Bearer " + "sk_live_" + "b" * 43,
            "Bearer sk_live_",
            "Bearer sk_live_short",
        ],
    )
    def test_missing_malformed_or_unknown_keys_get_401(self, client, partner, header):
        plaintext = make_api_key(partner)
        extra = {}
        if header is not None:
            extra["HTTP_AUTHORIZATION"] = header.format(key=plaintext)
        response = client.get("/v1/tenants", **extra)
        assert_error(response, 401, "authentication_failed")
        assert response["WWW-Authenticate"] == "Bearer"

    def test_the_scheme_is_case_insensitive(self, client, partner):
        plaintext = make_api_key(partner)
        response = client.get("/v1/tenants", HTTP_AUTHORIZATION=f"bearer {plaintext}")
        assert response.status_code == 200

    def test_401_on_writes_changes_nothing(self, make_api, tenant):
        before = row(tenant)
        anonymous = make_api(None)
        assert_error(anonymous.post("/v1/tenants", tenant_body(name="Sneaky")), 401)
        assert_error(anonymous.patch(f"/v1/tenants/{tenant.id}", {"name": "Sneaky"}), 401)
        assert_error(anonymous.delete(f"/v1/tenants/{tenant.id}"), 401)
        assert_error(anonymous.post(f"/v1/tenants/{tenant.id}/suspend"), 401)
        assert row(tenant) == before
        assert not Tenant.objects.filter(name="Sneaky").exists()

    def test_revocation_takes_effect_at_once(
        self, partner, make_api, django_capture_on_commit_callbacks
    ):
        api_key, plaintext = _key(partner, scopes="all")
        client = make_api(plaintext)
        assert client.get("/v1/tenants").status_code == 200  # now cached
        with django_capture_on_commit_callbacks(execute=True):
            api_key_revoke(actor=Actor.system(partner=partner), api_key=api_key)
        assert_error(client.get("/v1/tenants"), 401, "authentication_failed")
        assert ApiKey.objects.get(pk=api_key.pk).status == ApiKey.Status.REVOKED

    def test_scope_changes_take_effect_at_once(
        self, partner, make_api, django_capture_on_commit_callbacks
    ):
        api_key, plaintext = _key(partner, scopes="all")
        client = make_api(plaintext)
        assert client.get("/v1/tenants").status_code == 200
        with django_capture_on_commit_callbacks(execute=True):
            api_key_update(
                actor=Actor.system(partner=partner), api_key=api_key, scopes=["billing:read"]
            )
        assert_error(client.get("/v1/tenants"), 403, "permission_denied")

    def test_an_expired_key_gets_401(self, partner, make_api):
        api_key, plaintext = _key(partner, scopes="all", expires_at=timezone.now() + timedelta(1))
        ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(1))
        assert_error(make_api(plaintext).get("/v1/tenants"), 401, "authentication_failed")
        assert ApiKey.objects.get(pk=api_key.pk).status == ApiKey.Status.EXPIRED

    def test_a_key_of_a_closed_partner_gets_401(self, partner, make_api):
        plaintext = make_api_key(partner)
        partner.deleted_at = timezone.now()
        partner.save()
        assert_error(make_api(plaintext).get("/v1/tenants"), 401)

    def test_expiry_must_be_in_the_future(self, partner):
        with pytest.raises(ValidationFailed) as error:
            _key(partner, scopes="all", expires_at=timezone.now() - timedelta(seconds=1))
        assert error.value.field == "expires_at"


# --- storage --------------------------------------------------------------------------------


class TestStorage:
    def test_only_the_sha256_is_stored(self, partner):
        api_key, plaintext = _key(partner, scopes="all")
        assert re.fullmatch(r"sk_live_[A-Za-z0-9_\-]{43}", plaintext)
        assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert ApiKey.objects.get(key_hash=keys.digest(plaintext)).pk == api_key.pk

    def test_no_column_of_any_table_holds_the_plaintext(self, partner, make_api):
        api_key, plaintext = _key(partner, scopes="all")
        make_api(plaintext).post("/v1/tenants", tenant_body())  # logs, audit, events too
        secret = plaintext[len(keys.KEY_PREFIX) :]
        middle = secret[4:-4]  # the part that the masked form never shows
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
            assert "accounts_apikey" in tables
            for table in tables:
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
                for values in cursor.fetchall():
                    for value in values:
                        if isinstance(value, memoryview | bytes):
                            value = bytes(value).decode("utf-8", "replace")
                        assert middle not in str(value), f"key material found in {table}"

    def test_masked_display(self, partner):
        api_key, plaintext = _key(partner, scopes="all")
        assert api_key.masked == f"{plaintext[:12]}...{plaintext[-4:]}"
        assert re.fullmatch(r"sk_live_.{4}\.\.\..{4}", api_key.masked)

    def test_last_used_at_is_recorded(self, partner, make_api):
        api_key, plaintext = _key(partner, scopes="all")
        assert api_key.last_used_at is None
        started = timezone.now()
        assert make_api(plaintext).get("/v1/tenants").status_code == 200
        api_key.refresh_from_db()
        assert api_key.last_used_at is not None and api_key.last_used_at >= started

    def test_a_failed_authentication_does_not_touch_last_used(self, partner, client):
        api_key, plaintext = _key(partner, scopes="all")
        client.get("/v1/tenants", HTTP_AUTHORIZATION=f"Token {plaintext}")
        api_key.refresh_from_db()
        assert api_key.last_used_at is None

    def test_each_request_is_logged_without_the_key(self, partner, make_api):
        from trunkline.accounts.models import ApiRequestLog

        api_key, plaintext = _key(partner, scopes="all", name="CRM")
        response = make_api(plaintext).get("/v1/tenants", {"limit": 5})
        entry = ApiRequestLog.objects.get(api_key_id=api_key.id)
        assert (entry.method, entry.path, entry.status_code) == ("GET", "/v1/tenants?limit=5", 200)
        assert entry.request_id == response["X-Request-Id"]
        assert entry.partner_id == partner.id


# --- creating keys --------------------------------------------------------------------------


class TestCreate:
    def test_defaults(self, partner):
        api_key, _ = _key(partner, scopes="tenants:read,billing:read")
        assert api_key.scopes == ["tenants:read", "billing:read"]
        assert api_key.rate_limit == 100
        assert api_key.status == ApiKey.Status.ACTIVE

    @pytest.mark.parametrize("rate_limit", [0, -1, 10_001, True, "100"])
    def test_a_partner_sets_a_rate_limit_of_1_to_10000(self, admin, rate_limit):
        with pytest.raises(ValidationFailed) as error:
            api_key_create(
                actor=actor_for_user(admin), name="x", scopes="all", rate_limit=rate_limit
            )
        assert error.value.field == "rate_limit"

    def test_rate_limit_bounds_are_allowed(self, admin):
        for rate_limit in (1, 10_000):
            api_key, _ = api_key_create(
                actor=actor_for_user(admin), name="x", scopes="all", rate_limit=rate_limit
            )
            assert api_key.rate_limit == rate_limit

    def test_platform_staff_may_go_higher(self, partner):
        assert _key(partner, scopes="all", rate_limit=50_000)[0].rate_limit == 50_000

    @pytest.mark.parametrize("scopes", ["", [], "tenants", "tenants:admin", "teams:read", "ALL"])
    def test_unknown_scopes_are_refused(self, partner, scopes):
        with pytest.raises(ValidationFailed) as error:
            _key(partner, scopes=scopes)
        assert error.value.field == "scopes"

    def test_tenant_scope_must_name_the_partners_own_tenants(self, partner, admin):
        _, admin_b = make_partner()
        foreign = make_tenant(admin_b)
        with pytest.raises(ValidationFailed) as error:
            _key(partner, scopes="all", tenant_ids=[foreign.id])
        assert error.value.field == "tenant_ids"
        mine = make_tenant(admin)
        api_key, _ = _key(partner, scopes="all", tenant_ids=[mine.id, mine.id])
        assert list(api_key.tenants.values_list("id", flat=True)) == [mine.id]

    def test_a_read_only_partner_user_cannot_create_keys(self, partner):
        viewer = make_user(partner, role=User.Role.PARTNER_USER)
        with pytest.raises(PermissionDenied):
            api_key_create(actor=actor_for_user(viewer), name="x", scopes="all")

    def test_creation_is_audited_with_the_masked_key_only(self, partner, admin):
        from trunkline.core.models import AuditEntry

        api_key, plaintext = api_key_create(
            actor=actor_for_user(admin), name="CRM", scopes="all", rate_limit=50
        )
        entry = AuditEntry.objects.get(action="api_key.created", object_id=api_key.id)
        assert (entry.actor_type, entry.actor_id) == ("user", admin.id)
        assert entry.after["masked"] == api_key.masked
        assert plaintext not in str(entry.after)


# --- scopes ---------------------------------------------------------------------------------


class TestScopes:
    @pytest.mark.parametrize(
        ("granted", "required", "allowed"),
        [
            (["tenants:read"], "tenants:read", True),
            (["tenants:read"], "tenants:write", False),
            (["tenants:write"], "tenants:read", True),
            (["tenants:write"], "tenants:write", True),
            (["billing:write"], "tenants:read", False),
            (["billing:read"], "tenants:read", False),
            ([ALL], "tenants:write", True),
            ([ALL], "licenses:read", True),
            ([], "tenants:read", False),
        ],
    )
    def test_grants(self, granted, required, allowed):
        assert grants(frozenset(granted), required) is allowed

    def test_normalize_orders_and_dedupes(self):
        assert normalize_scopes("billing:read, tenants:write,billing:read") == [
            "tenants:write",
            "billing:read",
        ]
        assert normalize_scopes(["tenants:read", "all"]) == ["all"]
        assert len(SCOPE_NAMES) == 22

    @pytest.fixture
    def reader(self, partner, make_api):
        return make_api(make_api_key(partner, scopes="tenants:read"))

    def test_read_scope_reads(self, reader, tenant):
        assert reader.get("/v1/tenants").status_code == 200
        assert reader.get(f"/v1/tenants/{tenant.id}").status_code == 200
        assert reader.get("/v1/tenant-defaults").status_code == 200

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("post", "/v1/tenants", tenant_body(name="Nope Co")),
            ("patch", "/v1/tenants/{id}", {"name": "Nope Co"}),
            ("delete", "/v1/tenants/{id}", None),
            ("post", "/v1/tenants/{id}/suspend", None),
            ("post", "/v1/tenants/{id}/reactivate", None),
            ("put", "/v1/tenant-defaults", {"default_cnam": "NOPE"}),
        ],
    )
    def test_read_scope_cannot_write(self, reader, tenant, method, path, body):
        before = row(tenant)
        path = path.format(id=tenant.id)
        if method == "delete":
            response = reader.delete(path)
        else:
            response = getattr(reader, method)(path, body)
        assert_error(response, 403, "permission_denied")
        assert row(tenant) == before
        assert not Tenant.objects.filter(name="Nope Co").exists()

    def test_write_implies_read(self, partner, make_api, tenant):
        writer = make_api(make_api_key(partner, scopes="tenants:write"))
        assert writer.get("/v1/tenants").status_code == 200
        assert writer.get(f"/v1/tenants/{tenant.id}").status_code == 200
        assert writer.post("/v1/tenants", tenant_body(name="Writer Co")).status_code == 201

    def test_all_grants_everything(self, api, tenant):
        assert api.get("/v1/tenants").status_code == 200
        assert api.patch(f"/v1/tenants/{tenant.id}", {"name": "Renamed"}).status_code == 200
        assert api.post(f"/v1/tenants/{tenant.id}/suspend").status_code == 200
        assert api.delete(f"/v1/tenants/{tenant.id}").status_code == 200

    @pytest.mark.parametrize("scopes", ["billing:read", "billing:write,phone_numbers:write"])
    def test_other_resources_scopes_do_not_reach_tenants(self, partner, make_api, tenant, scopes):
        client = make_api(make_api_key(partner, scopes=scopes))
        error = assert_error(client.get("/v1/tenants"), 403, "permission_denied")
        assert "tenants:read" in error["message"]
        assert_error(client.get(f"/v1/tenants/{tenant.id}"), 403)

    def test_a_foreign_tenant_is_404_not_403_even_without_write_scope(
        self, reader, partner, tenant
    ):
        _, admin_b = make_partner()
        foreign = make_tenant(admin_b)
        assert_error(reader.get(f"/v1/tenants/{foreign.id}"), 404)


# --- rate limits ----------------------------------------------------------------------------


class TestRateLimits:
    def test_the_key_limit(self, partner, make_api):
        client = make_api(make_api_key(partner, rate_limit=3))
        for _ in range(3):
            assert client.get("/v1/tenants").status_code == 200
        response = client.get("/v1/tenants")
        assert_error(response, 429, "rate_limited")
        retry_after = response["Retry-After"]
        assert retry_after.isdigit() and 1 <= int(retry_after) <= 60

    def test_a_limited_write_does_nothing(self, partner, make_api):
        client = make_api(make_api_key(partner, rate_limit=1))
        assert client.get("/v1/tenants").status_code == 200
        assert_error(client.post("/v1/tenants", tenant_body()), 429)
        assert not Tenant.objects.exists()

    def test_keys_are_limited_separately(self, partner, make_api):
        first = make_api(make_api_key(partner, rate_limit=1))
        second = make_api(make_api_key(partner, rate_limit=1))
        assert first.get("/v1/tenants").status_code == 200
        assert first.get("/v1/tenants").status_code == 429
        assert second.get("/v1/tenants").status_code == 200

    def test_the_partner_wide_limit_spans_its_keys(self, partner, make_api):
        partner.api_rate_limit = 4
        partner.save()
        clients = [make_api(make_api_key(partner, rate_limit=100)) for _ in range(3)]
        statuses = [clients[n % 3].get("/v1/tenants").status_code for n in range(4)]
        assert statuses == [200] * 4
        for client in clients:
            response = client.get("/v1/tenants")
            assert_error(response, 429, "rate_limited")
            assert int(response["Retry-After"]) >= 1

    def test_one_partner_exhausting_its_limit_leaves_others_alone(self, partner, make_api):
        partner.api_rate_limit = 1
        partner.save()
        partner_b, _ = make_partner()
        mine = make_api(make_api_key(partner))
        theirs = make_api(make_api_key(partner_b))
        assert mine.get("/v1/tenants").status_code == 200
        assert mine.get("/v1/tenants").status_code == 429
        assert theirs.get("/v1/tenants").status_code == 200


# --- who manages keys -----------------------------------------------------------------------


class TestManagement:
    def test_an_admin_cannot_touch_another_partners_key(self, admin):
        partner_b, _ = make_partner()
        theirs, plaintext = _key(partner_b, scopes="all")
        with pytest.raises(NotFound):
            api_key_revoke(actor=actor_for_user(admin), api_key=theirs)
        with pytest.raises(NotFound):
            api_key_update(actor=actor_for_user(admin), api_key=theirs, scopes=["billing:read"])
        theirs.refresh_from_db()
        assert theirs.revoked_at is None and theirs.scopes == ["all"]

    def test_an_api_key_cannot_mint_or_change_keys(self, partner, tenant):
        scoped, _ = _key(partner, scopes="all", tenant_ids=[tenant.id])
        key_actor = Actor(kind="api_key", partner=partner, api_key=scoped, tenant_ids=frozenset())
        with pytest.raises(PermissionDenied):
            api_key_create(actor=key_actor, name="wider", scopes="all")
        with pytest.raises(PermissionDenied):
            api_key_update(actor=key_actor, api_key=scoped, tenant_ids=[])
        assert list(scoped.tenants.values_list("id", flat=True)) == [tenant.id]

    def test_a_revoked_key_cannot_be_edited_or_revoked_again(self, partner, admin):
        api_key, _ = _key(partner, scopes="all")
        api_key_revoke(actor=actor_for_user(admin), api_key=api_key)
        with pytest.raises(Conflict):
            api_key_revoke(actor=actor_for_user(admin), api_key=api_key)
        with pytest.raises(Conflict):
            api_key_update(actor=actor_for_user(admin), api_key=api_key, scopes=["all"])

    def test_updates_are_audited(self, partner, admin, tenant):
        from trunkline.core.models import AuditEntry

        api_key, _ = _key(partner, scopes="all")
        api_key_update(
            actor=actor_for_user(admin),
            api_key=api_key,
            scopes="tenants:read",
            tenant_ids=[tenant.id],
            rate_limit=10,
        )
        entry = AuditEntry.objects.get(action="api_key.updated", object_id=api_key.id)
        assert entry.before == {"scopes": ["all"], "tenant_ids": [], "rate_limit": 100}
        assert entry.after == {
            "scopes": ["tenants:read"],
            "tenant_ids": [tenant.id],
            "rate_limit": 10,
        }
