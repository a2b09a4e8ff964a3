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
from typing import Annotated

import msgspec

from aforo.events import EventError, message_key
from ingest import fields as f
from ingest.avro import checked_event
from ingest.body import parse_json
from ingest.config import Limits
from ingest.formats import collector
from ingest.formats.collector import SOURCE
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
_batch = msgspec.json.Decoder(list[_Event])
_array = msgspec.json.Decoder(list[msgspec.Raw])
_DECODE_ERRORS = (msgspec.MsgspecError, ValueError, RecursionError)  # ValueError: bad UTF-8


class _Checked(Exception):
    """The typed path does not take this event: the checked path decides."""


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


def _check_properties(props: dict[str, str], lim: Limits) -> None:
    if len(props) > lim.max_properties:
        raise _Checked
    for key, item in props.items():
        if not key or len(key) > lim.max_property_key_chars or len(item) > lim.max_text_chars:
            raise _Checked


def _candidate(index: int, e: _Event, ctx: Context) -> Candidate:
    """The event, and its Kafka message: every value is checked here, so the Avro
    bytes need no checks of their own (`avro.checked_event`). This runs for every
    event of every batch, hence the inlined checks (`fields` has one a function)."""
    lim = ctx.limits
    max_id, max_text = lim.max_id_chars, lim.max_text_chars
    metric, event_type = e.metric, e.event_type
    if metric is None:
        if event_type is None:
            raise _Checked
        kind = event_type
    elif event_type is not None and metric != event_type:
        raise _Checked
    else:
        kind = metric
    key, tenant = e.idempotency_key, e.tenant_id
    if (len(key) > max_id or len(tenant) > max_id or len(kind) > max_id
            or not key.strip() or not tenant.strip() or not kind.strip()):
        raise _Checked  # too long or blank (fields.text)
    stamp = e.timestamp
    if stamp is None:
        event_time = ctx.now_ms
    else:
        event_time = f.rfc3339_millis("timestamp", stamp)
        if not f.MIN_EVENT_MS <= event_time <= ctx.now_ms + lim.max_future_s * 1000:
            raise _Checked  # fields.event_time
    value = None if e.value is _NULL else _value(e.value)
    # api, route, method: null, "" and "-" are none (fields.optional_text).
    api, route, method = e.api, e.route, e.method
    if api is not None:
        if api == "" or api == "-":
            api = None
        elif len(api) > max_text or not api.strip():
            raise _Checked
    if route is not None:
        if route == "" or route == "-":
            route = None
        elif len(route) > max_text or not route.strip():
            raise _Checked
    if method is not None:
        if method == "" or method == "-":
            method = None
        elif len(method) > max_text or not method.strip():
            raise _Checked
    properties = e.properties
    if properties is None:
        properties = {}
    elif properties:
        _check_properties(properties, lim)
    status, latency_ms, request_bytes, response_bytes = (
        e.status, e.latency_ms, e.request_bytes, e.response_bytes)
    out = {
        "idempotency_key": key, "tenant_id": tenant, "source": SOURCE, "event_type": kind,
        "event_time": event_time, "value": value, "api": api, "route": route, "method": method,
        "status": status, "latency_ms": latency_ms, "request_bytes": request_bytes,
        "response_bytes": response_bytes, "properties": properties,
    }
    message = (message_key(out), checked_event(
        key, tenant, SOURCE, kind, event_time, api, route, method, status, latency_ms,
        request_bytes, response_bytes, value, properties))
    return Candidate(index, out, key=key, message=message)


def event(index: int, raw: bytes | msgspec.Raw, ctx: Context) -> Candidate:
    """One event from its JSON text: typed if it can be, else the checked path."""
    try:
        return _candidate(index, _event.decode(raw), ctx)
    except (*_DECODE_ERRORS, _Checked, EventError):
        return collector.event(index, parse_json(bytes(raw)), ctx)


def _typed_batch(data: bytes, ctx: Context) -> list[Candidate] | None:
    """A batch whose every event decodes typed (the common case), in one decoder call;
    None if one does not."""
    try:
        structs = _batch.decode(data)
    except _DECODE_ERRORS:
        return None
    collector.items(structs, ctx, "events")  # too many: 413
    out = []
    raws = None
    for index, e in enumerate(structs):
        try:
            out.append(_candidate(index, e, ctx))
        except (_Checked, EventError):
            raws = _array.decode(data) if raws is None else raws
            out.append(collector.event(index, parse_json(bytes(raws[index])), ctx))
    return out


def events(data: bytes, ctx: Context) -> tuple[list[Candidate], bool]:
    """A `/v1/events` JSON body (one object or an array) as candidates; (candidates, batch)."""
    start = data.lstrip()[:1]
    if start == b"{":
        return [event(0, data, ctx)], False
    if start == b"[":
        typed = _typed_batch(data, ctx)
        if typed is not None:
            return typed, True
        try:
            raws = _array.decode(data)
        except _DECODE_ERRORS:
            pass  # not JSON: the checked path says where
        else:
            records, batch = collector.items(raws, ctx, "events")
            return [event(i, raw, ctx) for i, raw in enumerate(records)], batch
    return collector.events(parse_json(data), ctx)
