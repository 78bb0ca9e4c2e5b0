"""Platform staff loading number blocks from CSV: the service's checks (all or nothing,
each problem by row), `POST /v1/platform/number-blocks`, and the staff portal page."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.core.capture import assert_error, capture_audit
from tests.factories import actor_for_user, make_api_key
from trunkline.accounts.models import User
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound
from trunkline.core.models import AuditEntry
from trunkline.phone_numbers import blocks, services
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.models import SupplyNumber

pytestmark = pytest.mark.django_db

STAFF = Actor.system()
GOOD = (
    "number,type,state,rate_center,city\n"
    "+15012020100,local,,,\n"
    "501-202-0101,local,AR,PULASKI,Little Rock\n"
    "(501) 202-0102,local,,,\n"
    "+18445550100,toll_free,,,\n"
)


def load(text: str | bytes, **options):
    content = text.encode() if isinstance(text, str) else text
    return blocks.number_block_load(actor=STAFF, content=content, filename="ozark.csv", **options)


def refusal(text: str | bytes) -> list[str]:
    with pytest.raises(blocks.BlockRejected) as caught:
        load(text)
    return caught.value.errors


# --- the service --------------------------------------------------------------------------------


def test_a_block_is_loaded_with_its_geography_and_found_by_search():
    with capture_audit(["number_block.loaded"]) as audit:
        result = load(GOOD)
    assert result.as_dict() == {
        "loaded": 4,
        "local": 3,
        "toll_free": 1,
        "source": "block:ozark.csv",
        "dry_run": False,
    }
    derived = SupplyNumber.objects.get(e164="+15012020100")
    assert (derived.state, derived.city, derived.rate_center, derived.source) == (
        "AR",
        "Little Rock",
        "LITTLE ROCK",
        "block:ozark.csv",
    )
    given = SupplyNumber.objects.get(e164="+15012020101")
    assert (given.rate_center, given.npa, given.nxx) == ("PULASKI", "501", "202")
    toll_free = SupplyNumber.objects.get(e164="+18445550100")
    assert (toll_free.kind, toll_free.state, toll_free.city) == ("toll_free", "", "")
    found = carrier().search(SearchCriteria(kind="local", state="AR", area_code="501"))
    assert [offer.e164 for offer in found] == ["+15012020100", "+15012020101", "+15012020102"]
    assert audit[0].after["loaded"] == 4 and audit[0].after["filename"] == "ozark.csv"
    assert audit[0].actor_type == "system"


def test_a_loaded_number_can_be_bought(admin, fund):
    load(GOOD)
    fund(admin.partner)
    [number] = services.numbers_purchase(actor=actor_for_user(admin), numbers=["+15012020100"])
    assert (number.state, number.city) == ("AR", "Little Rock")
    assert not SupplyNumber.objects.filter(e164="+15012020100").exists()


def test_a_dry_run_checks_and_changes_nothing():
    result = load(GOOD, dry_run=True)
    assert (result.loaded, result.dry_run) == (4, True)
    assert not SupplyNumber.objects.exists()
    assert not AuditEntry.objects.filter(action="number_block.loaded").exists()


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("+4420794600,local", "not a NANP number (+1)"),
        ("12345,local", "not ten digits"),
        ("5012020x00,local", "not a phone number"),
        ("1012020100,local", "not a NANP number"),
        ("5011020100,local", "not a NANP number"),
        ("8005550100,local", "800 is a toll-free code"),
        ("5012020100,toll_free", "501 is not a toll-free code"),
        ("8005550100,toll_free,TX", "toll-free numbers have no state"),
        ("5012020100,mobile", "type 'mobile' is local or toll_free"),
        ("5012020100,local,ZZ", "state 'ZZ' is not a two-letter US state code"),
        ("5014110100,local", "service code (N11)"),
        ("5015550100,local", "555 exchanges"),
        ("2042020100,local", "state is required"),  # a NANP exchange with no US place
        (",local", "number is required"),
        ("5012020100,local,AR,,Little Rock!", "city is at most 64 letters"),
        ("5012020100,local,,,,extra", "more cells than columns"),
    ],
)
def test_each_bad_row_is_named(row, message):
    errors = refusal(f"number,type,state,rate_center,city\n+15012020150,local,,,\n{row}\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith("row 3: ") and message in errors[0], errors
    assert not SupplyNumber.objects.exists()  # all or nothing


def test_duplicates_and_numbers_already_taken_are_refused(admin, fund):
    load("number,type\n+15012020100,local\n")
    fund(admin.partner)
    SupplyNumber.objects.create(
        e164="+15012020111", digits="5012020111", reversed_digits="1110202105",
        kind="local", state="AR", npa="501", nxx="202",
    )  # fmt: skip
    services.numbers_purchase(actor=actor_for_user(admin), numbers=["+15012020111"])
    errors = refusal(
        "number,type\n+15012020120,local\n5012020120,local\n+15012020100,local\n"
        "+15012020111,local\n"
    )
    assert errors == [
        "row 3: +15012020120 is listed twice (first on row 2)",
        "row 4: +15012020100 is already in the inventory",
        "row 5: +15012020111 already belongs to a partner",
    ]
    assert not SupplyNumber.objects.filter(e164="+15012020120").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"number,type\n", "a header but no numbers"),
        (b"number\n+15012020100\n", "missing column(s) type"),
        (b"number,type,price\n", "unknown column(s) price"),
        (b"number,type,type\n", "a column is named twice"),
        ("number,type\n+15012020100,local\n".encode("utf-16"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b"number,type\n\x00,local\n", "NUL bytes"),
        (b'number,type\n"+15012020100,local\n', "row"),  # an unclosed quote
        (b"number,type\n" + b"+15012020100,local\n" * 120_000, "larger than 2 MB"),
    ],
)
def test_files_that_are_not_a_block_are_refused(content, message):
    errors = refusal(content)
    assert message in errors[0], errors
    assert not SupplyNumber.objects.exists()


def test_too_many_rows_are_refused(monkeypatch):
    monkeypatch.setattr(blocks, "MAX_ROWS", 2)
    errors = refusal("number,type\n5012020100,local\n5012020101,local\n5012020102,local\n")
    assert errors == ["the file has more than 2 numbers"]


def test_a_utf8_bom_and_blank_lines_are_fine():
    result = load("\ufeffNumber,Type\r\n+15012020100,LOCAL\r\n\r\n,\r\n")
    assert result.loaded == 1


def test_only_the_platform_loads_blocks(admin):
    with pytest.raises(NotFound):
        blocks.number_block_load(actor=actor_for_user(admin), content=GOOD.encode())
    assert not SupplyNumber.objects.exists()


# --- the API ------------------------------------------------------------------------------------


def upload(client, key, content: bytes, name="ozark.csv", **fields):
    return client.post(
        "/v1/platform/number-blocks",
        {"file": SimpleUploadedFile(name, content, content_type="text/csv"), **fields},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.fixture
def platform_key(partner):
    return make_api_key(partner, platform=True, name="Operator")


def test_a_platform_key_loads_a_block(client, platform_key):
    response = upload(client, platform_key, GOOD.encode())
    assert response.status_code == 201, response.content
    assert response.json() == {
        "loaded": 4,
        "local": 3,
        "toll_free": 1,
        "source": "block:ozark.csv",
        "dry_run": False,
    }
    assert SupplyNumber.objects.count() == 4
    entry = AuditEntry.objects.get(action="number_block.loaded")
    assert (entry.actor_type, entry.actor_label) == ("api_key", "Operator")


def test_a_dry_run_answers_200_and_loads_nothing(client, platform_key):
    response = upload(client, platform_key, GOOD.encode(), dry_run="true")
    assert response.status_code == 200
    assert response.json()["dry_run"] is True and response.json()["loaded"] == 4
    assert not SupplyNumber.objects.exists()


def test_a_partner_key_finds_nothing_there(client, partner):
    key = make_api_key(partner, scopes="all")
    assert_error(upload(client, key, GOOD.encode()), 404, "not_found")
    # …not even a hint from a bad file.
    assert_error(upload(client, key, b"nonsense"), 404, "not_found")
    reader = make_api_key(partner, scopes="phone_numbers:read", platform=True)
    assert_error(upload(client, reader, GOOD.encode()), 403, "permission_denied")
    assert not SupplyNumber.objects.exists()


def test_bad_files_answer_the_error_envelope_and_change_nothing(client, platform_key):
    load("number,type\n+15012020100,local\n")
    for content in (
        b"number,type\n+15012020101,local\n+15012020100,local\n",
        b"\xff\xfe\x00garbage",
        b"number,type\n" + b"+15012020102,local\n" * 120_000,
    ):
        error = assert_error(upload(client, platform_key, content), 422, "block_rejected", "file")
        assert "not loaded" in error["message"]
    assert list(SupplyNumber.objects.values_list("e164", flat=True)) == ["+15012020100"]
    missing = client.post(
        "/v1/platform/number-blocks", {}, HTTP_AUTHORIZATION=f"Bearer {platform_key}"
    )
    assert_error(missing, 422, "validation_error")
    assert client.post("/v1/platform/number-blocks").status_code == 401


def test_the_rows_are_named_in_the_message(client, platform_key):
    load("number,type\n+15012020100,local\n")
    response = upload(
        client, platform_key, b"number,type\n+15012020101,local\n+15012020100,local\n"
    )
    error = assert_error(response, 422, "block_rejected", "file")
    assert "row 3: +15012020100 is already in the inventory" in error["message"]


def test_only_staff_make_platform_keys(partner, admin):
    from trunkline.accounts.services import api_key_create
    from trunkline.core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        api_key_create(actor=actor_for_user(admin), name="Mine", scopes="all", platform=True)


# --- the portal page ----------------------------------------------------------------------------


@pytest.fixture
def staff_client(db):
    client = Client()
    client.force_login(
        User.objects.create_superuser("ops@trunkline.example", "Correct-Horse9battery")
    )
    return client


def post_page(client, content: bytes, **fields):
    return client.post(
        "/platform/number-blocks",
        {"file": SimpleUploadedFile("ozark.csv", content, content_type="text/csv"), **fields},
    )


def test_staff_load_a_block_from_the_portal(staff_client):
    page = staff_client.get("/platform/number-blocks")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/platform/number-blocks"' in html  # in the platform menu and tabs
    assert 'enctype="multipart/form-data"' in html and "toll_free" in html

    checked = post_page(staff_client, GOOD.encode(), dry_run="on")
    assert checked.status_code == 200
    assert "would be loaded" in checked.content.decode()
    assert not SupplyNumber.objects.exists()

    loaded = post_page(staff_client, GOOD.encode())
    assert loaded.status_code == 200
    assert "Loaded 4 numbers: 3 local, 1 toll-free" in loaded.content.decode()
    assert SupplyNumber.objects.count() == 4


def test_the_portal_lists_each_bad_row_and_loads_nothing(staff_client):
    response = post_page(staff_client, b"number,type\n+15012020150,local\n8005550100,local\n")
    assert response.status_code == 422
    html = response.content.decode()
    assert "data-block-errors" in html
    assert "row 3: 800 is a toll-free code" in html
    assert not SupplyNumber.objects.exists()
    assert post_page(staff_client, b"").status_code == 422  # no file chosen


def test_partners_get_a_404_and_visitors_the_sign_in(client, admin):
    signed_out = client.get("/platform/number-blocks")
    assert signed_out["Location"] == "/login?next=/platform/number-blocks"
    partner_client = Client()
    partner_client.force_login(admin)
    assert partner_client.get("/platform/number-blocks").status_code == 404
    assert post_page(partner_client, GOOD.encode()).status_code in (403, 404)
    assert not SupplyNumber.objects.exists()
