"""Rating: the entry points, and the one place the order of the steps is declared.

A whole-period rating applies, in this order (docs/pricing.md's order):

1. `transform`   raw quantity -> billing units (bytes -> GB)
2. `free_units`  subtracted, never below 0 (a `free-units` line shows them)
3. the model     prices what is left (its lines)
4. `minimum`     amount = max(amount, minimum)  (a `minimum-adjustment` line)
5. `maximum`     amount = min(amount, maximum)  (a `maximum-adjustment` line)

The amount is always the sum of the lines, built first. `percentage` prices skip
steps 1 and 2: they rate the ordered transaction values, not a quantity.

Each entry point swaps the thread's decimal context for `CONTEXT` (60 digits,
`Inexact` trapped) and puts the caller's back, so rating is exact whatever the
caller's context; `setcontext` does not copy, which keeps the hot path cheap.

Streaming uses F, steps 1 to 3 only: an hour with `quantity` after `before`
costs F(before + quantity) - F(before), so the hours of a period add up to
F(total) - F(0) exactly; the close adds F(0), minimum and maximum.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import Decimal, getcontext, setcontext

from aforo.pricing.breakdown import BreakdownLine, Rating, line_sum
from aforo.pricing.errors import PriceError
from aforo.pricing.models.base import QuantityModel, ValuesModel
from aforo.pricing.numbers import (
    CONTEXT,
    ONE,
    ZERO,
    NotADecimal,
    format_grouped,
    in_range,
    show,
    to_decimal,
)
from aforo.pricing.price import Price

_TOO_LONG = "cannot be rated exactly in 60 significant digits"


def rate(price: Price, quantity: object) -> Rating:
    """Rate a whole period's raw quantity: every step, every line, exact."""
    model = _quantity_model(price)
    raw = as_quantity(quantity)
    caller = getcontext()
    setcontext(CONTEXT)
    try:
        lines: list[BreakdownLine] = []
        units = raw if price.transform is None else price.transform.apply(raw)  # 1
        free = price.free_units
        if free is not None:  # 2
            used = min(free, units)
            lines.append(BreakdownLine(
                "free-units",
                f"Free units: {format_grouped(used)} of {format_grouped(free)} per period",
                used, ZERO, ZERO,
            ))
            units -= used
        lines.extend(model.lines(units))  # 3
        return _bounded(price, lines)  # 4, 5
    except decimal.DecimalException:
        raise PriceError(f"quantity: {_TOO_LONG} (got {raw})") from None
    finally:
        setcontext(caller)


def rate_values(price: Price, values: Iterable[object]) -> Rating:
    """Rate a period's ordered transaction values with a `percentage` price."""
    model = _values_model(price)
    numbers = [as_quantity(v, f"values[{i}]") for i, v in enumerate(values)]
    caller = getcontext()
    setcontext(CONTEXT)
    try:
        return _bounded(price, model.lines(numbers))  # 3, 4, 5
    except decimal.DecimalException:
        raise PriceError(f"values: {_TOO_LONG}") from None
    finally:
        setcontext(caller)


def rate_increment(price: Price, before: object, quantity: object) -> Decimal:
    """F(before + quantity) - F(before): the charge of `quantity` raw units after
    `before` raw units already in the period. Negative only for `volume`."""
    start = as_quantity(before, "before")
    added = as_quantity(quantity)
    got = f"got {added} after {start}"
    try:
        end = CONTEXT.add(start, added)  # not the caller's context: it may round the sum
    except decimal.DecimalException:
        raise PriceError(f"quantity: {_TOO_LONG} ({got})") from None
    return _change(price, start, end, got)


def rate_change(price: Price, before: object, after: object) -> Decimal:
    """F(after) - F(before): the hour's charge when the period-to-date quantity moves
    from `before` to `after`. Unlike a sum, a `latest` quantity may fall (then the
    charge is negative: the period's amount falls with it)."""
    start = as_quantity(before, "before")
    end = as_quantity(after, "after")
    return _change(price, start, end, f"got {end} after {start}")


def _change(price: Price, start: Decimal, end: Decimal, got: str) -> Decimal:
    model: QuantityModel = price.model  # type: ignore[assignment]  # checked just below
    if model.rates != "quantity":
        raise _wrong_model(price, "rate_values_increment")
    caller = getcontext()
    setcontext(CONTEXT)
    try:
        if price.transform is None and price.free_units is None:
            return model.amount(end) - model.amount(start)
        return model.amount(price.billing_units(end)) - model.amount(price.billing_units(start))
    except decimal.DecimalException:
        raise PriceError(f"quantity: {_TOO_LONG} ({got})") from None
    finally:
        setcontext(caller)


def rate_values_increment(
    price: Price, count_before: int, value_before: object, values: Iterable[object]
) -> Decimal:
    """The fees of `values` after `count_before` transactions worth `value_before`
    in the period (the streaming form of `percentage`, before minimum/maximum)."""
    model = _values_model(price)
    if isinstance(count_before, bool) or not isinstance(count_before, int) or count_before < 0:
        raise PriceError(f"count_before: must be a whole number, not negative (got {count_before!r})")
    prior = as_quantity(value_before, "value_before")
    numbers = [as_quantity(v, f"values[{i}]") for i, v in enumerate(values)]
    caller = getcontext()
    setcontext(CONTEXT)
    try:
        return model.amount(numbers, count_before, prior)
    except decimal.DecimalException:
        raise PriceError(f"values: {_TOO_LONG}") from None
    finally:
        setcontext(caller)


def as_quantity(value: object, name: str = "quantity") -> Decimal:
    """A quantity read exactly; PriceError if it is not a number or is negative."""
    if type(value) is not Decimal or not value.is_finite() or not in_range(value):
        try:
            value = to_decimal(value)
        except NotADecimal as exc:
            raise PriceError(f"{name}: {exc} (got {show(value)})") from None
    if value < ZERO:
        raise PriceError(f"{name}: must not be negative (got {value})")
    return value


def _bounded(price: Price, lines: list[BreakdownLine]) -> Rating:
    """Steps 4 and 5, then the amount: the sum of the lines."""
    amount = line_sum(lines)
    low, high = price.minimum, price.maximum
    if low is not None and amount < low:
        lines.append(BreakdownLine(
            "minimum-adjustment", f"Raised to the minimum of {format_grouped(low)}",
            ONE, low - amount, low - amount,
        ))
        amount = line_sum(lines)
    if high is not None and amount > high:
        lines.append(BreakdownLine(
            "maximum-adjustment", f"Capped at the maximum of {format_grouped(high)}",
            ONE, high - amount, high - amount,
        ))
        amount = line_sum(lines)
    return Rating(amount, tuple(lines))


def _quantity_model(price: Price) -> QuantityModel:
    if type(price) is not Price or price.model.rates != "quantity":
        raise _wrong_model(price, "rate_values")
    return price.model  # type: ignore[return-value]  # rates == "quantity"


def _values_model(price: Price) -> ValuesModel:
    if type(price) is not Price or price.model.rates != "values":
        raise _wrong_model(price, "rate")
    return price.model  # type: ignore[return-value]  # rates == "values"


def _wrong_model(price: object, use: str) -> PriceError:
    if not isinstance(price, Price):
        return PriceError(f"price: must be a Price from parse_price (got {type(price).__name__})")
    if price.model.rates == "values":
        return PriceError(
            f"price.model: {price.model_name} prices rate transaction values, not a quantity;"
            f" use {use}"
        )
    return PriceError(
        f"price.model: {price.model_name} prices rate a quantity, not transaction values;"
        f" use {use}"
    )
