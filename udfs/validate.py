"""Stage one of the metering job: tell a usable event from one for the dead-letter topic.

Vectorized (pandas) so Flink hands over thousands of records a call; the check
itself is the contract's Avro decoding plus the billing rules below. One call per message
gives its verdict: `event:<tenant>/<idempotency key>` (the dedup key, read from
the payload, never trusted from the Kafka key) or `reject:<reason>`.
"""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import fastavro
import pandas as pd
from pyflink.table import DataTypes
from pyflink.table.udf import udf

from aforo.events import SCHEMA_PATH

ACCEPT = "event:"
REJECT = "reject:"


def _plain_schema() -> dict:
    """The contract without logical types: event_time stays epoch millis (no datetime per record)."""
    raw = json.loads(SCHEMA_PATH.read_text())
    for field in raw["fields"]:
        if isinstance(field["type"], dict):
            field["type"].pop("logicalType", None)
    return fastavro.parse_schema(raw)


_PLAIN = _plain_schema()


def verdict(payload: bytes | None, numeric_fields: frozenset[str], max_future_ms: int, now_ms: int) -> str:
    if not payload:
        return REJECT + "empty message"
    buf = io.BytesIO(payload)
    try:
        event = fastavro.schemaless_reader(buf, _PLAIN, None)
    except Exception as exc:  # garbage bytes raise many types inside fastavro
        return f"{REJECT}undecodable: not a UsageEvent: {type(exc).__name__}: {exc}"
    if buf.tell() != len(payload):
        return f"{REJECT}undecodable: {len(payload) - buf.tell()} trailing bytes after the record"
    reason = rejection(event, numeric_fields, max_future_ms, now_ms)  # type: ignore[arg-type]
    if reason is not None:
        return REJECT + reason
    return f"{ACCEPT}{event['tenant_id']}/{event['idempotency_key']}"  # type: ignore[index]


def rejection(event: dict, numeric_fields: frozenset[str], max_future_ms: int, now_ms: int) -> str | None:
    """Why this decoded event (event_time in epoch millis) cannot be billed, or None if it can."""
    if not event["tenant_id"].strip():
        return "tenant_id: missing"
    if not event["idempotency_key"].strip():
        return "idempotency_key: missing"
    if event["event_time"] > now_ms + max_future_ms:
        when = datetime.fromtimestamp(event["event_time"] / 1000, tz=UTC).isoformat()
        return f"event_time: {when} is too far in the future"
    for name in numeric_fields:
        raw = event["properties"].get(name[11:]) if name.startswith("properties.") else event.get(name)
        if raw is None:
            continue
        if isinstance(raw, int):
            if raw < 0:
                return f"{name}: negative quantity {raw}"
            continue
        try:
            number = Decimal(raw)
        except (InvalidOperation, TypeError):
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
