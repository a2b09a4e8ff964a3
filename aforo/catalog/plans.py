"""Reading `plans/*.yaml`: a plan and its versions, each a full set of charges."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.numbers import is_currency

from aforo.catalog.metrics import KEY, KEY_HINT
from aforo.catalog.model import Charge, Known, Plan, PlanVersion
from aforo.catalog.timefields import read_instant
from aforo.pricing import Price, read_price
from aforo.pricing.fields import ABSENT, Fields, join, problem

PLAN_KEY = r"[a-z][a-z0-9_-]{0,62}"
INTERVALS = ("monthly",)


def read_currency(fields: Fields, name: str = "currency") -> str | None:
    code = fields.text(name)
    if code is not None and not is_currency(code):
        fields.fail(name, "not an ISO 4217 currency code (like USD, EUR, JPY)", code)
        return None
    return code


def read_billing_period(fields: Fields) -> int | None:
    """`billing_period: {interval: monthly, anchor_day: 1..31}`; the anchor day, if given."""
    raw = fields.raw("billing_period")
    if raw is ABSENT:
        return None
    period = Fields(raw, fields.at("billing_period"), fields.errors)
    period.text("interval", choices=INTERVALS)
    anchor = period.integer("anchor_day", minimum=1, maximum=31)
    period.finish()
    return anchor


def read_plan(obj: object, errors: list[str], known: Known | None = None) -> Plan | None:
    known = known or Known()
    fields = Fields(obj, "", errors)
    if not fields.valid:
        return None
    start = len(errors)
    key = fields.text("key", required=True, pattern=PLAN_KEY, hint="a lowercase name like growth")
    name = fields.text("name") or key or ""
    fields.text("description")
    currency = read_currency(fields)
    anchor = read_billing_period(fields) or 1
    items = fields.sequence("versions", required=True)
    if fields.has("versions") and not items and isinstance(fields.raw("versions"), list):
        fields.fail("versions", "must hold at least one version")
    versions: list[PlanVersion] = []
    previous: tuple[int, datetime] | None = None
    for index, item in enumerate(items):
        head, version = _read_version(
            item, join("versions", index), errors, index, currency, anchor, known
        )
        if head is None:  # its version or effective_from is itself wrong
            previous = None
            continue
        number, effective_from = head
        if previous is not None:
            path = join("versions", index)
            if number <= previous[0]:
                errors.append(
                    f"{path}.version: must be greater than versions[{index - 1}].version"
                    f" ({previous[0]}) (got {number})"
                )
            if effective_from <= previous[1]:
                errors.append(
                    f"{path}.effective_from: must be later than versions[{index - 1}]"
                    f".effective_from ({previous[1].isoformat()})"
                    f" (got {effective_from.isoformat()})"
                )
        previous = head
        if version is not None:
            versions.append(version)
    fields.finish()
    if len(errors) > start or key is None:
        return None
    return Plan(key, name, tuple(versions))


def _read_version(
    obj: object, path: str, errors: list[str], index: int, currency: str | None, anchor: int,
    known: Known,
) -> tuple[tuple[int, datetime] | None, PlanVersion | None]:
    """(its version and effective_from, which the order checks need, if they read without
    errors; the version, if nothing in it is wrong)."""
    fields = Fields(obj, path, errors)
    if not fields.valid:
        return None, None
    start = len(errors)
    number = fields.integer("version", minimum=1, maximum=1_000_000) or index + 1
    effective_from = read_instant(fields, "effective_from", required=True)
    head = (number, effective_from) if len(errors) == start and effective_from is not None else None
    own_currency = read_currency(fields) or currency
    if own_currency is None and not fields.has("currency"):
        fields.fail("currency", "required (here or at the top of the plan)")
    own_anchor = read_billing_period(fields)
    if own_anchor is not None and own_anchor != anchor:
        # the period holding an instant comes from the version in force then: periods
        # anchored on the 1st up to a version anchored on the 15th would overlap
        problem(errors, join(fields.at("billing_period"), "anchor_day"),
                f"must be the plan's anchor day ({anchor}): a version cannot move the"
                " period boundary", own_anchor)
    charges: list[Charge] = []
    seen: dict[str, int] = {}
    items = fields.sequence("charges", required=True)
    if fields.has("charges") and not items and isinstance(fields.raw("charges"), list):
        fields.fail("charges", "must hold at least one charge")
    for number_, item in enumerate(items):
        charge = _read_charge(item, join(fields.at("charges"), number_), errors, known)
        if charge is None:
            continue
        if charge.key in seen:
            errors.append(
                f"{fields.at('charges')}[{number_}].key: duplicate charge key, also"
                f" charges[{seen[charge.key]}] (got {charge.key!r})"
            )
        seen.setdefault(charge.key, number_)
        charges.append(charge)
    fields.finish()
    if len(errors) > start or effective_from is None or own_currency is None:
        return head, None
    return head, PlanVersion(number, effective_from, own_currency, anchor, tuple(charges))


def _read_charge(obj: object, path: str, errors: list[str], known: Known) -> Charge | None:
    fields = Fields(obj, path, errors)
    if not fields.valid:
        return None
    start = len(errors)
    key = fields.text("key", required=True, pattern=KEY, hint=KEY_HINT)
    name = fields.text("name") or key or ""
    metric = fields.text("metric", pattern=KEY, hint=KEY_HINT)
    raw: Any = fields.raw("price", required=True)
    price = None if raw is ABSENT else read_price(raw, fields.at("price"), errors)
    if price is not None and metric is None and price.model_name != "flat":
        fields.fail("metric", f"required for a {price.model_name} price (only flat prices need none)")
    if metric is not None:
        _check_metric(fields, metric, price, known)
    fields.finish()
    if len(errors) > start or key is None or price is None:
        return None
    return Charge(key, name, metric, price)


def _check_metric(fields: Fields, key: str, price: Price | None, known: Known) -> None:
    if key not in known.metric_keys:
        listed = ", ".join(sorted(known.metric_keys)) or "none"
        fields.fail("metric", f"no metric with this key (metrics: {listed})", key)
        return
    metric = known.metrics.get(key)
    if metric is not None and price is not None and price.model.rates == "values" \
            and metric.aggregation != "sum":
        fields.fail(
            "metric",
            f"a {price.model_name} price rates transaction values, so its metric must sum"
            f" a value field ({key} is {metric.aggregation})",
            key,
        )
