"""Azure API Management: the JSON body of the `send-one-way-request` policy in
docs/ingestion.md, one object or an array. Key: requestId (context.RequestId).
Tenant: subscriptionId (context.Subscription.Id), else userId (context.User.Id)."""

from __future__ import annotations

from typing import Any

from ingest import fields as f
from ingest.records import Candidate, Context, api_call, credentials, each, no_credential

SOURCE = "azure-apim"


def record(index: int, rec: dict[str, Any], ctx: Context) -> Candidate:
    lim = ctx.limits
    key = f.text("requestId", rec.get("requestId"), lim.max_id_chars)
    creds = credentials(("subscriptionId", rec.get("subscriptionId")), ("userId", rec.get("userId")))
    if not creds:
        raise no_credential("subscriptionId")
    stamp = rec.get("timestamp")
    at = ctx.now_ms if stamp is None else f.event_time(
        "timestamp", f.rfc3339_millis("timestamp", stamp), ctx.now_ms, lim)
    event = api_call(
        SOURCE, key, at,
        api=f.gateway_text("apiId", rec.get("apiId"), lim.max_text_chars),
        route=f.gateway_text("urlTemplate", rec.get("urlTemplate") or rec.get("path"),
                              lim.max_text_chars),
        method=f.gateway_text("method", rec.get("method"), lim.max_text_chars),
        status=f.status("statusCode", rec.get("statusCode"), from_text=True),
        latency_ms=f.round_millis("elapsedMs", rec.get("elapsedMs")),
        request_bytes=f.integer("requestSize", rec.get("requestSize"), from_text=True),
        response_bytes=f.integer("responseSize", rec.get("responseSize"), from_text=True),
        properties={
            "product": f.gateway_text("productId", rec.get("productId"), lim.max_text_chars),
            "operation": f.gateway_text("operationId", rec.get("operationId"), lim.max_text_chars),
            "region": f.gateway_text("region", rec.get("region"), lim.max_text_chars),
        },
    )
    return Candidate(index, event, credentials=creds, key=key)


def parse(records: list[tuple[str, Any]], ctx: Context) -> list[Candidate]:
    return each(records, lambda i, rec: record(i, rec, ctx))
