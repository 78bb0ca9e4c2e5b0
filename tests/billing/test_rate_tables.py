"""Outbound rate decks from CSV: every row checked, all or nothing, errors by row number."""

from datetime import UTC, datetime

import pytest

from trunkline.accounts.models import User
from trunkline.billing.models import OutboundRate, Provider
from trunkline.billing.rate_tables import RateUploadRejected, outbound_rates_upload
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound, ValidationFailed
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db

HEADER = (
    "prefix,description,per_minute,connection_fee,first_increment,step_increment,"
    "effective_from,effective_to\n"
)
GOOD = HEADER + (
    "44,United Kingdom,0.0125,0,60,60,2026-01-01,\n"
    "4420,London,0.011,0.001,30,6,2026-01-01T00:00:00Z,2027-01-01\n"
    "1,US and Canada,0.004,,6,6,2026-01-01,\n"
)


@pytest.fixture
def staff(db):
    user = User.objects.create_superuser("ops@trunkline.example", "Correct-Horse9battery")
    return Actor(kind="user", user=user)


@pytest.fixture
def carrier(db):
    return Provider.objects.create(name="Docs Demo Carrier", trunk_name="carrier-a")


def upload(actor, text, provider=None):
    return outbound_rates_upload(
        actor=actor,
        content=text.encode(),
        provider_id=provider.id if provider else None,
        filename="deck.csv",
    )


def test_a_good_file_loads_every_row_with_its_prices(staff, carrier):
    result = upload(staff, GOOD, carrier)
    assert (result.created, result.closed, result.prefixes) == (3, 0, 3)
    london = OutboundRate.objects.get(prefix="4420")
    assert london.provider == carrier
    assert (london.per_minute_micros, london.connection_micros) == (11_000, 1_000)
    assert (london.first_increment, london.step_increment) == (30, 6)
    assert london.effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert london.effective_to == datetime(2027, 1, 1, tzinfo=UTC)
    assert OutboundRate.objects.get(prefix="1").connection_micros == 0
    entry = AuditEntry.objects.get(action="rates.outbound_uploaded")
    assert entry.object_id == carrier.id and entry.after["created"] == 3


def test_without_a_carrier_the_rows_are_the_platform_sell_prices(staff):
    upload(staff, GOOD)
    assert OutboundRate.objects.filter(provider__isnull=True).count() == 3


def test_one_bad_row_loads_nothing_and_every_error_names_its_row(staff, carrier):
    text = HEADER + (
        "44,United Kingdom,0.0125,0,60,60,2026-01-01,\n"
        "+44x,Bad prefix,0.01,0,60,60,2026-01-01,\n"
        "1234567890123456,Too long,0.01,0,60,60,2026-01-01,\n"
        "33,France,0.1234567,0,60,60,2026-01-01,\n"
        "34,Spain,abc,0,60,60,2026-01-01,\n"
        "49,Germany,0.01,0,0,60,2026-01-01,\n"
        "39,Italy,0.01,0,60,6.5,2026-01-01,\n"
        "41,Switzerland,0.01,0,60,60,01/02/2026,\n"
        "43,Austria,0.01,0,60,60,2026-02-01,2026-01-01\n"
        "45,Denmark,-0.01,0,60,60,2026-01-01,\n"
        "46,Sweden,0.01,0,60,60,2026-01-01T00:00:00,\n"
    )
    with pytest.raises(RateUploadRejected) as caught:
        upload(staff, text, carrier)
    errors = caught.value.errors
    assert [error.split(":")[0] for error in errors] == [f"row {n}" for n in range(3, 13)]
    assert "digits only" in errors[0]
    assert "at most 15 digits" in errors[1]
    assert "six decimal places" in errors[2]
    assert "not a decimal amount" in errors[3]
    assert "first_increment is between 1" in errors[4]
    assert "step_increment '6.5' is a whole number" in errors[5]
    assert "not a date" in errors[6]
    assert "effective_to is after effective_from" in errors[7]
    assert "not negative" in errors[8]
    assert "needs a UTC offset" in errors[9]
    assert OutboundRate.objects.count() == 0
    assert not AuditEntry.objects.filter(action="rates.outbound_uploaded").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "row 1: the file is empty"),
        (HEADER, "a header but no rates"),
        ("prefix,per_minute\n44,0.01\n", "row 1: missing column(s) first_increment"),
        (HEADER.strip() + ",colour\n", "row 1: unknown column(s) colour"),
        (HEADER + "44,UK,0.01,0,60,60,2026-01-01,,extra\n", "row 2: more cells than columns"),
        (HEADER + "44,UK,0.01,0,60,60,,\n", "row 2: effective_from is required"),
        (HEADER + "44,UK,,0,60,60,2026-01-01,\n", "row 2: per_minute is required"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(staff, carrier, text, message):
    with pytest.raises(RateUploadRejected) as caught:
        upload(staff, text, carrier)
    assert message in caught.value.message
    assert OutboundRate.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused(staff, carrier):
    with pytest.raises(RateUploadRejected, match="not UTF-8"):
        outbound_rates_upload(
            actor=staff, content=b"\xff\xfe\x00p", provider_id=carrier.id, filename="x.csv"
        )


def test_a_byte_order_mark_and_plus_signs_are_accepted(staff, carrier):
    upload(staff, "\ufeff" + HEADER + "+44,UK,0.01,0,60,60,2026-01-01,\n", carrier)
    assert OutboundRate.objects.get().prefix == "44"


def test_two_rows_of_one_prefix_in_force_together_are_refused(staff, carrier):
    text = HEADER + (
        "44,UK,0.01,0,60,60,2026-01-01,\n44,UK special,0.008,0,60,60,2026-06-01,2026-07-01\n"
    )
    with pytest.raises(RateUploadRejected, match="row 3: prefix 44 overlaps row 2"):
        upload(staff, text, carrier)


def test_a_new_deck_ends_the_open_rate_it_supersedes(staff, carrier):
    upload(staff, HEADER + "44,UK,0.0125,0,60,60,2026-01-01,\n", carrier)
    result = upload(staff, HEADER + "44,UK,0.0110,0,60,60,2026-03-01,\n", carrier)
    assert (result.created, result.closed) == (1, 1)
    old, new = OutboundRate.objects.filter(prefix="44").order_by("effective_from")
    assert old.effective_to == new.effective_from == datetime(2026, 3, 1, tzinfo=UTC)
    assert new.effective_to is None


def test_an_overlap_with_a_bounded_rate_is_an_error_and_changes_nothing(staff, carrier):
    upload(staff, HEADER + "44,UK,0.0125,0,60,60,2026-01-01,2026-12-01\n", carrier)
    with pytest.raises(RateUploadRejected, match=r"row 2: prefix 44 overlaps rate rte_\w+"):
        upload(staff, HEADER + "44,UK,0.0110,0,60,60,2026-03-01,\n", carrier)
    assert OutboundRate.objects.count() == 1
    assert OutboundRate.objects.get().effective_to == datetime(2026, 12, 1, tzinfo=UTC)


def test_other_carriers_tables_are_not_touched(staff, carrier):
    other = Provider.objects.create(name="Other Carrier")
    upload(staff, HEADER + "44,UK,0.0125,0,60,60,2026-01-01,\n", other)
    upload(staff, HEADER + "44,UK,0.0110,0,60,60,2026-03-01,\n", carrier)
    assert OutboundRate.objects.get(provider=other).effective_to is None


def test_only_staff_may_load_rates(carrier, partner_and_admin):
    partner, admin = partner_and_admin
    actor = Actor(kind="user", partner=partner, user=admin)
    with pytest.raises(NotFound):
        upload(actor, GOOD, carrier)


def test_an_unknown_carrier_is_a_field_error(staff):
    with pytest.raises(ValidationFailed, match="no such carrier"):
        outbound_rates_upload(actor=staff, content=GOOD.encode(), provider_id="prv_nope")
