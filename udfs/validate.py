"""Stage one of the metering job: tell a usable event from one for the dead-letter topic.

Vectorized (pandas) so Flink hands over thousands of records a call; the check
itself is aforo.events.decode plus the billing rules below. One call per message
gives its verdict: `event:<tenant>/<idempotency key>` (the dedup key, read from
the payload, never trusted from the Kafka key) or `reject:<reason>`.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import udf

from aforo.events import EventError, decode

ACCEPT = "event:"
REJECT = "reject:"


def verdict(payload: bytes | None, numeric_fields: frozenset[str], max_future_ms: int, now_ms: int) -> str:
    if not payload:
        return REJECT + "empty message"
    try:
        event = decode(payload)
    except EventError as exc:
        return f"{REJECT}undecodable: {exc}"
    reason = rejection(event, numeric_fields, max_future_ms, now_ms)
    if reason is not None:
        return REJECT + reason
    return f"{ACCEPT}{event['tenant_id']}/{event['idempotency_key']}"


def rejection(event: dict, numeric_fields: frozenset[str], max_future_ms: int, now_ms: int) -> str | None:
    """Why this decoded event cannot be billed, or None if it can."""
    if not event["tenant_id"].strip():
        return "tenant_id: missing"
    if not event["idempotency_key"].strip():
        return "idempotency_key: missing"
    event_ms = int(event["event_time"].timestamp() * 1000)
    if event_ms > now_ms + max_future_ms:
        return f"event_time: {event['event_time'].isoformat()} is too far in the future"
    for name in numeric_fields:
        raw = event["properties"].get(name[11:]) if name.startswith("properties.") else event.get(name)
        if raw is None:
            continue
        try:
            number = Decimal(raw) if isinstance(raw, str) else Decimal(int(raw))
        except (InvalidOperation, ValueError):
            return f"{name}: not a number: {raw!r}"
        if not number.is_finite():
            return f"{name}: not a finite number: {raw!r}"
        if number < 0:
            return f"{name}: negative quantity {raw}"
    return None


class CheckEvent:
    """Callable for a pandas UDF; carries the catalog's numeric value fields."""

    def __init__(self, numeric_fields: frozenset[str], max_future_s: int,
                 fail_once_after: int = 0, fail_marker: str = "") -> None:
        self.numeric_fields = numeric_fields
        self.max_future_ms = max_future_s * 1000
        self.fail_once_after = fail_once_after
        self.fail_marker = fail_marker
        self.seen = 0

    def _maybe_fail(self, count: int) -> None:
        self.seen += count
        if self.fail_once_after and self.seen >= self.fail_once_after and self.fail_marker:
            marker = Path(self.fail_marker)
            if not marker.exists():
                marker.write_text(f"failed after {self.seen} records\n")
                raise RuntimeError(f"injected failure after {self.seen} records (chaos test)")

    def __call__(self, payloads: pd.Series) -> pd.Series:
        self._maybe_fail(len(payloads))
        now_ms = int(time.time() * 1000)
        return pd.Series([verdict(p, self.numeric_fields, self.max_future_ms, now_ms) for p in payloads],
                         dtype=object)


def check_event_udf(numeric_fields: frozenset[str], max_future_s: int,  # type: ignore[no-untyped-def]
                    fail_once_after: int = 0, fail_marker: str = ""):
    # Declared non-deterministic (it reads the clock) so the planner evaluates it
    # once per message instead of once per branch that uses the verdict.
    return udf(CheckEvent(numeric_fields, max_future_s, fail_once_after, fail_marker),
               result_type=DataTypes.STRING(), func_type="pandas", deterministic=False)
