"""Rating UDFs: the hour's charge F(ptd) - F(ptd before) with the pricing library.

The catalog is loaded by the job and pickled into the UDF, so a remote
TaskManager rates with exactly the catalog revision the job was started with.
Prices per transaction (percentage) are rated on the hour's transactions in
event-time order (ties by idempotency key, as the period close orders them),
after the period's earlier on-time transactions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import ScalarFunction, udf

from aforo.catalog import Catalog
from aforo.catalog.model import ResolvedCharge
from aforo.catalog.periods import as_utc, period_containing
from aforo.pricing import rate_change, rate_values_increment
from aforo.pricing.numbers import fits_decimal
from aforo.tables import AMOUNT

CONTEXT_TYPE = DataTypes.ROW([
    DataTypes.FIELD("period_start", DataTypes.TIMESTAMP(3)),
    DataTypes.FIELD("period_end", DataTypes.TIMESTAMP(3)),
    DataTypes.FIELD("charge_key", DataTypes.STRING()),
    DataTypes.FIELD("plan_key", DataTypes.STRING()),
    DataTypes.FIELD("plan_version", DataTypes.INT()),
    DataTypes.FIELD("currency", DataTypes.STRING()),
    DataTypes.FIELD("price_model", DataTypes.STRING()),
    DataTypes.FIELD("catalog_revision", DataTypes.STRING()),
    DataTypes.FIELD("billed", DataTypes.BOOLEAN()),
    DataTypes.FIELD("aggregation", DataTypes.STRING()),
])


def _naive(aware: datetime) -> datetime:
    return aware.astimezone(UTC).replace(tzinfo=None)


class _CatalogFunction(ScalarFunction):
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def open(self, function_context) -> None:  # type: ignore[no-untyped-def]
        self._charge = lru_cache(maxsize=65536)(self._find_charge)

    def _find_charge(self, tenant: str, metric: str, window_start: datetime) -> ResolvedCharge | None:
        return self.catalog.charge_for(tenant, metric, as_utc(window_start))


class BillingContext(_CatalogFunction):
    """The billing period, the charge (plan version in force at the window start) and
    the metric's aggregation (it decides what period-to-date means)."""

    def eval(self, tenant: str, metric: str, window_start: datetime):  # type: ignore[no-untyped-def]
        from pyflink.common import Row

        at = as_utc(window_start)
        if tenant in self.catalog.customers:
            period = self.catalog.period_for(tenant, at)
        else:
            period = period_containing(at)
        charge = self._charge(tenant, metric, window_start)
        aggregation = self.catalog.metrics[metric].aggregation
        if charge is None:
            return Row(_naive(period.start), _naive(period.end), "", "", 0, "", "",
                       self.catalog.revision, False, aggregation)
        return Row(_naive(period.start), _naive(period.end), charge.charge_key, charge.plan_key,
                   charge.plan_version, charge.currency, charge.price.model_name,
                   self.catalog.revision, True, aggregation)


class RateWindow(_CatalogFunction):
    """The hour's exact charge (text): F(after) - F(before) of the period-to-date
    quantity, or the fees of its `transactions` after `count_before` worth `before`.

    None (a line item without an amount, which `aforo leakage` lists) when the period's
    running total overflowed DECIMAL(38, 12) (Flink's sum is then NULL) or the charge
    does not fit the amount's DECIMAL(38, 18): a bogus huge quantity must not fail the
    job, which would restart into the same failure and stop billing everyone.
    """

    def eval(self, tenant: str, metric: str, window_start: datetime,  # type: ignore[no-untyped-def]
             before: Decimal, after: Decimal, count_before: int, transactions) -> str | None:
        charge = self._charge(tenant, metric, window_start)
        if charge is None:
            return "0"
        if before is None or after is None:
            return None
        if charge.price.model.rates == "values":
            ordered = sorted(transactions or (), key=lambda t: (t[0], t[1]))
            amount = rate_values_increment(charge.price, count_before, before, [t[2] for t in ordered])
        else:
            amount = rate_change(charge.price, before, after)
        return str(amount) if fits_decimal(amount, AMOUNT.precision, AMOUNT.scale) else None


# The job's rating functions: SQL name -> (function, result type).
_FUNCTIONS = {
    "billing_context": (BillingContext, CONTEXT_TYPE),
    "rate_window": (RateWindow, DataTypes.STRING()),
}


def rating_functions(catalog: Catalog) -> dict[str, Any]:
    """The rating UDFs by SQL name, each holding `catalog`."""
    return {name: udf(cls(catalog), result_type=result) for name, (cls, result) in _FUNCTIONS.items()}


def rating_result_types() -> dict[str, str]:
    """What the job's SQL sees of the functions (part of its compiled plan's key)."""
    return {name: repr(result) for name, (_, result) in _FUNCTIONS.items()}
