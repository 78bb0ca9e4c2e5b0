"""Money as integer micro-units: 1 USD = 1_000_000. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS_PER_UNIT = 1_000_000
_MICRO = Decimal("0.000001")
_CENT = Decimal("0.01")


class MoneyError(ValueError):
    pass


@dataclass(frozen=True, order=True, slots=True)
class Money:
    micros: int
    currency: str = "USD"

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    @classmethod
    def parse(cls, value: str | int | Decimal) -> Money:
        """Dollars as a decimal string ("12.34", "0.014"); at most six places."""
        if isinstance(value, (bool, float)):
            raise MoneyError("amounts are decimal strings, never floats")
        try:
            amount = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise MoneyError(f"{value!r} is not a decimal amount") from None
        if not amount.is_finite():
            raise MoneyError(f"{value!r} is not a finite amount")
        micros = amount * MICROS_PER_UNIT
        if micros != micros.to_integral_value():
            raise MoneyError("amounts have at most six decimal places")
        return cls(int(micros))

    @property
    def decimal(self) -> Decimal:
        return (Decimal(self.micros) / MICROS_PER_UNIT).quantize(_MICRO)

    def rounded_to_cents(self) -> Money:
        """Half-up to the cent, as invoice lines are rounded."""
        cents = self.decimal.quantize(_CENT, rounding=ROUND_HALF_UP)
        return Money(int(cents * MICROS_PER_UNIT), self.currency)

    def to_json(self, min_places: int = 2) -> str:
        """Decimal-string dollars with at least `min_places` and no trailing noise."""
        text = format(self.decimal.normalize(), "f")
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(min_places, "0")
        return f"{whole}.{fraction}" if fraction else whole

    def __str__(self) -> str:
        return self.to_json()

    def _check(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError("Money combines only with Money")
        if other.currency != self.currency:
            raise MoneyError("currencies differ")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.micros + other.micros, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.micros - other.micros, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.micros, self.currency)

    def times(self, quantity: int | Decimal) -> Money:
        """Multiply by a count or a decimal quantity, rounding half-up to the micro."""
        product = Decimal(self.micros) * Decimal(quantity)
        return Money(int(product.quantize(Decimal(1), rounding=ROUND_HALF_UP)), self.currency)
