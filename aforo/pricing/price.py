"""A price: a model plus the common fields, parsed once into a frozen value."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aforo.pricing.errors import PriceError
from aforo.pricing.fields import ABSENT, Fields
from aforo.pricing.models import MODELS, PricingModel, unknown_model_message
from aforo.pricing.models.base import MONEY, text
from aforo.pricing.numbers import ZERO, format_decimal, terminates

ROUNDS = ("none", "up", "down")


@dataclass(frozen=True, slots=True)
class Transform:
    """Raw quantity -> billing units: divide by `divide_by`, then round to a whole
    unit (`up`, `down`) or not at all (`none`, only for divisors that divide exactly)."""

    divide_by: Decimal
    round: str = "none"

    def apply(self, quantity: Decimal) -> Decimal:
        if self.round == "none":
            return quantity / self.divide_by
        whole, rest = divmod(quantity, self.divide_by)
        if rest and self.round == "up":
            whole += 1
        return whole

    def to_dict(self) -> dict[str, Any]:
        return {"divide_by": format_decimal(self.divide_by), "round": self.round}


@dataclass(frozen=True, slots=True)
class Price:
    """A validated price. Rate it with `aforo.pricing.rate` and friends."""

    model: PricingModel
    transform: Transform | None = None
    free_units: Decimal | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None

    @property
    def model_name(self) -> str:
        return self.model.name

    def billing_units(self, raw: Decimal) -> Decimal:
        """Steps 1 and 2 of a rating: the transform, then the free units."""
        units = raw if self.transform is None else self.transform.apply(raw)
        free = self.free_units
        if free is not None:
            units = units - free if units > free else ZERO
        return units

    def to_dict(self) -> dict[str, Any]:
        """The price as docs/pricing.md writes it; `parse_price` reads it back equal."""
        out: dict[str, Any] = {"model": self.model.name, **self.model.to_dict()}
        if self.transform is not None:
            out["transform"] = self.transform.to_dict()
        for name in ("free_units", "minimum", "maximum"):
            value = getattr(self, name)
            if value is not None:
                out[name] = text(value)
        return out


def parse_price(obj: object, path: str = "price") -> Price:
    """Validate a price object (a dict from JSON or YAML) into a Price.

    Raises PriceError listing every problem, each naming its path under `path`.
    """
    if isinstance(obj, Price):
        return obj
    errors: list[str] = []
    price = read_price(obj, path, errors)
    if price is None:
        raise PriceError(errors)
    return price


def read_price(obj: object, path: str, errors: list[str]) -> Price | None:
    """Like parse_price, but appends problems to `errors` (the catalog collects them all)."""
    fields = Fields(obj, path, errors)
    if not fields.valid:
        return None
    start = len(errors)
    name = fields.raw("model")
    model_cls = None
    if name is ABSENT:
        fields.fail("model", f"required (one of: {', '.join(sorted(MODELS))})")
    elif not isinstance(name, str) or name not in MODELS:
        fields.fail("model", unknown_model_message(name), name)
    else:
        model_cls = MODELS[name]
    transform = _read_transform(fields)
    free_units = fields.decimal("free_units", minimum=ZERO)
    minimum = fields.decimal("minimum", **MONEY)
    maximum = fields.decimal("maximum", **MONEY)
    if minimum is not None and maximum is not None and maximum < minimum:
        fields.fail("maximum", f"must be at least minimum ({format_decimal(minimum)})", maximum)
    if model_cls is None:
        return None  # the model's own fields are unknown, so unknown-field checks would lie
    if model_cls.rates == "values":
        for common in ("transform", "free_units"):
            if fields.has(common):
                fields.fail(common, f"not used by {name} prices (they rate transaction values)")
    try:
        model = model_cls.parse(fields)
    except ArithmeticError:
        fields.fail("model", "numbers too large to rate exactly in 60 significant digits")
        model = None
    fields.finish()
    if model is None or len(errors) > start:
        return None
    return Price(model, transform, free_units, minimum, maximum)


def _read_transform(fields: Fields) -> Transform | None:
    raw = fields.raw("transform")
    if raw is ABSENT:
        return None
    sub = Fields(raw, fields.at("transform"), fields.errors)
    if not sub.valid:
        return None
    start = len(fields.errors)
    divide_by = sub.decimal("divide_by", required=True, above=ZERO)
    rounding = sub.text("round", choices=ROUNDS) or "none"
    if divide_by is not None and rounding == "none" and not terminates(divide_by):
        sub.fail(
            "divide_by",
            'does not divide exactly with round "none" (use a divisor made of factors'
            ' 2 and 5, like 1000 or 1024, or round "up" or "down")',
            divide_by,
        )
    sub.finish()
    if len(fields.errors) > start or divide_by is None:
        return None
    return Transform(divide_by, rounding)

