"""Aforo's own events (`application/json`) and CloudEvents 1.0 (structured and batch)."""

from __future__ import annotations

from typing import Any

from aforo.events import EventError
from ingest import fields as f
from ingest.errors import Malformed, TooLarge
from ingest.records import Candidate, Context, refused

SOURCE = "collector"
# The optional UsageEvent fields a sender may set directly.
_CALL_FIELDS = ("api", "route", "method", "status", "latency_ms", "request_bytes", "response_bytes")
EVENT_FIELDS = frozenset({"tenant_id", "metric", "event_type", "value", "idempotency_key",
                          "timestamp", "properties", *_CALL_FIELDS})
CLOUDEVENT_DATA_FIELDS = frozenset({"tenant_id", "value", "properties", *_CALL_FIELDS})


def items(payload: Any, ctx: Context, what: str) -> tuple[list[Any], bool]:
    """The records of a body: (records, was it a batch)."""
    if isinstance(payload, list):
        if len(payload) > ctx.limits.max_batch_events:
            raise TooLarge("body", f"{len(payload)} {what} in one batch, at most "
                                   f"{ctx.limits.max_batch_events} allowed")
        return payload, True
    if isinstance(payload, dict):
        return [payload], False
    raise Malformed("body", f"must be a JSON object or an array of them, got {type(payload).__name__}")


def _common(event: dict[str, Any], record: dict[str, Any], ctx: Context, prefix: str = "") -> None:
    """value, properties and the API-call fields, shared by both shapes."""
    lim = ctx.limits
    event["value"] = f.decimal_value(prefix + "value", record.get("value"))
    for name in ("api", "route", "method"):
        event[name] = f.optional_text(prefix + name, record.get(name), lim.max_text_chars)
    event["status"] = f.status(prefix + "status", record.get("status"))
    event["latency_ms"] = f.int32(prefix + "latency_ms", record.get("latency_ms"))
    event["request_bytes"] = f.integer(prefix + "request_bytes", record.get("request_bytes"))
    event["response_bytes"] = f.integer(prefix + "response_bytes", record.get("response_bytes"))


def event(index: int, record: Any, ctx: Context) -> Candidate:
    """One `/v1/events` object as a UsageEvent."""
    if not isinstance(record, dict):
        return refused(index, EventError("(event)", f"must be a JSON object, got "
                                                    f"{type(record).__name__}"))
    key = record.get("idempotency_key")
    try:
        unknown = set(record) - EVENT_FIELDS
        if unknown:
            raise EventError(min(unknown), "is not a field (expected: "
                                                 f"{', '.join(sorted(EVENT_FIELDS))})")
        lim = ctx.limits
        metric, event_type = record.get("metric"), record.get("event_type")
        if metric is not None and event_type is not None and metric != event_type:
            raise EventError("metric", "give metric or event_type, not two different ones")
        out: dict[str, Any] = {
            "idempotency_key": f.text("idempotency_key", key, lim.max_id_chars),
            "tenant_id": f.text("tenant_id", record.get("tenant_id"), lim.max_id_chars),
            "source": SOURCE,
            "event_type": f.text("metric" if event_type is None else "event_type",
                                 event_type if metric is None else metric, lim.max_id_chars),
        }
        stamp = record.get("timestamp")
        out["event_time"] = ctx.now_ms if stamp is None else f.event_time(
            "timestamp", f.rfc3339_millis("timestamp", stamp), ctx.now_ms, lim)
        _common(out, record, ctx)
        out["properties"] = f.properties("properties", record.get("properties"), lim)
    except EventError as exc:
        return refused(index, exc, key)
    return Candidate(index, out, key=out["idempotency_key"])


def events(payload: Any, ctx: Context) -> tuple[list[Candidate], bool]:
    records, batch = items(payload, ctx, "events")
    return [event(i, item, ctx) for i, item in enumerate(records)], batch


def cloudevent(index: int, record: Any, ctx: Context) -> Candidate:
    """One structured-mode CloudEvent: `type` is the event type, `source` + " " + `id`
    the idempotency key, the tenant the `tenantid` extension or `data.tenant_id`."""
    if not isinstance(record, dict):
        return refused(index, EventError("(event)", f"must be a CloudEvent object, got "
                                                    f"{type(record).__name__}"))
    lim = ctx.limits
    try:
        if record.get("specversion") != "1.0":
            raise EventError("specversion", f"must be \"1.0\", got {record.get('specversion')!r:.40}")
        ce_id = f.text("id", record.get("id"), lim.max_id_chars)
        ce_source = f.text("source", record.get("source"), lim.max_id_chars)
        if any(c.isspace() for c in ce_source):  # ("urn:a b", "c") would share ("urn:a", "b c")'s key
            raise EventError("source", f"must be a URI reference, without blanks, got {ce_source!r:.60}")
        key = f"{ce_source} {ce_id}"
        if len(key) > lim.max_id_chars:
            raise EventError("id", f"source + id is {len(key)} characters, at most "
                                   f"{lim.max_id_chars} allowed")
        content_type = record.get("datacontenttype")
        if content_type is not None and not (
                isinstance(content_type, str)
                and content_type.split(";")[0].strip().lower().endswith(("/json", "+json"))):
            raise EventError("datacontenttype", f"must be JSON, got {content_type!r:.60}")
        if "data_base64" in record:
            raise EventError("data_base64", "binary data is not read; send `data` as JSON")
        data = f.object_at("data", record.get("data"))
        unknown = set(data) - CLOUDEVENT_DATA_FIELDS
        if unknown:
            raise EventError(f"data.{min(unknown)}", "is not a field (expected: "
                                                           f"{', '.join(sorted(CLOUDEVENT_DATA_FIELDS))})")
        tenant_field = "tenantid" if "tenantid" in record else "data.tenant_id"
        tenant = record.get("tenantid", data.get("tenant_id"))
        out: dict[str, Any] = {
            "idempotency_key": key,
            "tenant_id": f.text(tenant_field, tenant, lim.max_id_chars),
            "source": SOURCE,
            "event_type": f.text("type", record.get("type"), lim.max_id_chars),
        }
        stamp = record.get("time")
        out["event_time"] = ctx.now_ms if stamp is None else f.event_time(
            "time", f.rfc3339_millis("time", stamp), ctx.now_ms, lim)
        _common(out, data, ctx, "data.")
        props = f.properties("data.properties", data.get("properties"), lim)
        subject = record.get("subject")
        if subject is not None:
            props.setdefault("subject", f.text("subject", subject, lim.max_text_chars))
        out["properties"] = props
    except EventError as exc:
        ce_key = record.get("id")
        return refused(index, exc, f"{record.get('source')} {ce_key}" if ce_key else None)
    return Candidate(index, out, key=key)


def cloudevents(payload: Any, ctx: Context, batch: bool) -> tuple[list[Candidate], bool]:
    if batch and not isinstance(payload, list):
        raise Malformed("body", "application/cloudevents-batch+json must be a JSON array")
    if not batch and not isinstance(payload, dict):
        raise Malformed("body", "application/cloudevents+json must be one JSON object")
    records, _ = items(payload, ctx, "CloudEvents")
    return [cloudevent(i, item, ctx) for i, item in enumerate(records)], batch
