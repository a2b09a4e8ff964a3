"""The period close: rate every customer's period as a whole, reconcile it with
what streaming charged, and keep a draft invoice up to date until it is final.

    close_period(settings, "2026-11")                  # drafts (late events still join)
    close_period(settings, "2026-11", finalize=True)   # final: numbered, immutable
    close_due(settings)                                # every period whose grace has passed

One close runs at a time (the billing database's lock). Everything it writes
(drafts, numbers, finalization, the run record) is one transaction: a close
that fails writes no invoice and takes no number. Running it again with the
same inputs changes nothing; a final invoice is never rewritten, and usage that
arrives later is billed as an adjustment on the next invoice (or a credit note).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path

from aforo.catalog import Catalog, Customer, Period, ResolvedCharge, load_catalog
from aforo.pricing.numbers import CONTEXT
from aforo.settings import Settings
from invoicing import inputs
from invoicing.adjustments import late_adjustments, net
from invoicing.build import (
    Header,
    adjustment_invoice_id,
    charge_line,
    credit_note_id,
    invoice_id,
    make_document,
    rate_period,
)
from invoicing.config import InvoicingConfig, load_invoicing_config
from invoicing.documents import CREDIT_NOTE, DRAFT, FINAL, INVOICE, Invoice, InvoiceLine
from invoicing.errors import InvoicingError, PeriodError, TenantError
from invoicing.periods import PeriodLabel, customer_period, label_of
from invoicing.reconcile import Discrepancy, reconcile, unknown_tenants
from invoicing.store import BillingStore
from invoicing.usage import Scope, Usage, collect_usage

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the close did with one document."""

    tenant_id: str
    invoice_id: str | None
    kind: str
    status: str  # draft | final
    action: str  # created | updated | unchanged | finalized | final (already) | deleted
    period: Period | None = None
    number: str | None = None
    currency: str | None = None
    total: Decimal | None = None
    streamed: Decimal | None = None  # what the line items charged
    note: str = ""


@dataclass(frozen=True)
class CloseResult:
    run_id: int
    label: str
    tenant: str | None
    finalize: bool
    catalog_revision: str
    outcomes: tuple[Outcome, ...]
    discrepancies: tuple[Discrepancy, ...]
    notes: tuple[str, ...] = ()

    def count(self, action: str) -> int:
        return sum(1 for o in self.outcomes if o.action == action)


@dataclass
class _Tenant:
    tenant_id: str
    period: Period
    charges: list[ResolvedCharge]
    finalize: bool


@dataclass
class _Work:
    """What one close computes before it writes anything."""

    drafts: list[Invoice] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    to_finalize: list[Invoice] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    discrepancies: list[Discrepancy] = field(default_factory=list)
    checks_now: dict[str, str] = field(default_factory=dict)  # recorded whatever happens
    checks_on_final: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (doc, fp)
    notes: list[str] = field(default_factory=list)


def close_period(settings: Settings, period: str, *, tenant: str | None = None,
                 finalize: bool = False, now: datetime | None = None,
                 config: InvoicingConfig | None = None, allow_empty: bool = False,
                 catalog: Catalog | None = None) -> CloseResult:
    """Close `period` (YYYY-MM: each customer's period starting on that month's anchor
    day) for every customer or one `tenant`: drafts, or final invoices with
    `finalize` (only for periods that have ended). Raises InvoicingError (nothing
    written) for a bad period, a missing table or an unknown tenant; CatalogError
    for a catalog that does not load."""
    config = config or load_invoicing_config()
    catalog = catalog or load_catalog(settings.catalog_dir)
    label = PeriodLabel.parse(period)
    now = _utc_now(now)
    if tenant is not None and tenant not in catalog.customers:
        raise TenantError(f"tenant {tenant!r} is not in the catalog ({catalog.root})")
    tenants = [tenant] if tenant else sorted(catalog.customers)
    plan, notes, unbillable = _plan(catalog, label, tenants, now,
                                    lambda p: finalize and p.end <= now)
    if not plan:
        with BillingStore.open(settings, write=False, timeout_s=config.lock_timeout_s) as store:
            orphans = _orphan_drafts(store, catalog, label, unbillable, tenant)
        if not orphans:
            raise PeriodError(f"period {label}: " + "; ".join(notes))
    if finalize and plan and not any(t.finalize for t in plan):
        ends = min(t.period.end for t in plan)
        raise PeriodError(f"period {label} cannot be finalized before it ends"
                          f" (the earliest of its periods ends {ends:%Y-%m-%d %H:%M}Z)")
    for t in plan:
        if finalize and not t.finalize:
            notes.append(f"{t.tenant_id}: period ends {t.period.end:%Y-%m-%d %H:%M}Z,"
                         " left as a draft")
    return _run(settings, config, catalog, label, plan, now, tenant=tenant, finalize=finalize,
                allow_empty=allow_empty, notes=notes, unbillable=unbillable)


def close_due(settings: Settings, *, now: datetime | None = None,
              config: InvoicingConfig | None = None) -> list[CloseResult]:
    """What a scheduled run does (safe every hour): for every period that has ended
    and is not final, refresh its drafts, and finalize those whose grace has passed."""
    config = config or load_invoicing_config()
    catalog = load_catalog(settings.catalog_dir)
    now = _utc_now(now)
    grace = timedelta(hours=config.grace_hours)
    first = _first_label(settings, catalog)
    if first is None:
        return []
    results = []
    label, last = first, PeriodLabel.of(now)
    while label <= last:
        with BillingStore.open(settings, write=False, timeout_s=config.lock_timeout_s) as store:
            final = {d.tenant_id for d in store.documents(label=str(label), status=FINAL,
                                                            lines=False)
                     if _own_invoice(d) and d.period_label == str(label)}
            open_tenants = [t for t in sorted(catalog.customers) if t not in final]
            plan, _, unbillable = _plan(catalog, label, open_tenants, now,
                                        lambda p: p.end + grace <= now)
            orphans = _orphan_drafts(store, catalog, label, unbillable, None)
        plan = [t for t in plan if t.period.end <= now]
        if plan or orphans:
            results.append(_run(settings, config, catalog, label, plan, now, tenant=None,
                                finalize=any(t.finalize for t in plan), allow_empty=True,
                                notes=[], unbillable=unbillable))
        label = label.shift(1)
    return results


def _utc_now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _first_label(settings: Settings, catalog: Catalog) -> PeriodLabel | None:
    """The label of the earliest period with line items: where scheduled closes start.
    Partitions are named by the period's start in UTC (Delhi's October starts on
    30 September 18:00Z), so the label is each tenant's local month of it, read from
    the partitions of the earliest month and the next."""
    folder = settings.data_dir / "line_items"
    if not folder.is_dir():
        return None
    values = sorted({p.parent.name.split("=", 1)[1]
                     for p in folder.glob("period=*/part-*") if p.is_file()})
    if not values:
        return None
    earliest = PeriodLabel.parse(values[0][:7])
    first = [v for v in values if PeriodLabel.parse(v[:7]) <= earliest.shift(1)]
    labels = [label_of(catalog, tenant_id, catalog.period_for(tenant_id, start))
              for tenant_id, start in inputs.period_starts(folder, first)
              if tenant_id in catalog.customers]
    return min(labels, default=earliest)


def _plan(catalog: Catalog, label: PeriodLabel, tenants: list[str], now: datetime,
          finalizes: Callable[[Period], bool]
          ) -> tuple[list[_Tenant], list[str], dict[str, str]]:
    """The tenants to close; notes on the rest: no plan in force, a period that ends
    on or before their billing_start (never invoiced: leakage lists its usage), or a
    period that has not started; and, of those, the ones never invoiced for this
    period, with the reason (their drafts from an earlier catalog go)."""
    plan, skipped_no_plan, skipped_unstarted, skipped_future = [], [], [], []
    for tenant_id in tenants:
        period = customer_period(catalog, tenant_id, label)
        charges = catalog.charges_for(tenant_id, period.start)
        billed_from = catalog.billing_from(tenant_id)
        if not charges:
            skipped_no_plan.append(tenant_id)
        elif billed_from is not None and period.end <= billed_from:
            skipped_unstarted.append(tenant_id)
        elif period.start > now:
            skipped_future.append(tenant_id)
        else:
            plan.append(_Tenant(tenant_id, period, charges, finalizes(period)))
    notes = []
    if skipped_no_plan:
        notes.append(f"no plan in force for {', '.join(skipped_no_plan)}")
    if skipped_unstarted:
        notes.append("before billing start for " + ", ".join(
            f"{t} (billing_start {catalog.customers[t].billing_start})" for t in skipped_unstarted))
    if skipped_future:
        notes.append(f"not started yet (now {now:%Y-%m-%d %H:%M}Z) for {', '.join(skipped_future)}")
    unbillable = dict.fromkeys(skipped_no_plan, "no plan in force")
    unbillable.update(dict.fromkeys(skipped_unstarted, "before billing start"))
    return plan, notes, unbillable


def _orphan_drafts(store: BillingStore, catalog: Catalog, label: PeriodLabel,
                   unbillable: dict[str, str], tenant: str | None) -> list[tuple[Invoice, str]]:
    """Drafts this close made earlier for customers it no longer invoices (the
    catalog gave them a later billing_start, took their plan away or, for a close of
    every customer, removed them), with the reason: a draft nobody finalizes would
    stay in the lists forever."""
    orphans = []
    for d in store.documents(label=str(label), tenant=tenant, lines=False):
        if d.is_final or d.close_label != str(label):
            continue
        why = unbillable.get(d.tenant_id)
        if why is None and tenant is None and d.tenant_id not in catalog.customers:
            why = "not in the catalog"
        if why is not None:
            orphans.append((d, why))
    return orphans


def _run(settings: Settings, config: InvoicingConfig, catalog: Catalog, label: PeriodLabel,
         plan: list[_Tenant], now: datetime, *, tenant: str | None, finalize: bool,
         allow_empty: bool, notes: list[str], unbillable: dict[str, str]) -> CloseResult:
    with BillingStore.open(settings, write=True, timeout_s=config.lock_timeout_s) as store:
        run_id = store.next_run_id()
        clock = time.monotonic()

        def finished() -> datetime:  # on the close's clock (`now` may be a replay's)
            return now + timedelta(seconds=time.monotonic() - clock)

        run = {"run_id": run_id, "started_at": now, "period_label": str(label),
               "tenant_id": tenant, "finalize": finalize, "catalog_revision": catalog.revision}
        try:
            work = (_compute(settings, config, catalog, label, plan, now, store, tenant,
                             allow_empty) if plan else _Work())
            for doc, why in _orphan_drafts(store, catalog, label, unbillable, tenant):
                work.stale.append(doc.invoice_id)
                work.outcomes.append(Outcome(doc.tenant_id, doc.invoice_id, doc.kind, DRAFT,
                                             "deleted", note=why))
            work.notes[:0] = notes
            with store.transaction():
                numbers = _write(store, config, work, now, run_id)
                outcomes = [_numbered(o, numbers) for o in work.outcomes]
                store.record_run(
                    {**run, "finished_at": finished(), "status": "ok",
                     "created": _count(outcomes, "created"), "updated": _count(outcomes, "updated"),
                     "unchanged": _count(outcomes, "unchanged"),
                     "finalized": _count(outcomes, "finalized"),
                     "discrepancies": len(work.discrepancies),
                     "message": "; ".join(work.notes)},
                    [d.row(run_id, i) for i, d in enumerate(work.discrepancies, 1)],
                )
        except InvoicingError as exc:
            with store.transaction():
                store.record_run({**run, "finished_at": finished(), "status": "failed",
                                  "created": 0, "updated": 0, "unchanged": 0, "finalized": 0,
                                  "discrepancies": 0, "message": str(exc)}, [])
            raise
    return CloseResult(run_id, str(label), tenant, finalize, catalog.revision, tuple(outcomes),
                       tuple(work.discrepancies), tuple(work.notes))


def _count(outcomes: list[Outcome], action: str) -> int:
    return sum(1 for o in outcomes if o.action == action)


def _numbered(outcome: Outcome, numbers: dict[str, str]) -> Outcome:
    if outcome.invoice_id in numbers and outcome.action in ("created", "updated", "unchanged"):
        return replace(outcome, status=FINAL, action="finalized",
                       number=numbers[outcome.invoice_id])
    return outcome


def _write(store: BillingStore, config: InvoicingConfig, work: _Work, now: datetime,
           run_id: int) -> dict[str, str]:
    store.delete_drafts(work.stale)
    store.write_drafts(work.drafts, run_id)
    prefixes = {(key, kind): (issuer.invoice_prefix if kind == INVOICE else issuer.credit_note_prefix)
                for key, issuer in config.issuers.items() for kind in (INVOICE, CREDIT_NOTE)}
    due_days = {key: issuer.due_days for key, issuer in config.issuers.items()}
    numbered = store.finalize(work.to_finalize, prefixes, due_days, now, run_id)
    numbers = {n.invoice_id: n.number for n in numbered}
    checks = dict(work.checks_now)
    checks.update({earlier: fp for earlier, (doc, fp) in work.checks_on_final.items()
                   if doc in numbers})
    store.record_checks(checks, run_id)
    return numbers


# ---------------------------------------------------------------------- compute


class _Fingerprints:
    """The committed files a period's usage is read from (names and sizes), hashed;
    one listing per distinct period, however many tenants share it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._seen: dict[tuple[datetime, datetime], str] = {}

    def __call__(self, period: Period) -> str:
        key = (period.start, period.end)
        if key not in self._seen:
            self._seen[key] = _fingerprint(self.data_dir, period)
        return self._seen[key]


def _fingerprint(root: Path, period: Period) -> str:
    days = inputs.days(period.start, period.end)
    parts = [("line_items", [period.start.date().isoformat()]), ("late_events", days),
             ("events", days)]
    digest = hashlib.sha256()
    for table, values in parts:
        folder = root / table
        if not folder.is_dir():
            continue
        for name in inputs.committed_files(folder, values):
            path = Path(name)
            digest.update(f"{path.relative_to(root)}\0{path.stat().st_size}\0".encode())
    return digest.hexdigest()[:16]


def _compute(settings: Settings, config: InvoicingConfig, catalog: Catalog, label: PeriodLabel,
             plan: list[_Tenant], now: datetime, store: BillingStore, tenant: str | None,
             allow_empty: bool) -> _Work:
    work = _Work()
    data_dir = settings.data_dir
    fingerprint = _Fingerprints(data_dir)
    by_id = {t.tenant_id: t for t in plan}
    oldest = min(t.period.start for t in plan)
    lookback = oldest - timedelta(days=31 * config.adjustment_lookback + 1)
    headers: dict[str, list[Invoice]] = {}
    for d in store.documents(since=lookback, lines=False):
        if d.tenant_id in by_id:
            headers.setdefault(d.tenant_id, []).append(d)
    for tenant_id, docs in headers.items():
        _check_boundaries(catalog, by_id[tenant_id], docs)
    current_ids = {invoice_id(t, str(label)) for t in by_id}
    mine = [d.invoice_id for ds in headers.values() for d in ds
            if d.invoice_id in current_ids or d.close_label == str(label)]
    existing = {d.invoice_id: d for d in store.documents(ids=mine)} if mine else {}

    # Earlier final invoices to look at again for late usage (inputs changed since last look).
    checks = store.checks()
    recheck: dict[str, list[Invoice]] = {}
    fps: dict[str, str] = {}

    def changed(d: Invoice) -> bool:
        """Whether the inputs of `d`'s period changed since it was last checked."""
        fps[d.invoice_id] = fingerprint(Period(d.period_start, d.period_end))
        return checks.get(d.invoice_id) != fps[d.invoice_id]

    for tenant_id, docs in headers.items():
        start = by_id[tenant_id].period.start
        current = existing.get(invoice_id(tenant_id, str(label)))
        if current is not None and current.is_final:
            continue
        periods = [o for o in docs if _own_invoice(o)]
        drafts = [o.period_start for o in periods if o.status == DRAFT]
        for d in periods:
            if d.status != FINAL or d.period_start >= start:
                continue
            if any(d.period_start < o < start for o in drafts):
                continue  # the next invoice after it is an earlier draft: adjustments go there
            if changed(d):
                recheck.setdefault(tenant_id, []).append(d)
    # Older ones are not corrected: late usage there is reported, never dropped unseen.
    too_old = [d.invoice_id for d in store.documents(before=lookback, status=FINAL, tenant=tenant,
                                                     lines=False)
               if d.tenant_id in by_id and _own_invoice(d) and changed(d)]
    looked_at = [d.invoice_id for ds in recheck.values() for d in ds] + too_old
    earlier_docs = {d.invoice_id: d for d in store.documents(
        ids=looked_at)} if looked_at else {}
    prior = store.prior_adjustments(list(earlier_docs))

    # Fingerprints of this period's inputs, for the invoices this close may finalize.
    own_fp = {t.tenant_id: fingerprint(t.period) for t in plan if t.finalize}

    month = Period(datetime(label.year, label.month, 1, tzinfo=UTC),
                   datetime(*_next(label), 1, tzinfo=UTC))
    scopes = [Scope(t.tenant_id, t.period, True, _value_metrics(t.charges)) for t in plan]
    usage = collect_usage(data_dir, scopes, catalog.metrics, catalog.per_tenant_metrics(),
                          known_tenants=catalog.customers if tenant is None else None,
                          month=month if tenant is None else None)
    if not allow_empty and not usage.files["line_items"] and not usage.files["events"]:
        raise PeriodError(_unknown_period(settings, label, plan))
    earlier_scopes = [
        Scope(d.tenant_id, Period(d.period_start, d.period_end), False,
              frozenset(line.metric for line in d.lines
                        if line.metric and line.price_model == "percentage"))
        for d in earlier_docs.values()
    ]
    earlier_usage = collect_usage(data_dir, earlier_scopes, catalog.metrics, catalog.per_tenant_metrics())
    for doc_id in too_old:
        _report_too_old(earlier_docs[doc_id], prior, earlier_usage, catalog, config, fps, work)

    for t in plan:
        _close_tenant(catalog, config, label, t, now, usage, earlier_usage, existing,
                      [earlier_docs[d.invoice_id] for d in recheck.get(t.tenant_id, [])],
                      prior, fps, own_fp, work)
    work.discrepancies += unknown_tenants(usage.unbilled)
    return work


def _report_too_old(doc: Invoice, prior: dict[str, list[InvoiceLine]], usage: Usage,
                    catalog: Catalog, config: InvoicingConfig, fps: dict[str, str],
                    work: _Work) -> None:
    """Late usage of a final invoice older than the lookback: a discrepancy at every
    close until a longer lookback bills it (its inputs stay unchecked till then)."""
    adjustments = late_adjustments(doc, prior.get(doc.invoice_id, []), usage, catalog.metrics)
    if not adjustments:
        work.checks_now[doc.invoice_id] = fps[doc.invoice_id]
        return
    work.discrepancies.append(Discrepancy(
        "beyond-lookback", doc.tenant_id, doc.period_start, doc.reference, ZERO, net(adjustments),
        f"late usage of {doc.period_label}, after {doc.reference} was final, is older than"
        f" adjustment_lookback ({config.adjustment_lookback} periods): not billed; raise the"
        " setting and close again to bill it"))


def _own_invoice(d: Invoice) -> bool:
    """A period's own invoice: not a credit note, nor an invoice of late usage of its own."""
    return d.invoice_id == invoice_id(d.tenant_id, d.period_label)


def _check_boundaries(catalog: Catalog, t: _Tenant, docs: list[Invoice]) -> None:
    """Invoiced periods cannot move: when the catalog's periods of a tenant (its
    anchor day or timezone, or its plan's) no longer match its last final invoice,
    the usage between would be billed twice or never."""
    final = [d for d in docs if d.is_final and d.period_start < t.period.start and _own_invoice(d)]
    if not final:
        return
    last = max(final, key=lambda d: d.period_start)
    now = catalog.period_for(t.tenant_id, last.period_start)
    if (now.start, now.end) != (last.period_start, last.period_end):
        raise PeriodError(
            f"{t.tenant_id}: its billing periods moved after {last.reference}"
            f" ({last.period_start:%Y-%m-%d %H:%M}Z .. {last.period_end:%Y-%m-%d %H:%M}Z) was"
            f" issued: the catalog now makes it {now.start:%Y-%m-%d %H:%M}Z .."
            f" {now.end:%Y-%m-%d %H:%M}Z, and usage between would be billed twice or never;"
            " give the customer back its anchor_day and timezone")


def _next(label: PeriodLabel) -> tuple[int, int]:
    following = label.shift(1)
    return following.year, following.month


def _value_metrics(charges: Iterable[ResolvedCharge]) -> frozenset[str]:
    return frozenset(c.metric for c in charges if c.metric and c.price.model.rates == "values")


def _unknown_period(settings: Settings, label: PeriodLabel, plan: list[_Tenant]) -> str:
    folder = settings.data_dir / "line_items"
    known = sorted({p.parent.name.split("=", 1)[1] for p in folder.glob("period=*/part-*")})
    starts = sorted({t.period.start.date().isoformat() for t in plan})
    shown = ", ".join(known[-12:]) if known else "none"
    return (f"period {label}: no usage recorded (no line items under {folder} for period"
            f" {', '.join(starts)} and no events); periods with line items: {shown}."
            " Use --allow-empty to invoice a period without usage (flat fees only).")


def _header(config: InvoicingConfig, catalog: Catalog, customer: Customer, issuer_key: str,
            label: PeriodLabel) -> Header:
    """What a document issued by `issuer_key` says of its issuer and customer."""
    issuer = config.issuers[issuer_key]
    return Header(customer, issuer_key, {
        "key": issuer_key, "name": issuer.name, "address": issuer.address,
        "email": issuer.email, "tax_id": issuer.tax_id,
        "payment_instructions": issuer.payment_instructions,
    }, catalog.revision, str(label))


def _note(doc: Invoice, doc_id: str) -> str:
    """What the outcome of a document other than the period's invoice (`doc_id`) says."""
    if doc.kind == CREDIT_NOTE:
        return f"credits {doc.credits_number}"
    if doc.invoice_id == doc_id:
        return ""
    adjusted = sorted({line.adjusts.number for line in doc.lines if line.adjusts})
    return f"late usage, adjusts {', '.join(adjusted)}"


def _close_tenant(catalog: Catalog, config: InvoicingConfig, label: PeriodLabel, t: _Tenant,
                  now: datetime, usage: Usage, earlier_usage: Usage,
                  existing: dict[str, Invoice], earlier: list[Invoice],
                  prior: dict[str, list[InvoiceLine]], fps: dict[str, str], own_fp: dict[str, str],
                  work: _Work) -> None:
    customer = catalog.customers[t.tenant_id]
    currency = t.charges[0].currency
    rated = rate_period(catalog, t.tenant_id, t.period, t.charges, usage)
    work.discrepancies += reconcile(t.tenant_id, t.period, rated, usage)
    with localcontext(CONTEXT):
        streamed = sum((s.amount for s in usage.streamed.get((t.tenant_id, t.period.start), [])),
                       ZERO)
    doc_id = invoice_id(t.tenant_id, str(label))
    current = existing.get(doc_id)
    if current is not None and current.is_final:
        note = ""
        # By quantity: a price edited in the catalog since is not a change of usage.
        billed = {line.charge_key: line.quantity for line in current.lines
                  if line.kind == "charge"}
        if any(billed.get(rc.charge.charge_key) != rc.quantity for rc in rated
               if rc.charge.metric):
            note = "usage changed since finalization: billed as an adjustment on a later invoice"
        work.outcomes.append(Outcome(t.tenant_id, doc_id, INVOICE, FINAL, "final", t.period,
                                     current.number, current.currency, current.total, streamed,
                                     note))
        return
    header = _header(config, catalog, customer, config.issuer_of(t.tenant_id), label)
    lines = [charge_line(i, rc, currency) for i, rc in enumerate(rated, 1)]
    others = []  # credit notes, and invoices of late usage for another issuer or currency
    for e in earlier:
        adjustments = late_adjustments(e, prior.get(e.invoice_id, []), earlier_usage,
                                       catalog.metrics)
        if adjustments and e.issuer not in config.issuers:
            raise InvoicingError(f"{t.tenant_id}: late usage for {e.reference} is billed by its"
                                 f" issuer, {e.issuer!r}, which is not in the invoicing"
                                 " config's issuers any more: put it back")
        if not adjustments:
            work.checks_now[e.invoice_id] = fps[e.invoice_id]
        elif net(adjustments) >= 0 and (e.currency, e.issuer) == (currency, header.issuer):
            lines += adjustments
            work.checks_on_final[e.invoice_id] = (doc_id, fps[e.invoice_id])
        elif net(adjustments) >= 0:  # by e's issuer, in e's currency, on an invoice of their own
            extra_id = adjustment_invoice_id(t.tenant_id, e.period_label, str(label))
            others.append(make_document(
                _header(config, catalog, customer, e.issuer, label), doc_id=extra_id,
                kind=INVOICE, label=e.period_label,
                period=Period(e.period_start, e.period_end), currency=e.currency,
                lines=adjustments, drafted_at=now))
            work.checks_on_final[e.invoice_id] = (extra_id, fps[e.invoice_id])
        else:
            note_id = credit_note_id(t.tenant_id, e.period_label, str(label))
            others.append(make_document(
                _header(config, catalog, customer, e.issuer, label), doc_id=note_id,
                kind=CREDIT_NOTE, label=e.period_label,
                period=Period(e.period_start, e.period_end), currency=e.currency,
                lines=adjustments, drafted_at=now, credits=e))
            work.checks_on_final[e.invoice_id] = (note_id, fps[e.invoice_id])
    invoice = make_document(header, doc_id=doc_id, kind=INVOICE, label=str(label),
                            period=t.period, currency=currency, lines=lines, drafted_at=now)
    docs = [invoice, *others]
    for doc in docs:
        old = existing.get(doc.invoice_id)
        if old is not None and old.content_hash == doc.content_hash:
            doc, action = old, "unchanged"
        else:
            work.drafts.append(doc)
            action = "created" if old is None else "updated"
        if t.finalize:
            work.to_finalize.append(doc)
        work.outcomes.append(Outcome(
            t.tenant_id, doc.invoice_id, doc.kind, DRAFT, action,
            Period(doc.period_start, doc.period_end), None, doc.currency, doc.total,
            streamed if doc.invoice_id == doc_id else None, _note(doc, doc_id)))
    if t.finalize:
        work.checks_on_final[doc_id] = (doc_id, own_fp[t.tenant_id])
    kept = {d.invoice_id for d in docs}
    for old in existing.values():
        if (old.tenant_id == t.tenant_id and not old.is_final and old.invoice_id not in kept):
            work.stale.append(old.invoice_id)
            work.outcomes.append(Outcome(t.tenant_id, old.invoice_id, old.kind, DRAFT, "deleted",
                                         note="no longer needed"))
