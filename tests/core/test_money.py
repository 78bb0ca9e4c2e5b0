"""Money: integer micro-units, decimal strings in and out, never a float."""

from decimal import Decimal

import pytest

from trunkline.core.money import MICROS_PER_UNIT, Money, MoneyError


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("12.34", 12_340_000),
        ("0.014", 14_000),
        ("0.000001", 1),
        ("100", 100_000_000),
        ("-5.5", -5_500_000),
        (" 7.00 ", 7_000_000),
        ("0", 0),
        ("-0", 0),
        ("1e3", 1_000_000_000),
        (12, 12_000_000),
        (Decimal("0.25"), 250_000),
        ("123456789012.123456", 123_456_789_012_123_456),
    ],
)
def test_parse(text, micros):
    assert Money.parse(text) == Money(micros)
    assert isinstance(Money.parse(text).micros, int)


@pytest.mark.parametrize(
    "value",
    [0.1, 1.0, True, "0.0000001", "abc", "", "1,000.00", "$5", "NaN", "Infinity", "-inf", None],
)
def test_parse_refuses(value):
    with pytest.raises(MoneyError):
        Money.parse(value)


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (12_340_000, "12.34"),
        (10_000_000, "10.00"),
        (100_000_000, "100.00"),
        (14_000, "0.014"),
        (1, "0.000001"),
        (0, "0.00"),
        (-500_000, "-0.50"),
        (-1, "-0.000001"),
        (1_000_000_000_000, "1000000.00"),
    ],
)
def test_to_json(micros, text):
    assert Money(micros).to_json() == text
    assert str(Money(micros)) == text
    assert Money.parse(text) == Money(micros)


def test_to_json_with_more_places():
    assert Money(14_000).to_json(min_places=4) == "0.0140"
    assert Money(12_000_000).to_json(min_places=0) == "12"


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("0.005", "0.01"),
        ("0.004999", "0.00"),
        ("1.015", "1.02"),
        ("1.025", "1.03"),  # half-up, not banker's rounding (which gives 1.02)
        ("2.675", "2.68"),  # a float would say 2.67
        ("0.014", "0.01"),
        ("12.345", "12.35"),
        ("-0.005", "-0.01"),
        ("7", "7.00"),
    ],
)
def test_rounding_to_cents_is_half_up(amount, cents):
    assert Money.parse(amount).rounded_to_cents() == Money.parse(cents)


def test_arithmetic_stays_in_integers():
    total = Money.zero()
    for _ in range(10):
        total = total + Money.parse("0.1")
    assert total == Money.parse("1.00")  # 0.1 ten times is exactly 1, unlike floats
    assert Money.parse("5") - Money.parse("7.5") == Money.parse("-2.5")
    assert -Money.parse("3") == Money(-3 * MICROS_PER_UNIT)
    assert Money.parse("10") > Money.parse("9.999999")


@pytest.mark.parametrize(
    ("rate", "quantity", "result"),
    [
        ("0.014", 3, "0.042"),
        ("0.014", Decimal("2.5"), "0.035"),
        ("0.000003", Decimal("0.5"), "0.000002"),  # 1.5 micros rounds half-up to 2
        ("0.01", 0, "0"),
    ],
)
def test_times(rate, quantity, result):
    assert Money.parse(rate).times(quantity) == Money.parse(result)


def test_mixing_is_refused():
    with pytest.raises(TypeError):
        Money(1) + 1
    with pytest.raises(MoneyError):
        Money(1) + Money(1, "EUR")


def test_decimal_property():
    assert Money(12_340_000).decimal == Decimal("12.340000")
