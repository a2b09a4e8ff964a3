"""Reading `customers/*.yaml`: who a tenant is, their plan, and what is theirs alone."""

from __future__ import annotations

import re
from decimal import Decimal
from zoneinfo import ZoneInfoNotFoundError

from aforo.catalog.metrics import KEY, KEY_HINT
from aforo.catalog.model import Customer, Known, Plan
from aforo.catalog.periods import zone
from aforo.catalog.plans import PLAN_KEY
from aforo.catalog.timefields import read_date
from aforo.pricing import Price, read_price
from aforo.pricing.fields import Fields, join, problem, read_decimal
from aforo.pricing.numbers import HUNDRED, ZERO, format_decimal

TENANT = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
EMAIL = r"[^@\s]+@[^@\s]+\.[^@\s]+"


def read_customer(obj: object, errors: list[str], known: Known | None = None) -> Customer | None:
    known = known or Known()
    fields = Fields(obj, "", errors)
    if not fields.valid:
        return None
    start = len(errors)
    tenant_id = fields.text(
        "tenant_id", required=True, pattern=TENANT, hint="letters, digits and _ . : -"
    )
    name = fields.text("name", required=True)
    email = fields.text("email", required=True, pattern=EMAIL, hint="an email address")
    address = fields.text("address") or ""
    plan = fields.text("plan", required=True, pattern=PLAN_KEY, hint="a plan key")
    if plan is not None and plan not in known.plan_keys:
        listed = ", ".join(sorted(known.plan_keys)) or "none"
        fields.fail("plan", f"no plan with this key (plans: {listed})", plan)
    overrides = _read_overrides(fields, known.plans.get(plan or ""))
    quotas = _read_amounts(fields, "quotas", known)
    caps = _read_amounts(fields, "caps", known)
    alerts = _read_alerts(fields, caps, known)
    timezone = fields.text("timezone") or "UTC"
    if fields.has("timezone"):
        try:
            zone(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            fields.fail("timezone", "not an IANA timezone (like UTC, America/New_York)", timezone)
    anchor_day = fields.integer("anchor_day", minimum=1, maximum=31)
    tax_rate = fields.decimal("tax_rate", minimum=ZERO, maximum=HUNDRED)
    billing_start = read_date(fields, "billing_start")
    api_keys = _read_credentials(fields, "api_keys")
    consumers = _read_credentials(fields, "gateway_consumers")
    fields.finish()
    if len(errors) > start or tenant_id is None or name is None or email is None or plan is None:
        return None
    return Customer(
        tenant_id, name, email, address, plan, overrides, quotas, caps, alerts, timezone,
        anchor_day, tax_rate if tax_rate is not None else ZERO, api_keys, consumers,
        billing_start,
    )


def _keys(
    fields: Fields, name: str, known: Known | None = None
) -> list[tuple[str, object, str]]:
    """(key, value, path) of a mapping keyed by charge keys, or by metric keys when
    `known` is given (then a key that names no metric is reported)."""
    out = []
    for key, value in fields.mapping(name).items():
        path = join(fields.at(name), str(key))
        if not isinstance(key, str) or not _is_key(key):
            problem(fields.errors, path, f"must be {KEY_HINT}", key)
            continue
        if known is not None and key not in known.metric_keys:
            problem(fields.errors, path, "no metric with this key", key)
            continue
        out.append((key, value, path))
    return out


def _is_key(text: str) -> bool:
    return re.fullmatch(KEY, text) is not None


def _read_overrides(fields: Fields, plan: Plan | None) -> dict[str, Price]:
    """Prices that replace a plan charge's for this customer, checked against the
    plan (when it validated): the charge must exist and be rated the same way."""
    out = {}
    charges = {c.key: c for v in plan.versions for c in v.charges} if plan else {}
    for key, value, path in _keys(fields, "overrides"):
        price = read_price(value, path, fields.errors)
        charge = charges.get(key)
        if plan is not None and charge is None:
            problem(fields.errors, path, f"plan {plan.key} has no charge with this key"
                    f" (charges: {', '.join(charges)})", key)
        elif price is None or charge is None:
            pass
        elif charge.metric is None and price.model_name != "flat":
            problem(fields.errors, f"{path}.model", f"the charge {key} has no metric, so its"
                    " price must be flat", price.model_name)
        elif price.model.rates != charge.price.model.rates:
            problem(fields.errors, f"{path}.model", f"must rate {charge.price.model.rates}"
                    f" like the plan's {charge.price.model_name} price", price.model_name)
        if price is not None:
            out[key] = price
    return out


def _read_amounts(fields: Fields, name: str, known: Known) -> dict[str, Decimal]:
    out = {}
    for key, value, path in _keys(fields, name, known):
        amount = read_decimal(value, path, fields.errors, minimum=ZERO)
        if amount is not None:
            out[key] = amount
    return out


def _read_alerts(
    fields: Fields, caps: dict[str, Decimal], known: Known
) -> dict[str, tuple[Decimal, ...]]:
    """`alerts: {metric: [threshold, ...]}`: ascending usage levels, none above the cap."""
    out = {}
    for key, value, path in _keys(fields, "alerts", known):
        if not isinstance(value, list) or not value:
            problem(fields.errors, path, "must be a non-empty list of thresholds", value)
            continue
        levels: list[Decimal] = []
        for index, raw in enumerate(value):
            at = join(path, index)
            level = read_decimal(raw, at, fields.errors, above=ZERO)
            if level is None:
                continue
            if levels and level <= levels[-1]:
                problem(fields.errors, at, f"must be greater than {format_decimal(levels[-1])}", level)
            elif key in caps and level > caps[key]:
                problem(
                    fields.errors, at,
                    f"must be at most caps.{key} ({format_decimal(caps[key])})", level,
                )
            levels.append(level)
        out[key] = tuple(levels)
    return out


def _read_credentials(fields: Fields, name: str) -> tuple[str, ...]:
    out = []
    for index, value in enumerate(fields.sequence(name)):
        if not isinstance(value, str) or not value.strip():
            problem(fields.errors, join(fields.at(name), index), "must be a non-empty string", value)
            continue
        out.append(value)
    return tuple(out)
