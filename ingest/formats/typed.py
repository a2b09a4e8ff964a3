"""The common case of `/v1/events` (`application/json`), decoded at C speed.

msgspec decodes each event straight from the body into a typed struct: unknown
fields, wrong types and out-of-range integers stop there, in C. The checks a
type cannot say (blank strings, configured lengths, the time, the value's
digits) follow in Python, reusing `ingest.fields`.

This path never refuses anything itself. An event it does not accept in full
(a type error, a property given as a number, a value as a long string, ...) is
handed to `collector.event`, the checked path, which accepts it or names the
field and the problem. Both paths therefore agree on every event: the typed one
only makes the valid common case cheap (tests run the same bodies through both).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import msgspec

from aforo.events import EventError
from ingest import fields as f
from ingest.body import parse_json
from ingest.formats import collector
from ingest.records import Candidate, Context

_NULL = msgspec.Raw(b"null")
_QUOTE = ord('"')
_NUMBER_START = frozenset(b"-0123456789")
Status = Annotated[int, msgspec.Meta(ge=100, le=f.MAX_STATUS)]
Int32 = Annotated[int, msgspec.Meta(ge=0, le=(1 << 31) - 1)]
Long = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]


class _Event(msgspec.Struct, forbid_unknown_fields=True):
    """`collector.EVENT_FIELDS`, typed (tests check that the two lists agree)."""

    tenant_id: str
    idempotency_key: str
    metric: str | None = None
    event_type: str | None = None
    value: msgspec.Raw = _NULL  # kept as its JSON text: a number or a string, read below
    timestamp: str | None = None
    properties: dict[str, str] | None = None
    api: str | None = None
    route: str | None = None
    method: str | None = None
    status: Status | None = None
    latency_ms: Int32 | None = None
    request_bytes: Long | None = None
    response_bytes: Long | None = None


_event = msgspec.json.Decoder(_Event)
_array = msgspec.json.Decoder(list[msgspec.Raw])
_DECODE_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError)  # ValueError: bad UTF-8


class _Checked(Exception):
    """The typed path does not take this event: the checked path decides."""


def _text(value: str, max_chars: int) -> str:
    if len(value) > max_chars or not value.strip():
        raise _Checked
    return value


def _optional_text(value: str | None, max_chars: int) -> str | None:
    if value is None or value == "" or value == "-":
        return None
    return _text(value, max_chars)


def _value(raw: msgspec.Raw) -> str | None:
    """The exact decimal text of `value`, as `fields.decimal_value` makes it."""
    data = bytes(raw)
    if data == b"null":
        return None
    if data[0] == _QUOTE:
        if b"\\" in data:
            raise _Checked
        return f.decimal_value("value", data[1:-1].decode())
    if data[0] not in _NUMBER_START:
        raise _Checked
    try:
        return f.decimal_value("value", Decimal(data.decode()))
    except InvalidOperation:
        raise _Checked from None


def _properties(props: dict[str, str] | None, ctx: Context) -> dict[str, str]:
    if props is None:
        return {}
    lim = ctx.limits
    if len(props) > lim.max_properties:
        raise _Checked
    for key, item in props.items():
        if not key or len(key) > lim.max_property_key_chars or len(item) > lim.max_text_chars:
            raise _Checked
    return props


def _usage_event(e: _Event, ctx: Context) -> dict[str, Any]:
    lim = ctx.limits
    metric, event_type = e.metric, e.event_type
    if metric is not None and event_type is not None and metric != event_type:
        raise _Checked
    kind = metric if metric is not None else event_type
    if kind is None:
        raise _Checked
    stamp = e.timestamp
    return {
        "idempotency_key": _text(e.idempotency_key, lim.max_id_chars),
        "tenant_id": _text(e.tenant_id, lim.max_id_chars),
        "source": collector.SOURCE,
        "event_type": _text(kind, lim.max_id_chars),
        "event_time": ctx.now_ms if stamp is None else f.event_time(
            "timestamp", f.rfc3339_millis("timestamp", stamp), ctx.now_ms, lim),
        "value": _value(e.value),
        "api": _optional_text(e.api, lim.max_text_chars),
        "route": _optional_text(e.route, lim.max_text_chars),
        "method": _optional_text(e.method, lim.max_text_chars),
        "status": e.status,
        "latency_ms": e.latency_ms,
        "request_bytes": e.request_bytes,
        "response_bytes": e.response_bytes,
        "properties": _properties(e.properties, ctx),
    }


def event(index: int, raw: bytes | msgspec.Raw, ctx: Context) -> Candidate:
    """One event from its JSON text: typed if it can be, else the checked path."""
    try:
        out = _usage_event(_event.decode(raw), ctx)
    except (*_DECODE_ERRORS, _Checked, EventError):
        return collector.event(index, parse_json(bytes(raw)), ctx)
    return Candidate(index, out, key=out["idempotency_key"])


def events(data: bytes, ctx: Context) -> tuple[list[Candidate], bool]:
    """A `/v1/events` JSON body (one object or an array) as candidates; (candidates, batch)."""
    start = data.lstrip()[:1]
    if start == b"{":
        return [event(0, data, ctx)], False
    if start == b"[":
        try:
            raws = _array.decode(data)
        except _DECODE_ERRORS:
            pass  # not JSON: the checked path says where
        else:
            records, batch = collector.items(raws, ctx, "events")
            return [event(i, raw, ctx) for i, raw in enumerate(records)], batch
    return collector.events(parse_json(data), ctx)
