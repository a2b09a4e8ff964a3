"""AWS API Gateway access logs, in the JSON format of docs/ingestion.md, arriving
by Kinesis Firehose (HTTP endpoint delivery) or a CloudWatch Logs subscription.

Key: extendedRequestId (made by API Gateway; requestId can be set by a client).
Tenant: apiKeyId, else the authorizer's principalId, looked up in the catalog.
A JSON access-log template quotes every value, so numbers arrive as strings and
"-" means none.
"""

from __future__ import annotations

from typing import Any

from aforo.events import EventError
from ingest import fields as f
from ingest.body import Budget, b64decode, gunzip, is_gzip, parse_json
from ingest.errors import Malformed, TooLarge
from ingest.records import Candidate, Context, api_call, credentials, no_credential, refused

SOURCE = "aws-apigw"


def access_log(index: int, rec: Any, ctx: Context, fallback_ms: int | None = None) -> Candidate:
    """One access-log line (already parsed JSON)."""
    if not isinstance(rec, dict):
        return refused(index, EventError("(log line)", "must be a JSON object (use the JSON "
                                                       "access-log format)"))
    lim = ctx.limits
    try:
        key = f.text("extendedRequestId", rec.get("extendedRequestId"), lim.max_id_chars)
        creds = credentials(("apiKeyId", rec.get("apiKeyId")),
                            ("principalId", rec.get("principalId")))
        if not creds:
            raise no_credential("apiKeyId")
        at = f.epoch_millis("requestTimeEpoch", rec.get("requestTimeEpoch"))
        at = fallback_ms if at is None else at
        event = api_call(
            SOURCE, key,
            ctx.now_ms if at is None else f.event_time("requestTimeEpoch", at, ctx.now_ms, lim),
            api=f.gateway_text("apiId", rec.get("apiId"), lim.max_text_chars),
            route=f.gateway_text("resourcePath", rec.get("resourcePath") or rec.get("routeKey"),
                                  lim.max_text_chars),
            method=f.gateway_text("httpMethod", rec.get("httpMethod"), lim.max_text_chars),
            status=f.status("status", rec.get("status"), from_text=True),
            latency_ms=f.int32("responseLatency", rec.get("responseLatency"), from_text=True),
            request_bytes=f.integer("requestLength", rec.get("requestLength"), from_text=True),
            response_bytes=f.integer("responseLength", rec.get("responseLength"), from_text=True),
            properties={
                "stage": f.gateway_text("stage", rec.get("stage"), lim.max_text_chars),
                "request_id": f.gateway_text("requestId", rec.get("requestId"), lim.max_id_chars),
            },
        )
    except EventError as exc:
        return refused(index, exc, rec.get("extendedRequestId"))
    return Candidate(index, event, credentials=creds, key=key)


def cloudwatch_payload(data: Any, ctx: Context, start: int, field: str) -> list[Candidate]:
    """A decoded CloudWatch Logs subscription payload; CONTROL_MESSAGE yields nothing."""
    if not isinstance(data, dict):
        raise Malformed(field, "must be a CloudWatch Logs JSON object")
    kind = data.get("messageType")
    if kind == "CONTROL_MESSAGE":
        return []
    if kind != "DATA_MESSAGE":
        raise Malformed(f"{field}.messageType", f"must be DATA_MESSAGE or CONTROL_MESSAGE, "
                                                f"got {kind!r:.40}")
    log_events = data.get("logEvents")
    if not isinstance(log_events, list):
        raise Malformed(f"{field}.logEvents", "must be an array")
    if len(log_events) > ctx.limits.max_gateway_records:
        raise TooLarge(f"{field}.logEvents", f"{len(log_events)} log events, at most "
                                             f"{ctx.limits.max_gateway_records} allowed")
    out = []
    for offset, item in enumerate(log_events):
        index = start + offset
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            out.append(refused(index, EventError(f"logEvents[{offset}].message", "is missing")))
            continue
        try:
            rec = parse_json(item["message"], f"logEvents[{offset}].message")
            stamp = f.epoch_millis(f"logEvents[{offset}].timestamp", item.get("timestamp"))
        except Malformed as exc:
            out.append(refused(index, EventError(exc.field, exc.problem)))
            continue
        except EventError as exc:
            out.append(refused(index, exc))
            continue
        out.append(access_log(index, rec, ctx, stamp))
    return out


def cloudwatch(body: Any, ctx: Context, budget: Budget) -> list[Candidate]:
    """`{"awslogs": {"data": base64(gzip(json))}}`, as a subscription hands it to Lambda."""
    awslogs = body.get("awslogs") if isinstance(body, dict) else None
    if not isinstance(awslogs, dict):
        raise Malformed("awslogs", "must be {\"awslogs\": {\"data\": \"<base64 gzip JSON>\"}}")
    raw = b64decode(awslogs.get("data"), "awslogs.data", budget.limit)
    return cloudwatch_payload(parse_json(gunzip(raw, budget, "awslogs.data"), "awslogs.data"),
                              ctx, 0, "awslogs.data")


def firehose(body: Any, ctx: Context, budget: Budget) -> tuple[str, list[Candidate]]:
    """A Firehose HTTP endpoint delivery: (its requestId, candidates). A record holds
    one or more access-log lines, or (CloudWatch Logs -> Firehose) a gzipped
    subscription payload."""
    if not isinstance(body, dict):
        raise Malformed("body", "must be a Firehose delivery object")
    request_id = body.get("requestId")
    if not isinstance(request_id, str) or not request_id:
        raise Malformed("requestId", "is missing")
    records = body.get("records")
    if not isinstance(records, list):
        raise Malformed("records", "must be an array")
    if len(records) > ctx.limits.max_gateway_records:
        raise TooLarge("records", f"{len(records)} records, at most "
                                  f"{ctx.limits.max_gateway_records} allowed")
    out: list[Candidate] = []
    for n, item in enumerate(records):
        field = f"records[{n}].data"
        try:
            raw = b64decode(item.get("data") if isinstance(item, dict) else None, field, budget.limit)
            if is_gzip(raw):
                payload = parse_json(gunzip(raw, budget, field), field)
                out.extend(cloudwatch_payload(payload, ctx, len(out), field))
                continue
        except Malformed as exc:
            # Refused on its own (counted, logged): an error for the whole delivery would have
            # Firehose retry its good records with it until it gives up on all of them.
            out.append(refused(len(out), EventError(exc.field, exc.problem)))
            continue
        budget.take(len(raw), field)
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = parse_json(line, field)
            except Malformed as exc:
                out.append(refused(len(out), EventError(exc.field, exc.problem)))
                continue
            out.append(access_log(len(out), rec, ctx))
        if len(out) > ctx.limits.max_gateway_records:
            raise TooLarge("records", f"more than {ctx.limits.max_gateway_records} log lines")
    return request_id, out
