"""Kong's bundled http-log plugin: `kong.log.serialize()` as JSON, one object or an
array (queue.max_batch_size > 1). Key: request.id (Kong >= 3.5; before that the
X-Kong-Request-Id / Kong-Request-ID header of the correlation-id plugin, which keeps a
value the caller sent: joined with started_at, so a caller repeating one id is not
deduplicated into one call, and a resent log record keeps its key). Tenant:
consumer.custom_id, consumer.id or consumer.username, whichever the catalog knows."""

from __future__ import annotations

from typing import Any

from aforo.events import EventError
from ingest import fields as f
from ingest.records import Candidate, Context, api_call, credentials, each, no_credential

SOURCE = "kong"
_ID_HEADERS = ("x-kong-request-id", "kong-request-id", "x-request-id")


def _route_path(route: dict[str, Any]) -> Any:
    paths = route.get("paths")
    if isinstance(paths, list) and paths and isinstance(paths[0], str):
        return paths[0]
    return route.get("name")


def record(index: int, rec: dict[str, Any], ctx: Context) -> Candidate:
    lim = ctx.limits
    request = f.object_at("request", rec.get("request"))
    response = f.object_at("response", rec.get("response"))
    latencies = f.object_at("latencies", rec.get("latencies"))
    consumer = f.object_at("consumer", rec.get("consumer"))
    route = f.object_at("route", rec.get("route"))
    service = f.object_at("service", rec.get("service"))
    headers = f.object_at("request.headers", request.get("headers"))
    started = f.epoch_millis("started_at", rec.get("started_at"))
    key_field, key = "request.id", request.get("id")
    if key is None:
        for name in _ID_HEADERS:
            if isinstance(headers.get(name), str):
                key_field, key = f"request.headers.{name}", headers[name]
                if started is None:
                    raise EventError("started_at", "is missing: a request id header (which"
                                     " the caller can set) is unique only with it")
                key = f"{key}@{started}"
                break
    key = f.text(key_field, key, lim.max_id_chars)
    creds = credentials(("consumer.custom_id", consumer.get("custom_id")),
                        ("consumer.id", consumer.get("id")),
                        ("consumer.username", consumer.get("username")))
    if not creds:
        raise no_credential("consumer")
    event = api_call(
        SOURCE, key,
        ctx.now_ms if started is None else f.event_time("started_at", started, ctx.now_ms, lim),
        api=f.gateway_text("service.name", service.get("name"), lim.max_text_chars),
        route=f.gateway_text("route.paths", _route_path(route), lim.max_text_chars),
        method=f.gateway_text("request.method", request.get("method"), lim.max_text_chars),
        status=f.status("response.status", response.get("status"), from_text=True),
        latency_ms=f.int32("latencies.request", latencies.get("request"), from_text=True),
        request_bytes=f.integer("request.size", request.get("size"), from_text=True),
        response_bytes=f.integer("response.size", response.get("size"), from_text=True),
        properties={
            "kong_route": f.gateway_text("route.name", route.get("name"), lim.max_text_chars),
            "workspace": f.gateway_text("workspace_name", rec.get("workspace_name"),
                                         lim.max_text_chars),
        },
    )
    return Candidate(index, event, credentials=creds, key=key)


def parse(records: list[tuple[str, Any]], ctx: Context) -> list[Candidate]:
    return each(records, lambda i, rec: record(i, rec, ctx))
