"""What a format parser hands to the ingestor: one Candidate per incoming record.

A candidate is either an event (a UsageEvent dict, its tenant given or to be
found from `credentials` through the catalog) or the reason it was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from aforo.events import EventError
from ingest.config import Limits
from ingest.errors import TooLarge

INVALID = "invalid"
UNKNOWN_CONSUMER = "unknown_consumer"
FORBIDDEN = "forbidden"


class Candidate(msgspec.Struct):
    """(A msgspec struct, not a dataclass: made for every event of every batch, and
    its __init__ is C, not Python.)"""

    index: int
    event: dict[str, Any] | None = None
    # (field as the gateway names it, value) tried in order against the catalog.
    credentials: tuple[tuple[str, str], ...] = ()
    error: EventError | None = None
    reason: str = INVALID
    key: str | None = None
    # The Kafka message (key, Avro bytes), when the parser made it: only for an event
    # whose tenant is final (no credentials), exactly as `Ingestor.prepare` would.
    message: tuple[bytes, bytes] | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """What parsers need besides the record: the limits and the receipt time."""

    limits: Limits
    now_ms: int
    extra: dict[str, Any] = field(default_factory=dict)


def refused(index: int, exc: EventError, key: Any = None, reason: str = INVALID) -> Candidate:
    return Candidate(index, error=exc, reason=reason, key=key if isinstance(key, str) else None)


def api_call(source: str, key: str, event_time: int, *, api: str | None, route: str | None,
             method: str | None, status: int | None, latency_ms: int | None,
             request_bytes: int | None, response_bytes: int | None,
             properties: dict[str, str]) -> dict[str, Any]:
    """A gateway's API call as a UsageEvent (tenant_id is filled in by the ingestor)."""
    return {
        "idempotency_key": key, "tenant_id": "", "source": source, "event_type": "api_call",
        "event_time": event_time, "api": api, "route": route, "method": method,
        "status": status, "latency_ms": latency_ms, "request_bytes": request_bytes,
        "response_bytes": response_bytes, "value": None,
        "properties": {k: v for k, v in properties.items() if v is not None},
    }


def credentials(*pairs: tuple[str, Any]) -> tuple[tuple[str, str], ...]:
    """The (field, value) pairs that hold a usable identity, in the order given."""
    return tuple((name, value) for name, value in pairs
                 if isinstance(value, str) and value.strip() and value != "-")


def no_credential(fields: str) -> EventError:
    return EventError(fields, "no consumer identity in the record (unauthenticated request?)")


def flatten(values: list[tuple[int, Any]], max_records: int) -> list[tuple[str, Any]]:
    """Records of a gateway body: a JSON object, an array of them, or NDJSON lines
    of either. Returns (where, record); a line that was not JSON stays as its
    Exception, so it is refused alone."""
    out: list[tuple[str, Any]] = []
    for line, value in values:
        where = "(record)" if line == 0 else f"line {line}"
        if isinstance(value, list):
            out.extend((where, item) for item in value)
        else:
            out.append((where, value))
        if len(out) > max_records:
            raise TooLarge("body", f"more than {max_records} records in one request")
    return out


def each(records: list[tuple[str, Any]], parse: Callable[[int, dict[str, Any]], Candidate]
         ) -> list[Candidate]:
    """Apply a one-record parser, refusing non-objects and unparsable lines on their own."""
    out = []
    for index, (where, record) in enumerate(records):
        if isinstance(record, Exception):
            out.append(refused(index, EventError(where, str(record))))
        elif not isinstance(record, dict):
            out.append(refused(index, EventError(where, f"must be a JSON object, got "
                                                        f"{type(record).__name__}")))
        else:
            try:
                out.append(parse(index, record))
            except EventError as exc:
                out.append(refused(index, exc))
    return out
