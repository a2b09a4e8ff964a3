"""nginx access logs in the `log_format aforo escape=json` of docs/ingestion.md, as
NDJSON over HTTP or one line a UDP syslog datagram.
Key: request_id ($request_id). Tenant: api_key (the API-key request header), via the catalog."""

from __future__ import annotations

import re
from typing import Any

from aforo.events import EventError
from ingest import fields as f
from ingest.body import parse_json
from ingest.errors import Malformed
from ingest.records import Candidate, Context, api_call, credentials, each, no_credential, refused

SOURCE = "nginx"
# RFC 3164 as nginx writes it: "<190>Nov 27 18:00:00 host tag: message" (host optional,
# and without a colon: else, with `nohostname`, "nginx: " read as a host left the tag to
# match a message's first `{"request_id": `, in a log_format with blanks).
_SYSLOG_HEADER = re.compile(rb"<\d{1,3}>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (?:[^\s:]+ )?[^\s:]+: ")


def record(index: int, rec: dict[str, Any], ctx: Context) -> Candidate:
    lim = ctx.limits
    key = f.text("request_id", rec.get("request_id"), lim.max_id_chars)
    creds = credentials(("api_key", rec.get("api_key")))
    if not creds:
        raise no_credential("api_key")
    at = f.epoch_seconds_millis("msec", rec.get("msec"))
    event = api_call(
        SOURCE, key, ctx.now_ms if at is None else f.event_time("msec", at, ctx.now_ms, lim),
        api=f.gateway_text("api", rec.get("api") or rec.get("host"), lim.max_text_chars),
        route=f.gateway_text("route", rec.get("route") or rec.get("uri"), lim.max_text_chars),
        method=f.gateway_text("request_method", rec.get("request_method"), lim.max_text_chars),
        status=f.status("status", rec.get("status"), from_text=True),
        latency_ms=f.millis_from_seconds("request_time", rec.get("request_time")),
        request_bytes=f.integer("request_length", rec.get("request_length"), from_text=True),
        response_bytes=f.integer("bytes_sent", rec.get("bytes_sent"), from_text=True),
        properties={},
    )
    return Candidate(index, event, credentials=creds, key=key)


def parse(records: list[tuple[str, Any]], ctx: Context) -> list[Candidate]:
    return each(records, lambda i, rec: record(i, rec, ctx))


def syslog_message(datagram: bytes) -> bytes:
    """The JSON of one syslog datagram (the header stripped when there is one)."""
    match = _SYSLOG_HEADER.match(datagram)
    return datagram[match.end():] if match else datagram


def utf8(data: bytes) -> bytes:
    """The log text as UTF-8. escape=json leaves bytes from 0x80 up as they came, so a
    request to `/v1/%ff` logs a byte that is not UTF-8: it is read as U+FFFD, and the call
    is metered (refusing the line would let any caller off by adding %ff to a path)."""
    return data.decode(errors="replace").encode()


def datagram(index: int, data: bytes, ctx: Context) -> Candidate:
    try:
        rec = parse_json(utf8(syslog_message(data).strip()), "datagram")
    except Malformed as exc:
        return refused(index, EventError(exc.field, exc.problem))
    return each([("datagram", rec)], lambda i, r: record(index, r, ctx))[0]
