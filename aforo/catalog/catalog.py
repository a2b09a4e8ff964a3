"""The loaded catalog and the questions the pipeline asks it."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aforo.catalog.model import Customer, Metric, Period, Plan, PlanVersion, ResolvedCharge
from aforo.catalog.periods import as_utc, boundary, period_containing, zone
from aforo.pricing import Price

# Aggregations whose period quantity is not a sum of per-API hours: their hourly rows are the tenant's.
PER_TENANT_AGGREGATIONS = ("max", "latest", "unique_count")


@dataclass(frozen=True)
class Catalog:
    """Metrics, plans and customers, validated and cross-checked together.

    `revision` is a short sha256 over the files (names and bytes): the same
    files give the same revision, any change gives another.
    """

    root: Path
    revision: str
    metrics: dict[str, Metric]
    plans: dict[str, Plan]
    customers: dict[str, Customer]
    credentials: dict[str, str] = field(default_factory=dict)

    def plan_version_at(self, plan_key: str, at: datetime) -> PlanVersion:
        """The version of the plan in effect at `at` (the last one with
        effective_from <= at). LookupError for an unknown plan or an instant
        before its first version. A naive `at` is taken as UTC."""
        plan = self.plans.get(plan_key)
        if plan is None:
            raise LookupError(f"plan {plan_key!r} is not in the catalog")
        at = as_utc(at)
        index = bisect_right([v.effective_from for v in plan.versions], at)
        if index == 0:
            first = plan.versions[0].effective_from.isoformat()
            raise LookupError(f"plan {plan_key!r} has no version in effect at {at.isoformat()}"
                              f" (its first starts {first})")
        return plan.versions[index - 1]

    def plan_charges(
        self, plan_key: str, at: datetime, overrides: Mapping[str, Price] | None = None
    ) -> list[ResolvedCharge]:
        """The plan's charges at `at`, in plan order, with `overrides` applied by charge
        key. LookupError as for plan_version_at."""
        version = self.plan_version_at(plan_key, at)
        overrides = overrides or {}
        return [
            ResolvedCharge(
                charge.key, charge.name, charge.metric, overrides.get(charge.key, charge.price),
                plan_key, version.version, version.currency,
            )
            for charge in version.charges
        ]

    def value_metrics(self) -> frozenset[str]:
        """Metrics that some plan version prices per transaction (a `values` model such as
        percentage): their hours must carry each transaction. An override must rate the
        same way as the plan's price (validated at load), so plans alone decide."""
        return frozenset(
            charge.metric
            for plan in self.plans.values() for version in plan.versions for charge in version.charges
            if charge.metric and charge.price.model.rates == "values"
        )

    def per_tenant_metrics(self) -> frozenset[str]:
        """Metrics whose hourly rows are the tenant's (api ''), not one per API: those priced per
        transaction (rated in event-time order across the tenant's APIs), and those whose period
        quantity is not a sum of per-API hours (the peak, the latest value, the distinct values).
        The metering job streams them so and the close reconciles them so."""
        return self.value_metrics() | frozenset(
            key for key, metric in self.metrics.items() if metric.aggregation in PER_TENANT_AGGREGATIONS)

    def numeric_value_fields(self) -> frozenset[str]:
        """The event fields metrics take as quantities (the value fields of sum, max and latest
        metrics): the metering job dead-letters a whole event whose one of them is not a
        non-negative decimal of at most 26 digits before the point, so the collector refuses
        it at the door."""
        return frozenset(m.value_field for m in self.metrics.values()
                         if m.value_field and m.aggregation in ("sum", "max", "latest"))

    def charges_for(self, tenant_id: str, at: datetime) -> list[ResolvedCharge]:
        """The tenant's charges at `at`, in plan order, with their overrides applied.
        [] for an unknown tenant or before the plan's first version."""
        customer = self.customers.get(tenant_id)
        if customer is None:
            return []
        try:
            return self.plan_charges(customer.plan, at, customer.overrides)
        except LookupError:
            return []

    def period_charges(self, tenant_id: str, at: datetime) -> tuple[Period, list[ResolvedCharge]]:
        """The billing period holding `at`, and the charges that rate it ([] for an
        unknown tenant).

        One plan version rates a whole period: the one in force at the period's start
        (a price change applies from the next period on). The stream's rating, the
        close and the leakage report all judge by this rule."""
        period = self.period_for(tenant_id, at)
        return period, self.charges_for(tenant_id, period.start)

    def charge_for(self, tenant_id: str, metric: str, at: datetime) -> ResolvedCharge | None:
        """The charge that rates this tenant's metric at `at` (period_charges), or None."""
        return next((c for c in self.period_charges(tenant_id, at)[1] if c.metric == metric), None)

    def period_for(self, tenant_id: str, at: datetime) -> Period:
        """The billing period holding `at` for this tenant: their timezone, and their
        anchor day, else their plan's, else 1. An unknown tenant gets the calendar
        month in UTC."""
        customer = self.customers.get(tenant_id)
        if customer is None:
            return period_containing(at)
        anchor = customer.anchor_day
        if anchor is None:
            try:
                anchor = self.plan_version_at(customer.plan, at).period_anchor_day
            except LookupError:
                anchor = 1
        return period_containing(at, customer.timezone, anchor)

    def billing_from(self, tenant_id: str) -> datetime | None:
        """The start of the tenant's first billed period: the one holding its
        `billing_start`, a date taken at local midnight in the customer's timezone, as
        period boundaries are. Usage before it is never invoiced (`aforo leakage` lists
        it). None without billing_start (or for an unknown tenant)."""
        customer = self.customers.get(tenant_id)
        if customer is None or customer.billing_start is None:
            return None
        day = customer.billing_start
        midnight = boundary(day.year, day.month, zone(customer.timezone), day.day)
        return self.period_for(tenant_id, midnight).start

    def tenant_for_credential(self, credential: str) -> str | None:
        """The tenant an API key or gateway consumer id belongs to, or None."""
        return self.credentials.get(credential)
