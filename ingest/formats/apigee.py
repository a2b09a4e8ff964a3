"""Apigee: a JavaScript policy (or a MessageLogging forwarder) in the PostClientFlow
posting flow variables as JSON, keyed by the variables' own names
(`"response.status.code": 200`); one object, an array or NDJSON.
Key: messageid. Tenant: client_id (the app's consumer key), else developer.app.name."""

from __future__ import annotations

from typing import Any

from ingest import fields as f
from ingest.records import Candidate, Context, api_call, credentials, each, no_credential

SOURCE = "apigee"


def record(index: int, rec: dict[str, Any], ctx: Context) -> Candidate:
    lim = ctx.limits
    key = f.text("messageid", rec.get("messageid"), lim.max_id_chars)
    creds = credentials(("client_id", rec.get("client_id")),
                        ("developer.app.name", rec.get("developer.app.name")))
    if not creds:
        raise no_credential("client_id")
    start = f.epoch_millis("client.received.start.timestamp",
                           rec.get("client.received.start.timestamp"))
    end = f.epoch_millis("client.sent.end.timestamp", rec.get("client.sent.end.timestamp"))
    latency = None
    if start is not None and end is not None:
        latency = f.int32("client.sent.end.timestamp", end - start)
    event = api_call(
        SOURCE, key,
        ctx.now_ms if start is None else f.event_time(
            "client.received.start.timestamp", start, ctx.now_ms, lim),
        api=f.gateway_text("apiproxy.name", rec.get("apiproxy.name"), lim.max_text_chars),
        route=f.gateway_text("proxy.pathsuffix", rec.get("proxy.pathsuffix"), lim.max_text_chars),
        method=f.gateway_text("request.verb", rec.get("request.verb"), lim.max_text_chars),
        status=f.status("response.status.code", rec.get("response.status.code"), from_text=True),
        latency_ms=latency,
        request_bytes=f.integer("request.header.content-length",
                                rec.get("request.header.content-length"), from_text=True),
        response_bytes=f.integer("response.header.content-length",
                                 rec.get("response.header.content-length"), from_text=True),
        properties={
            "api_product": f.gateway_text("apiproduct.name", rec.get("apiproduct.name"),
                                           lim.max_text_chars),
            "developer_app": f.gateway_text("developer.app.name", rec.get("developer.app.name"),
                                             lim.max_text_chars),
            "environment": f.gateway_text("environment.name", rec.get("environment.name"),
                                           lim.max_text_chars),
        },
    )
    return Candidate(index, event, credentials=creds, key=key)


def parse(records: list[tuple[str, Any]], ctx: Context) -> list[Candidate]:
    return each(records, lambda i, rec: record(i, rec, ctx))
