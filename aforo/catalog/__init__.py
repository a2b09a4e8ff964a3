"""The catalog: pricing as code, in YAML files under one folder.

    from aforo.catalog import load_catalog
    cat = load_catalog("catalog")
    cat.charges_for("acme", at)       # the tenant's charges, overrides applied
    cat.period_for("acme", at)        # its billing period [start, end)

`loader` reads and cross-checks the files, `catalog` answers the questions,
`model` holds the frozen values, `periods` the billing-period arithmetic.
"""

from __future__ import annotations

from aforo.catalog.catalog import Catalog
from aforo.catalog.errors import CatalogError
from aforo.catalog.loader import load_catalog
from aforo.catalog.model import (
    AGGREGATIONS,
    EVENT_FIELDS,
    OPS,
    Charge,
    Customer,
    Filter,
    Metric,
    MetricSource,
    Period,
    Plan,
    PlanVersion,
    ResolvedCharge,
)
from aforo.catalog.periods import period_containing

__all__ = [
    "AGGREGATIONS",
    "EVENT_FIELDS",
    "OPS",
    "Catalog",
    "CatalogError",
    "Charge",
    "Customer",
    "Filter",
    "Metric",
    "MetricSource",
    "Period",
    "Plan",
    "PlanVersion",
    "ResolvedCharge",
    "load_catalog",
    "period_containing",
]
