"""Field rules for tenants, as the API answers them: 422 with the field's path, or 409."""

import pytest

from tests.core.capture import assert_error, capture_events
from tests.factories import make_partner, make_tenant
from tests.tenants.helpers import AR_ADDRESS, row, tenant_body
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import sip_prefix_suggest


def _create(api, **fields):
    return api.post("/v1/tenants", tenant_body(**fields))


def test_create_answers_201_with_the_tenant(api, partner):
    with capture_events(["tenant.created"]):
        response = _create(
            api,
            sip_prefix="acme",
            default_cnam="ACME PLUMBING",
            status="ACTIVE",
            e911_address=AR_ADDRESS,
        )
    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("tnt_")
    assert body["partner_id"] == partner.id
    assert body["name"] == "Acme Plumbing"
    assert body["sip_prefix"] == "acme"
    assert body["status"] == "ACTIVE"
    assert body["default_cnam"] == "ACME PLUMBING"
    assert body["timezone"] == "America/Chicago"
    assert body["e911_address"] == {**AR_ADDRESS, "street2": None, "country": "US"}
    assert body["counts"] == {"users": 0}
    assert body["cancelled_at"] is None and body["purge_after"] is None
    assert api.get(f"/v1/tenants/{body['id']}").json() == body


def test_a_new_tenant_is_in_trial_unless_told(api):
    assert _create(api).json()["status"] == "TRIAL"


def test_the_partners_defaults_fill_what_is_omitted(api, partner):
    partner.default_timezone = "America/Denver"
    partner.default_cnam = "BRAND CO"
    partner.save()
    body = tenant_body()
    del body["timezone"]
    created = api.post("/v1/tenants", body).json()
    assert created["timezone"] == "America/Denver"
    assert created["default_cnam"] == "BRAND CO"


class TestSipPrefix:
    @pytest.mark.parametrize(
        "prefix",
        ["AB", "ab", "toolongprefix1", "has-dash", "UPPER", "Acme", "ab c", "abc\n", "acmé"],
    )
    def test_format_is_3_to_12_lowercase_alphanumerics(self, api, prefix):
        with capture_events([]):
            response = _create(api, sip_prefix=prefix)
        assert_error(response, 422, "validation_error", "sip_prefix")
        assert not Tenant.objects.exists()

    @pytest.mark.parametrize("prefix", ["abc", "a1b2c3d4e5f6", "123"])
    def test_valid_prefixes(self, api, prefix):
        assert _create(api, sip_prefix=prefix).json()["sip_prefix"] == prefix

    def test_unique_across_the_platform(self, api):
        _, admin_b = make_partner()
        make_tenant(admin_b, sip_prefix="acme")
        with capture_events([]):
            response = _create(api, sip_prefix="acme")
        assert_error(response, 409, "sip_prefix_taken", "sip_prefix")
        assert Tenant.objects.count() == 1

    def test_suggested_from_the_name_when_omitted(self, api):
        first = _create(api, name="Acme Plumbing").json()["sip_prefix"]
        second = _create(api, name="Acme Plumbing").json()["sip_prefix"]
        third = _create(api, name="ACME plumbing!").json()["sip_prefix"]
        assert first.startswith("acmeplumb")
        assert len({first, second, third}) == 3
        for prefix in (first, second, third):
            assert 3 <= len(prefix) <= 12 and prefix.isalnum() and prefix == prefix.lower()

    def test_suggestion_avoids_other_partners_prefixes(self, api):
        _, admin_b = make_partner()
        make_tenant(admin_b, sip_prefix="riverside")
        assert _create(api, name="Riverside").json()["sip_prefix"] != "riverside"

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("Acme Plumbing", "acmeplumbi"),
            ("Zé Café", "zcaf"),
            ("AB", "abpbx"[:3]),
            ("!!!", "tenant"),
            ("1-800 Flowers & Co", "1800flower"),
        ],
    )
    def test_suggestions(self, db, name, expected):
        assert sip_prefix_suggest(name) == expected

    def test_suggestion_counts_up_within_twelve_characters(self, admin):
        make_tenant(admin, sip_prefix="acmeplumbi")
        for n in range(2, 12):
            make_tenant(admin, sip_prefix=f"acmeplumbi{n}")
        assert sip_prefix_suggest("Acme Plumbing") == "acmeplumbi12"

    def test_immutable(self, api, tenant):
        before = row(tenant)
        with capture_events([]):
            response = api.patch(f"/v1/tenants/{tenant.id}", {"sip_prefix": "other"})
        assert_error(response, 422, "validation_error", "sip_prefix")
        assert row(tenant) == before

    def test_patch_with_the_same_value_is_fine(self, api, tenant):
        response = api.patch(f"/v1/tenants/{tenant.id}", {"sip_prefix": "acme", "name": "Acme 2"})
        assert response.status_code == 200
        assert response.json()["sip_prefix"] == "acme"
        assert response.json()["name"] == "Acme 2"


class TestCnam:
    @pytest.mark.parametrize(
        "cnam", ["ACME PLUMBING", "O'NEIL & SONS", "A.B.C, INC-", "X", "123456789012345"]
    )
    def test_valid(self, api, cnam):
        assert _create(api, default_cnam=cnam).json()["default_cnam"] == cnam

    @pytest.mark.parametrize(
        "cnam",
        ["1234567890123456", "ACME@PLUMBING", "CAFÉ", "ACME\n", "ACME!", "A/B", "A\tB", "<b>"],
    )
    def test_invalid_on_create(self, api, cnam):
        assert_error(_create(api, default_cnam=cnam), 422, "validation_error", "default_cnam")
        assert not Tenant.objects.exists()

    def test_invalid_on_edit(self, api, tenant):
        before = row(tenant)
        response = api.patch(f"/v1/tenants/{tenant.id}", {"default_cnam": "ACME#1"})
        assert_error(response, 422, "validation_error", "default_cnam")
        assert row(tenant) == before

    def test_cleared_with_null_or_empty(self, api, admin):
        tenant = make_tenant(admin, default_cnam="ACME")
        assert (
            api.patch(f"/v1/tenants/{tenant.id}", {"default_cnam": None}).json()["default_cnam"]
            is None
        )
        assert api.patch(f"/v1/tenants/{tenant.id}", {"default_cnam": ""}).status_code == 200


class TestTimezone:
    @pytest.mark.parametrize("zone", ["America/Chicago", "Europe/Berlin", "UTC", "Asia/Kolkata"])
    def test_iana_names(self, api, zone):
        assert _create(api, timezone=zone).json()["timezone"] == zone

    @pytest.mark.parametrize("zone", ["Mars/Olympus", "CST-6", "america/chicago", "", "+05:00"])
    def test_anything_else(self, api, zone):
        assert_error(_create(api, timezone=zone), 422, "validation_error", "timezone")

    def test_on_edit(self, api, tenant):
        response = api.patch(f"/v1/tenants/{tenant.id}", {"timezone": "Nowhere/Town"})
        assert_error(response, 422, "validation_error", "timezone")
        response = api.patch(f"/v1/tenants/{tenant.id}", {"timezone": "America/New_York"})
        assert response.json()["timezone"] == "America/New_York"


class TestBillingEmail:
    @pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.example", "a b@c.example", ""])
    def test_invalid(self, api, email):
        assert_error(_create(api, billing_email=email), 422, "validation_error", "billing_email")

    def test_required(self, api):
        body = tenant_body()
        del body["billing_email"]
        assert_error(api.post("/v1/tenants", body), 422, "validation_error", "billing_email")

    def test_stored_lower_case(self, api):
        assert _create(api, billing_email="Billing@Acme.Example").json()["billing_email"] == (
            "billing@acme.example"
        )


class TestE911Address:
    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"state": "ZZ"}, "e911_address.state"),
            ({"state": "Arkansas"}, "e911_address.state"),
            ({"state": ""}, "e911_address.state"),
            ({"postal_code": "7220"}, "e911_address.postal_code"),
            ({"postal_code": "ABCDE"}, "e911_address.postal_code"),
            ({"postal_code": "72201-12"}, "e911_address.postal_code"),
            ({"postal_code": "10001"}, "e911_address.postal_code"),  # a New York ZIP in AR
            ({"postal_code": "72299"}, "e911_address.postal_code"),  # no such ZIP
            ({"postal_code": "72203"}, "e911_address.postal_code"),  # Little Rock PO boxes only
            ({"city": "Conway"}, "e911_address.city"),  # 72201 is Little Rock
            ({"street": ""}, "e911_address.street"),
            ({"street": "   "}, "e911_address.street"),
            ({"city": ""}, "e911_address.city"),
            ({"country": "CA"}, "e911_address.country"),
            ({"floor": "2"}, "e911_address.floor"),
        ],
    )
    def test_invalid_addresses_name_the_field(self, api, change, field):
        address = {**AR_ADDRESS, **change}
        assert_error(_create(api, e911_address=address), 422, "validation_error", field)
        assert not Tenant.objects.exists()

    @pytest.mark.parametrize("missing", ["street", "city", "state", "postal_code"])
    def test_required_parts(self, api, missing):
        address = {k: v for k, v in AR_ADDRESS.items() if k != missing}
        assert_error(
            _create(api, e911_address=address), 422, "validation_error", f"e911_address.{missing}"
        )

    def test_normalised(self, api):
        address = {**AR_ADDRESS, "state": "ar", "postal_code": "72201-1234", "street2": "Suite 5"}
        created = _create(api, e911_address=address).json()
        assert created["e911_address"] == {
            **AR_ADDRESS,
            "state": "AR",
            "postal_code": "72201-1234",
            "street2": "Suite 5",
            "country": "US",
        }

    # ZIP, state and city are checked against the USPS data of the `zipcodes` package, the
    # way a carrier validates a 911 address; spelling variants USPS accepts pass.
    @pytest.mark.parametrize(
        ("city", "state", "postal_code"),
        [
            ("New York", "NY", "10001"),
            ("Holtsville", "NY", "00501"),
            ("Dallas", "TX", "75201"),
            ("El Paso", "TX", "79901"),
            ("Washington", "DC", "20001"),
            ("Saint Thomas", "VI", "00802"),  # USPS writes "St Thomas"
            ("charlotte amalie", "VI", "00802"),  # an accepted alternative name
            ("Adjuntas", "PR", "00601"),
        ],
    )
    def test_zip_codes_of_the_state(self, api, city, state, postal_code):
        address = {**AR_ADDRESS, "city": city, "state": state, "postal_code": postal_code}
        assert _create(api, e911_address=address).status_code == 201

    def test_wrong_city_names_the_right_one(self, api):
        response = _create(api, e911_address={**AR_ADDRESS, "city": "Conway"})
        assert "Little Rock" in response.json()["error"]["message"]

    def test_edit_and_clear(self, api, tenant):
        path = f"/v1/tenants/{tenant.id}"
        bad = api.patch(path, {"e911_address": {**AR_ADDRESS, "state": "XX"}})
        assert_error(bad, 422, "validation_error", "e911_address.state")
        assert api.patch(path, {"e911_address": AR_ADDRESS}).json()["e911_address"]["city"] == (
            "Little Rock"
        )
        assert api.patch(path, {"e911_address": None}).json()["e911_address"] is None


class TestShapes:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            (tenant_body(name=123), "name"),
            (tenant_body(name=None), "name"),
            (tenant_body(name=""), "name"),
            (tenant_body(name="   "), "name"),
            (tenant_body(name="x" * 121), "name"),
            (tenant_body(billing_email=["a@b.example"]), "billing_email"),
            (tenant_body(billing_email="a" * 250 + "@b.example"), "billing_email"),
            (tenant_body(sip_prefix=12345), "sip_prefix"),
            (tenant_body(default_cnam="x" * 16), "default_cnam"),
            (tenant_body(timezone="x" * 65), "timezone"),
            (tenant_body(status="LIVE"), "status"),
            (tenant_body(status="CANCELLED"), "status"),
            (tenant_body(e911_address="400 President Clinton Ave"), "e911_address"),
            (tenant_body(unknown_field=1), "unknown_field"),
            ({"billing_email": "a@b.example"}, "name"),
        ],
    )
    def test_create(self, api, body, field):
        with capture_events([]):
            assert_error(api.post("/v1/tenants", body), 422, "validation_error", field)
        assert not Tenant.objects.exists()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": 123}, "name"),
            ({"name": ""}, "name"),
            ({"name": "x" * 121}, "name"),
            ({"status": "LIVE"}, "status"),
            ({"id": "tnt_other"}, "id"),
            ({"partner_id": "ptr_other"}, "partner_id"),
            ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
            ({"billing_email": "nope"}, "billing_email"),
            ({"name": None}, "name"),
            ({"billing_email": None}, "billing_email"),
            ({"timezone": None}, "timezone"),
            ({"status": None}, "status"),
            ({"sip_prefix": None}, "sip_prefix"),
        ],
    )
    def test_edit(self, api, tenant, body, field):
        before = row(tenant)
        with capture_events([]):
            response = api.patch(f"/v1/tenants/{tenant.id}", body)
        assert_error(response, 422, "validation_error", field)
        assert row(tenant) == before

    def test_an_edit_applies_all_fields_or_none(self, api, tenant):
        before = row(tenant)
        response = api.patch(
            f"/v1/tenants/{tenant.id}", {"name": "Renamed", "timezone": "Not/AZone"}
        )
        assert_error(response, 422, "validation_error", "timezone")
        assert row(tenant) == before

    def test_edit_every_editable_field(self, api, tenant):
        response = api.patch(
            f"/v1/tenants/{tenant.id}",
            {
                "name": "Acme Plumbing & Heating",
                "billing_email": "ap@acme.example",
                "default_cnam": "ACME HEATING",
                "timezone": "America/New_York",
                "e911_address": AR_ADDRESS,
            },
        )
        assert response.status_code == 200
        stored = row(tenant)
        assert stored["name"] == "Acme Plumbing & Heating"
        assert stored["billing_email"] == "ap@acme.example"
        assert stored["default_cnam"] == "ACME HEATING"
        assert stored["timezone"] == "America/New_York"
        assert stored["e911_postal_code"] == "72201"
        assert stored["created_at"] == row(tenant)["created_at"]
