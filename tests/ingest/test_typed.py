"""The typed path of /v1/events agrees with the checked path on every event: the
same events accepted, the same refusals with the same field and problem."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aforo import events
from aforo.generate import TrafficSpec, Truth, generate
from ingest.body import parse_json
from ingest.config import Limits
from ingest.errors import IngestError
from ingest.formats import collector, typed
from ingest.records import Candidate, Context

NOW_MS = 1795773600000
CTX = Context(Limits(max_id_chars=16, max_text_chars=32, max_properties=2,
                     max_property_key_chars=8, max_batch_events=100), NOW_MS)
GOOD = {"tenant_id": "acme", "metric": "api_call", "idempotency_key": "k-1",
        "timestamp": "2026-11-27T10:00:00.123Z", "api": "payments", "route": "/v1/charges",
        "method": "POST", "status": 200, "latency_ms": 12, "request_bytes": 310,
        "response_bytes": 1234, "properties": {"region": "eu-west-1"}}


def _variant(**change: Any) -> dict[str, Any]:
    event = {**GOOD, **change}
    return {k: v for k, v in event.items() if v is not _DROP}


_DROP = object()

EVENTS = [
    GOOD,
    {"tenant_id": "acme", "event_type": "payment", "idempotency_key": "k"},
    _variant(metric=_DROP, event_type="payment"),
    _variant(event_type="api_call"),
    _variant(event_type="other"),
    _variant(metric=_DROP),
    _variant(metric=None, event_type=None),
    _variant(metric=""),
    _variant(metric="  "),
    _variant(tenant_id=_DROP),
    _variant(tenant_id=None),
    _variant(tenant_id=7),
    _variant(tenant_id=" "),
    _variant(tenant_id="x" * 17),
    _variant(idempotency_key="x" * 16),
    _variant(typo=1),
    _variant(timestamp=None),
    _variant(timestamp="2026-11-27T11:00:00+01:00"),
    _variant(timestamp="2026-11-27T09:00:00.5-01:30"),
    _variant(timestamp="2026-11-27 10:00:00.1234567z"),
    _variant(timestamp="2026-11-27T10:00:60Z"),
    _variant(timestamp="2026-02-30T10:00:00Z"),
    _variant(timestamp="2026-11-27T24:00:00Z"),
    _variant(timestamp="2026-11-27T10:00:00+24:00"),
    _variant(timestamp="2026-11-27T10:00:00"),
    _variant(timestamp="1999-12-31T23:59:59Z"),
    _variant(timestamp="2030-01-01T00:00:00Z"),
    _variant(timestamp=1795773600000),
    _variant(api=None, route="", method="-"),
    _variant(api=" "),
    _variant(api="x" * 33),
    _variant(api=5),
    _variant(status=99),
    _variant(status=600),
    _variant(status="200"),
    _variant(status=200.0),
    _variant(status=True),
    _variant(latency_ms=-1),
    _variant(latency_ms=1 << 31),
    _variant(request_bytes=(1 << 63) - 1),
    _variant(request_bytes=1 << 63),
    _variant(response_bytes=10 ** 30),
    _variant(properties=None),
    _variant(properties={}),
    _variant(properties={"a": "1", "b": "2", "c": "3"}),
    _variant(properties={"": "x"}),
    _variant(properties={"x" * 9: "x"}),
    _variant(properties={"a": "x" * 33}),
    _variant(properties={"n": 5}),
    _variant(properties={"n": None}),
    _variant(properties=["a"]),
]
# Values are sent as JSON text: numbers as written, never through a float.
VALUES = ['12.50', '"12.50"', '" 7 "', '0', '-0', '"-0"', '1E+3', '1e-7', '"abc"', '""', '"-"',
          'null', 'true', '[1]', '-0.01', '"NaN"', '"Infinity"', '1' * 39, '"0.' + '0' * 18 + '1"',
          '"' + '0' * 70 + '1"', '"1\\u0032"', '99999999999999999999999999999999999999']


def _seen(candidates: list[Candidate]) -> list[tuple[Any, ...]]:
    return [(c.index, c.event, c.key, c.reason,
             None if c.error is None else (c.error.field, c.error.problem)) for c in candidates]


def _checked(body: bytes) -> Any:
    try:
        candidates, batch = collector.events(parse_json(body), CTX)
    except IngestError as exc:
        return type(exc), exc.field, exc.problem
    return _seen(candidates), batch


def _typed(body: bytes) -> Any:
    try:
        candidates, batch = typed.events(body, CTX)
    except IngestError as exc:
        return type(exc), exc.field, exc.problem
    return _seen(candidates), batch


def _with_value(text: str) -> bytes:
    return json.dumps(GOOD)[:-1].encode() + b', "value": ' + text.encode() + b"}"


def test_the_typed_struct_has_the_fields_of_an_event() -> None:
    assert set(typed._Event.__struct_fields__) == collector.EVENT_FIELDS


@pytest.mark.parametrize("event", EVENTS)
def test_one_event_the_same_either_way(event: dict[str, Any]) -> None:
    body = json.dumps(event).encode()
    assert _typed(body) == _checked(body)


@pytest.mark.parametrize("value", VALUES)
def test_values_the_same_either_way(value: str) -> None:
    body = _with_value(value)
    assert _typed(body) == _checked(body)


def test_a_mixed_batch_the_same_either_way() -> None:
    body = b"[" + b",".join([json.dumps(e).encode() for e in EVENTS]
                            + [_with_value(v) for v in VALUES] + [b"5", b'"x"', b"[]"]) + b"]"
    typed_seen, checked_seen = _typed(body), _checked(body)
    assert typed_seen == checked_seen
    accepted = [event for _, event, *_ in typed_seen[0] if event is not None]
    assert 10 < len(accepted) < len(EVENTS) + len(VALUES)


@pytest.mark.parametrize("body", [
    b"", b" ", b"{", b"[", b'[{"tenant_id": "acme",', b"42", b'"x"', b"null", b"[]",
    b'{"value": NaN}', b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000,
    b"[" + b"{}," * 100 + b"{}]", b' \n[{"tenant_id": "acme"}] ', b'{"tenant_id": "\xff"}',
])
def test_bodies_the_same_either_way(body: bytes) -> None:
    assert _typed(body) == _checked(body)


def _messages_are_the_events(candidates: list[Candidate]) -> int:
    """Each message the typed path made is the event's key and fastavro's bytes."""
    made = 0
    for c in candidates:
        if c.message is not None:
            assert c.event is not None and not c.credentials
            assert c.message == (events.message_key(c.event), events.encode(c.event))
            made += 1
    return made


def test_the_messages_of_the_mixed_batch_are_fastavros() -> None:
    body = b"[" + b",".join([json.dumps(e).encode() for e in EVENTS]
                            + [_with_value(v) for v in VALUES]) + b"]"
    candidates, _ = typed.events(body, CTX)
    accepted = sum(c.event is not None for c in candidates)
    assert 10 < _messages_are_the_events(candidates) <= accepted


def _as_sent(event: dict[str, Any]) -> dict[str, Any]:
    """A generated event as a sender would post it to /v1/events."""
    sent = {k: v for k, v in event.items() if v is not None and k not in ("source", "event_time",
                                                                          "event_type")}
    sent["metric"] = event["event_type"]
    sent["timestamp"] = event["event_time"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return sent


def test_generated_traffic_in_batches_agrees_with_the_checked_path_and_fastavro(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Real events (the traffic generator's), whole batches on the one-call typed decode."""
    sent = [_as_sent(events.decode(value)) for _, value, kind in
            generate(TrafficSpec(events=2000, seed=5, payment_rate=0.3), Truth())
            if not kind.startswith("malformed")]
    ctx = Context(Limits(), 1796000000000)
    for start in range(0, len(sent), 500):
        body = json.dumps(sent[start:start + 500]).encode()
        with monkeypatch.context() as patch:
            patch.setattr(collector, "event", None)  # the typed path takes every one
            candidates, batch = typed.events(body, ctx)
        checked, _ = collector.events(parse_json(body), ctx)
        assert batch and _seen(candidates) == _seen(checked)
        assert _messages_are_the_events(candidates) == len(candidates)
