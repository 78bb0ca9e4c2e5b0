"""Rating rules (issue: partner money; partner guide `004_*.txt`, "The four platform
tiers": local and toll-free minutes are metered and priced apart)."""

from datetime import UTC, datetime

import pytest

from trunkline.billing.rating import (
    FOREVER,
    INTERNAL,
    INTERNATIONAL,
    LOCAL,
    TOLL_FREE,
    PlanRates,
    PrefixTable,
    Rate,
    Rater,
    RatingError,
    billable_seconds,
    classify,
    cost_micros,
)

JAN = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
FEB = int(datetime(2027, 2, 1, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("seconds", "first", "step", "billed"),
    [
        (0, 60, 60, 0),  # unanswered: nothing
        (1, 60, 60, 60),
        (60, 60, 60, 60),
        (61, 60, 60, 120),
        (1, 30, 6, 30),
        (30, 30, 6, 30),
        (31, 30, 6, 36),
        (37, 30, 6, 42),
        (1, 6, 6, 6),
        (7, 6, 6, 12),
        (125, 1, 1, 125),
    ],
)
def test_billing_increments(seconds, first, step, billed):
    assert billable_seconds(seconds, first, step) == billed


def test_cost_rounds_half_up_to_the_micro_dollar():
    # $0.014/min for 7 s = 1633.33… micro-dollars → 1633; 3 s of $0.000001/min = 0.05 → 0
    assert cost_micros(14_000, 0, 7) == 1633
    assert cost_micros(1, 0, 30) == 1  # 0.5 → 1, half-up
    assert cost_micros(1, 0, 29) == 0
    assert cost_micros(14_000, 5_000, 60) == 19_000  # connection fee on answered calls
    assert cost_micros(14_000, 5_000, 0) == 0  # and not on unanswered ones


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+15015550123", LOCAL),  # Arkansas
        ("+17875550123", LOCAL),  # Puerto Rico is domestic
        ("+18775550123", TOLL_FREE),
        ("+18335550123", TOLL_FREE),
        ("+18765550123", INTERNATIONAL),  # Jamaica: +1 but not domestic
        ("+14165550123", INTERNATIONAL),  # Toronto
        ("+442079460000", INTERNATIONAL),
    ],
)
def test_classification(number, expected):
    assert classify("outbound", number) == expected


@pytest.mark.parametrize(
    "number", ["15015550123", "+1501555012", "+1501555012x", "+", "+1" + "5" * 20, "+1099555012"]
)
def test_malformed_numbers_are_refused(number):
    with pytest.raises(RatingError):
        classify("outbound", number)


def test_longest_prefix_wins():
    table = PrefixTable([Rate("1", 10), Rate("1501", 20), Rate("1501555", 30)])
    assert table.match("15015550123", JAN).per_minute == 30
    assert table.match("15015560123", JAN).per_minute == 20
    assert table.match("12125550123", JAN).per_minute == 10
    assert table.match("442079460000", JAN) is None


def test_effective_dated_rows_and_fallback_to_a_shorter_prefix():
    table = PrefixTable(
        [
            Rate("44", 100, starts=0, ends=FEB),
            Rate("44", 120, starts=FEB),  # the carrier's increase from February
            Rate("447", 300, starts=JAN, ends=FEB),  # a January special for mobiles
        ]
    )
    assert table.match("447700900000", JAN).per_minute == 300
    assert table.match("447700900000", JAN - 1).per_minute == 100  # before the special
    assert table.match("447700900000", FEB).per_minute == 120  # special over: back to 44
    assert table.match("442079460000", FEB - 1).per_minute == 100


def _rater(**plan):
    starter = PlanRates(local_per_minute=20_000, toll_free_per_minute=22_000, first=6, step=6)
    business = PlanRates(local_per_minute=14_000, toll_free_per_minute=17_000, first=6, step=6)

    def plan_rates(partner_id, at):
        return business if at >= FEB else starter

    return Rater(
        plan_rates=plan_rates,
        international=PrefixTable([Rate("44", 50_000, first=60, step=60, id="sell-44")]),
        provider_outbound=PrefixTable(
            [Rate("1", 4_000, first=6, step=6, id="cost-1"), Rate("44", 9_000, id="cost-44")]
        ),
        provider_inbound={
            LOCAL: Rate("", 2_000, first=6, step=6, id="in-local"),
            TOLL_FREE: Rate("", 7_000, first=6, step=6, id="in-tf"),
        }.get,
    )


def test_local_and_toll_free_are_priced_apart():
    rater = _rater()
    local = rater.rate("ptr_a", "outbound", "+15015550123", "+15015550100", JAN, 61)
    assert local == (LOCAL, 66, 22_000, 4_400, "", "cost-1")
    toll_free = rater.rate("ptr_a", "inbound", "+15015550123", "+18775550100", JAN, 61)
    assert toll_free == (TOLL_FREE, 66, 24_200, 7_700, "", "in-tf")


def test_a_rate_change_applies_to_calls_after_it():
    rater = _rater()
    before = rater.rate("ptr_a", "outbound", "+15015550123", "", FEB - 1, 60)
    after = rater.rate("ptr_a", "outbound", "+15015550123", "", FEB, 60)
    assert (before.wholesale_micros, after.wholesale_micros) == (20_000, 14_000)


def test_international_calls_use_the_outbound_sell_table():
    rated = _rater().rate("ptr_a", "outbound", "+442079460000", "", JAN, 61)
    assert rated == (INTERNATIONAL, 120, 100_000, 18_000, "sell-44", "cost-44")
    with pytest.raises(RatingError, match="no international rate"):
        _rater().rate("ptr_a", "outbound", "+33142685300", "", JAN, 61)


def test_internal_calls_cost_nothing():
    assert _rater().rate("ptr_a", "internal", "", "", JAN, 600) == (INTERNAL, 0, 0, 0, "", "")


def test_unanswered_calls_cost_nothing():
    rated = _rater().rate("ptr_a", "outbound", "+15015550123", "", JAN, 0)
    assert (rated.billable_seconds, rated.wholesale_micros, rated.provider_cost_micros) == (0, 0, 0)


@pytest.mark.parametrize(
    ("direction", "far_end", "did", "seconds", "message"),
    [
        ("sideways", "+15015550123", "", 10, "direction"),
        ("outbound", "+15015550123", "", -1, "negative"),
        ("outbound", "5015550123", "", 10, "E.164"),
        ("inbound", "+15015550123", "+442079460000", 10, "not a number the platform sells"),
    ],
)
def test_records_that_cannot_be_rated_say_why(direction, far_end, did, seconds, message):
    with pytest.raises(RatingError, match=message):
        _rater().rate("ptr_a", direction, far_end, did, JAN, seconds)


def test_longest_prefix_match_agrees_with_trying_every_prefix():
    import random

    rng = random.Random(7)
    rows = [Rate("", 1, id="any")]
    for number in range(3_000):
        prefix = rng.choice(["1", "44", "1876", "33", "4420"]) + str(rng.randint(0, 10**6))
        prefix = prefix[: rng.randint(1, 9)]
        starts = rng.choice([0, JAN, FEB])
        rows.append(Rate(prefix, number, starts=starts, ends=rng.choice([FEB, FOREVER]), id=prefix))
    table = PrefixTable(rows)

    by_prefix: dict[str, list[Rate]] = {}
    for rate in rows:
        by_prefix.setdefault(rate.prefix, []).append(rate)

    def slow(digits, at):
        for length in range(len(digits), -1, -1):
            group = by_prefix.get(digits[:length], [])
            in_force = [rate for rate in group if rate.starts <= at < rate.ends]
            if in_force:
                return max(in_force, key=lambda rate: rate.starts)
        return None

    for _ in range(1_500):
        digits = rng.choice(["1", "44", "1876", "33", "4420", "9"]) + str(rng.randint(0, 10**9))
        digits = digits[: rng.randint(1, 12)]
        at = rng.choice([0, JAN - 1, JAN, FEB - 1, FEB])
        assert table.match(digits, at) == slow(digits, at), (digits, at)
