"""Finding numbers to buy: real US geography, every search filter, vanity patterns
(partner guide 004, "Phone Numbers (DIDs)": Buying local / toll-free numbers)."""

import pytest

from trunkline.core.errors import ValidationFailed
from trunkline.phone_numbers import geography
from trunkline.phone_numbers.carrier import SearchCriteria
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber
from trunkline.phone_numbers.supply import seed_rows, supply_search
from trunkline.phone_numbers.vanity import vanity_pattern


def test_exchanges_are_where_the_numbers_really_are():
    places = {(e.npa, e.nxx): e for e in geography.exchanges()}
    assert places[("501", "202")].city == "Little Rock"
    assert places[("501", "202")].state == "AR"
    assert places[("501", "202")].rate_center == "LITTLE ROCK"
    assert set(geography.area_codes("AR")) == {"479", "501", "870"}
    assert "Little Rock" in geography.cities("AR", "lit")
    # Service codes and the fictional 555 exchange are never offered.
    assert not any(e.nxx == "555" or e.nxx[1:] == "11" for e in geography.exchanges())


def test_the_same_seed_gives_the_same_inventory():
    first = [row.e164 for row in seed_rows(states=["AR"], per_exchange=2, toll_free=70)]
    again = [row.e164 for row in seed_rows(states=["AR"], per_exchange=2, toll_free=70)]
    other = [row.e164 for row in seed_rows(states=["AR"], per_exchange=2, toll_free=70, seed=1)]
    assert first == again
    assert first != other
    assert len(first) == len(set(first))


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("877-555-XXXX", "877555XXXX"),
        ("8XX-OUR-FOOD", "8XX6873663"),
        ("888-XXX-1000", "888XXX1000"),
        ("1-800-FLOWERS", "8003569377"),
        ("(866) 5x5 xxxx", "8665X5XXXX"),
        ("+1 855 *** 2222", "855XXX2222"),
    ],
)
def test_vanity_patterns(text, pattern):
    assert vanity_pattern(text) == pattern


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "required"),
        ("877-555-XXX", "10 positions"),
        ("877-555-XXXXX", "has 11"),
        ("501-555-XXXX", "toll-free numbers start with"),
        ("877-555-XX?X", "cannot be part"),
        ("X" * 41, "at most 40"),
    ],
)
def test_bad_vanity_patterns(text, message):
    with pytest.raises(ValidationFailed) as refused:
        vanity_pattern(text)
    assert message in refused.value.message
    assert refused.value.field == "pattern"


def search(**criteria):
    return supply_search(SearchCriteria(**criteria))


def test_local_search_filters(inventory):
    state = search(kind="local", state="AR", limit=500)
    assert state and all(offer.state == "AR" for offer in state)
    assert [offer.e164 for offer in state] == sorted(offer.e164 for offer in state)
    by_code = search(kind="local", state="AR", area_code="501")
    assert by_code and all(offer.e164.startswith("+1501") for offer in by_code)
    by_exchange = search(kind="local", state="AR", area_code="501", nxx="202")
    assert by_exchange and all(offer.e164.startswith("+1501202") for offer in by_exchange)
    by_city = search(kind="local", state="AR", city="little rock")
    assert by_city and {offer.city for offer in by_city} == {"Little Rock"}
    by_center = search(kind="local", state="AR", rate_center="little rock")
    assert {offer.e164 for offer in by_center} == {offer.e164 for offer in by_city}
    assert search(kind="local", state="AR", city="Kansas City") == []  # a Missouri city
    assert search(kind="local", state="MO", city="Kansas City")
    assert len(search(kind="local", state="AR", limit=3)) == 3


def test_toll_free_regular_and_vanity(inventory):
    regular = search(kind="toll_free", limit=10)
    assert len(regular) == 10 and all(offer.kind == "toll_free" for offer in regular)
    assert all(
        offer.e164[2:5] in ("800", "833", "844", "855", "866", "877", "888") for offer in regular
    )
    all_digits = list(
        SupplyNumber.objects.filter(kind="toll_free").values_list("digits", flat=True)
    )

    def expected(test) -> list[str]:
        return sorted("+1" + digits for digits in all_digits if test(digits))[:500]

    for pattern, test in [
        ("877XXXXXXX", lambda d: d.startswith("877")),
        ("8XXXXXXXX3", lambda d: d.endswith("3")),
        ("888XXXXXX0", lambda d: d.startswith("888") and d.endswith("0")),
        ("8XX5XXXXXX", lambda d: d[3] == "5"),
        ("8XX52XXXX7", lambda d: d[3:5] == "52" and d.endswith("7")),
    ]:
        found = [offer.e164 for offer in search(kind="toll_free", pattern=pattern, limit=500)]
        assert found == expected(test), pattern
    # A number that is in stock is found by its exact vanity spelling.
    digits = all_digits[17]
    assert [offer.e164 for offer in search(kind="toll_free", pattern=digits)] == ["+1" + digits]


def test_numbers_a_partner_owns_are_not_offered(inventory, partner):
    offer = search(kind="local", state="AR", limit=1)[0]
    SupplyNumber.objects.filter(e164=offer.e164).delete()
    PhoneNumber.objects.create(partner=partner, e164=offer.e164, kind="local", status="ACTIVE")
    assert offer.e164 not in {o.e164 for o in search(kind="local", state="AR", limit=500)}
