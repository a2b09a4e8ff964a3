"""Reconciliation: the streamed line items against the close's own rating, and
the line items' quantities against the event archive.

The streamed amounts of a charge add up to F(q) - F(0), q being what streaming
saw; what only the close knows (F(0), flat prices, minimum and maximum, late
usage) is the expected difference, so it is left out of the comparison, not
"explained away". Anything else that differs is a defect: reported line by line
in the close run and the CLI output, never corrected silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from aforo.catalog import Period
from aforo.pricing import format_decimal
from aforo.pricing.numbers import CONTEXT
from invoicing.build import RatedCharge
from invoicing.usage import Unbilled, Usage

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One difference. `kind`: streamed-amount, quantity, duplicate-window, plan,
    currency, period, no-charge, unknown-tenant, beyond-lookback (late usage of a final
    invoice too old to be corrected)."""

    kind: str
    tenant_id: str
    period_start: datetime | None
    subject: str
    expected: Decimal | None
    actual: Decimal | None
    detail: str
    api: str | None = None
    window_start: datetime | None = None

    @property
    def difference(self) -> Decimal | None:
        if self.expected is None or self.actual is None:
            return None
        with localcontext(CONTEXT):
            return self.actual - self.expected

    def row(self, run_id: int, seq: int) -> dict[str, object]:
        def text(value: Decimal | None) -> str | None:
            return None if value is None else format_decimal(value)

        return {
            "run_id": run_id, "seq": seq, "kind": self.kind, "tenant_id": self.tenant_id,
            "period_start": self.period_start, "subject": self.subject, "api": self.api,
            "window_start": self.window_start, "expected": text(self.expected),
            "actual": text(self.actual), "difference": text(self.difference),
            "detail": self.detail,
        }


def reconcile(tenant_id: str, period: Period, rated: list[RatedCharge],
              usage: Usage) -> list[Discrepancy]:
    out: list[Discrepancy] = []
    streamed = usage.streamed.get((tenant_id, period.start), [])
    matched = set()
    for rc in rated:
        charge = rc.charge
        if rc.streamed_expected is None:
            continue
        rows = [s for s in streamed if s.charge_key == charge.charge_key and s.metric == charge.metric]
        matched.update((s.metric, s.charge_key) for s in rows)
        with localcontext(CONTEXT):
            actual = sum((s.amount for s in rows), ZERO)
        if actual != rc.streamed_expected:
            out.append(Discrepancy(
                "streamed-amount", tenant_id, period.start, charge.charge_key,
                rc.streamed_expected, actual,
                f"line items of {charge.charge_key} sum to {format_decimal(actual)};"
                f" the close's F(q) - F(0) is {format_decimal(rc.streamed_expected)}"
                f" (q = {format_decimal(rc.quantity - rc.late_quantity)} streamed)",
            ))
        for s in rows:
            if s.plan_keys != (charge.plan_key,) or s.plan_versions != (charge.plan_version,):
                seen = ", ".join(f"{k} v{v}" for k in s.plan_keys for v in s.plan_versions)
                out.append(Discrepancy(
                    "plan", tenant_id, period.start, charge.charge_key, None, None,
                    f"line items rated with {seen}; the plan in force at the period start"
                    f" is {charge.plan_key} v{charge.plan_version}",
                ))
            if s.currencies != (charge.currency,):
                out.append(Discrepancy(
                    "currency", tenant_id, period.start, charge.charge_key, None, None,
                    f"line items in {', '.join(s.currencies)}; the plan bills in {charge.currency}",
                ))
            if s.misfiled:
                out.append(Discrepancy(
                    "period", tenant_id, period.start, charge.charge_key, None, None,
                    f"{s.misfiled} line items carry another period than"
                    f" {period.start.isoformat()} .. {period.end.isoformat()}",
                ))
    for s in streamed:
        if (s.metric, s.charge_key) in matched or not s.billed or not s.amount:
            continue
        out.append(Discrepancy(
            "no-charge", tenant_id, period.start, s.charge_key or s.metric, ZERO, s.amount,
            f"{s.line_items} line items of metric {s.metric} charged {format_decimal(s.amount)}"
            f" to charge {s.charge_key!r}, which the plan in force does not have",
        ))
    diffs = [w for w in usage.window_diffs
             if w.tenant_id == tenant_id and w.period_start == period.start]
    for tenant, start, metric in sorted(usage.suspects):
        if tenant != tenant_id or start != period.start or any(w.metric == metric for w in diffs):
            continue
        mu = usage.metric(tenant, start, metric)
        out.append(Discrepancy(
            "quantity", tenant_id, period.start, metric, mu.archive_total,
            mu.streamed_total + mu.late_total,
            f"line items + late events and the archive put the usage in different hours"
            f" (hourly fingerprints {format_decimal(mu.streamed_fingerprint + mu.late_fingerprint)}"
            f" and {format_decimal(mu.archive_fingerprint)})",
        ))
    for w in diffs:
        with localcontext(CONTEXT):
            combined = (w.streamed or ZERO) + (w.late or ZERO) if w.aggregation != "max" \
                else max(q for q in (w.streamed, w.late, ZERO) if q is not None)
        kind = "duplicate-window" if w.rows > 1 else "quantity"
        out.append(Discrepancy(
            kind, tenant_id, period.start, w.metric, w.archive or ZERO, combined,
            f"hour {w.window_start:%Y-%m-%d %H:00}Z api {w.api or '-'}:"
            f" line items {_show(w.streamed)} ({w.rows} rows) + late {_show(w.late)},"
            f" archive {_show(w.archive)}",
            api=w.api, window_start=w.window_start,
        ))
    return out


def unknown_tenants(rows: list[Unbilled]) -> list[Discrepancy]:
    return [
        Discrepancy("unknown-tenant", u.tenant_id, None, u.metric, ZERO, u.quantity,
                    f"{u.line_items} line items ({format_decimal(u.quantity)} {u.metric}) of a"
                    " tenant the catalog does not know: usage nobody is billed for")
        for u in rows
    ]


def _show(value: Decimal | None) -> str:
    return "-" if value is None else format_decimal(value)
