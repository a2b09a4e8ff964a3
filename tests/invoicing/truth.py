"""The expected invoices, computed from the events with the tests' own arithmetic
(not the pricing library): the prices of tests/invoicing/catalog written out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from tests.invoicing.support import Event

D = Decimal
CENT = D("0.01")
GB = D(1_000_000_000)


@dataclass(frozen=True)
class Usage:
    calls: int
    gb: Decimal
    payments: list[Decimal]


def usage(events: list[Event], tenant: str, start: datetime, end: datetime) -> Usage:
    mine = [e for e in events if e.tenant == tenant and start <= e.time < end]
    calls = [e for e in mine if e.type == "api_call"]
    pays = sorted((e for e in mine if e.type == "payment"), key=lambda e: (e.time, e.key))
    return Usage(
        calls=sum(1 for e in calls if e.status < 500),
        gb=D(sum(e.response_bytes for e in calls)) / GB,
        payments=[D(e.value or "0") for e in pays],
    )


def cents(x: Decimal) -> Decimal:
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def _volume(q: Decimal, tiers: list[tuple[Decimal | None, Decimal]]) -> Decimal:
    for up_to, unit in tiers:
        if up_to is None or q <= up_to:
            return q * unit
    raise AssertionError("last tier is open")


def lines(tenant: str, u: Usage) -> dict[str, Decimal]:
    """Exact amount of each charge for the tenant's plan."""
    calls = D(u.calls)
    if tenant in ("acme", "stark"):
        return {"api_calls": min(calls, D(10000)) * D("0.01") + max(calls - 10000, 0) * D("0.005"),
                "bandwidth": u.gb * D("0.09"), "platform_fee": D(49)}
    if tenant == "initech":
        return {"api_calls": _volume(calls, [(D(5000), D("0.008")), (D(20000), D("0.006")),
                                             (None, D("0.004"))]),
                "bandwidth": u.gb * D("0.09"), "platform_fee": D(499)}
    if tenant == "umbrella":
        return {"api_calls": D(math.ceil(u.calls / 1000)) * 5,
                "bandwidth": _volume(u.gb, [(D(1), D("0.10")), (D(10), D("0.08")),
                                            (None, D("0.06"))])}
    if tenant == "cyberdyne":
        return {"api_calls": min(D(25) + max(calls - 1000, 0) * D("0.004"), D(60))}
    if tenant == "globex":
        return {"api_calls": max(calls - 1000, 0) * D("0.01")}
    if tenant in ("hooli", "wayne"):
        fees = sum((v * D("0.029") + D("0.30") for v in u.payments), D(0))
        return {"payment_fees": max(fees, D(10))}
    raise AssertionError(tenant)


TAX = {"stark": D("8.875")}


def total(tenant: str, u: Usage) -> Decimal:
    subtotal = sum((cents(x) for x in lines(tenant, u).values()), D(0))
    return subtotal + cents(subtotal * TAX.get(tenant, D(0)) / 100)
