"""The interface every pricing model implements.

A model is parsed once from its fields into a frozen value, then rated many
times. Rating never rounds and never validates again: the parse did that.
Arithmetic runs in the rating context (`aforo.pricing.numbers.CONTEXT`), which
the entry points in `aforo.pricing.rating` enter; models do not call each other.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal

from aforo.pricing.breakdown import BreakdownLine
from aforo.pricing.fields import Fields
from aforo.pricing.numbers import ZERO, format_decimal

# Unit prices and every other amount of a price may have up to 12 decimal places.
MONEY_PLACES: Final = 12
MONEY: Final[dict[str, Any]] = {"minimum": ZERO, "places": MONEY_PLACES}


class PricingModel(ABC):
    """A pricing model: `name` is what a price's `model` field says."""

    name: ClassVar[str]
    rates: ClassVar[Literal["quantity", "values"]]

    @classmethod
    @abstractmethod
    def parse(cls, fields: Fields) -> PricingModel | None:
        """Read this model's fields; None if any error was recorded in `fields.errors`."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The model's fields as docs/pricing.md writes them (decimals as strings)."""


class QuantityModel(PricingModel):
    """A model priced on one period-to-date quantity (after transform and free units)."""

    rates: ClassVar[Literal["quantity", "values"]] = "quantity"

    @abstractmethod
    def lines(self, quantity: Decimal) -> list[BreakdownLine]:
        """The breakdown for `quantity`; the model's amount is the sum of these lines."""

    @abstractmethod
    def amount(self, quantity: Decimal) -> Decimal:
        """F(quantity): exactly the sum of `lines(quantity)`, without building them.

        This is the streaming hot path, so models precompute what they can at
        parse time. Tests check it equals the sum of the lines for any quantity.
        """


class ValuesModel(PricingModel):
    """A model priced on the ordered values of the period's transactions."""

    rates: ClassVar[Literal["quantity", "values"]] = "values"

    @abstractmethod
    def lines(
        self, values: Sequence[Decimal], count_before: int = 0, value_before: Decimal = ZERO
    ) -> list[BreakdownLine]:
        """The breakdown for `values`, after `count_before` transactions worth
        `value_before` already rated in the period."""

    @abstractmethod
    def amount(
        self, values: Sequence[Decimal], count_before: int = 0, value_before: Decimal = ZERO
    ) -> Decimal:
        """Exactly the sum of `lines(...)` for the same arguments."""


def text(value: Decimal | None) -> str | None:
    """A decimal field as `to_dict` writes it."""
    return None if value is None else format_decimal(value)
