"""The generated encoder writes exactly fastavro's bytes, and refuses what fastavro refuses."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aforo import events
from aforo.generate import TrafficSpec, Truth, generate
from ingest import avro
from ingest.avro import SCHEMA_JSON, checked_event, compile_encoder, encode, long_bytes

BASE: dict[str, Any] = {
    "idempotency_key": "k-1", "tenant_id": "acme", "source": "kong", "event_type": "api_call",
    "event_time": 1795774512341, "api": "payments", "route": "/v1/charges", "method": "POST",
    "status": 201, "latency_ms": 44, "request_bytes": 412, "response_bytes": 1137,
    "value": "12.50", "properties": {"region": "eu", "ключ": "значение ✓"},
}


@pytest.mark.parametrize("change", [
    {}, {"api": None, "route": None, "method": None, "status": None, "latency_ms": None,
         "request_bytes": None, "response_bytes": None, "value": None},
    {"properties": {}}, {"event_time": 0}, {"event_time": -1}, {"event_time": 2**63 - 1},
    {"latency_ms": 2**31 - 1}, {"status": -(2**31)}, {"request_bytes": 2**63 - 1},
    {"response_bytes": -(2**63)}, {"tenant_id": ""}, {"idempotency_key": "x" * 70_000},
    {"latency_ms": 8191}, {"latency_ms": 8192}, {"latency_ms": -8193},
])
def test_same_bytes_as_fastavro(change: dict[str, Any]) -> None:
    event = {**BASE, **change}
    assert encode(event) == events.encode(event)


def test_round_trip() -> None:
    decoded = events.decode(encode(BASE))
    assert decoded["properties"] == BASE["properties"]
    assert events.to_millis(decoded["event_time"]) == BASE["event_time"]


def test_defaults_fill_missing_optional_fields() -> None:
    event = {k: BASE[k] for k in ("idempotency_key", "tenant_id", "source", "event_type",
                                  "event_time")}
    assert encode(event) == events.encode(event)


def test_random_events_match_fastavro() -> None:
    rng = random.Random(7)
    for _ in range(500):
        event = dict(BASE)
        for name in ("api", "route", "method"):
            event[name] = rng.choice([None, "", "x" * rng.randint(1, 300)])
        event["value"] = rng.choice([None, "0.5", str(rng.randint(0, 10**30))])
        for name in ("status", "latency_ms"):
            event[name] = rng.choice([None, rng.randint(-(2**31), 2**31 - 1)])
        for name in ("request_bytes", "response_bytes", "event_time"):
            event[name] = rng.randint(-(2**63), 2**63 - 1)
        event["properties"] = {f"p{i}": str(rng.random()) for i in range(rng.randint(0, 70))}
        assert encode(event) == events.encode(event)


@pytest.mark.parametrize("change, field, problem", [
    ({"status": "200"}, "status", "must be an int, got str '200'"),
    ({"latency_ms": 2**31}, "latency_ms", "must be an int"),
    ({"event_time": 1.5}, "event_time", "must be an long, got float 1.5"),
    ({"tenant_id": None}, "tenant_id", "must be a string, got NoneType"),
    ({"properties": {"a": 1}}, "properties.a", "keys and values must be strings"),
    ({"colour": "red"}, "colour", "is not a field of UsageEvent"),
])
def test_wrong_types_name_the_field(change: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(events.EventError) as caught:
        encode({**BASE, **change})
    assert caught.value.field == field
    assert caught.value.problem.startswith(problem)


def test_a_missing_required_field() -> None:
    event = dict(BASE)
    del event["tenant_id"]
    with pytest.raises(events.EventError, match="tenant_id: is missing"):
        encode(event)


def test_an_unknown_type_falls_back_to_fastavro() -> None:
    schema = {**SCHEMA_JSON, "fields": [*SCHEMA_JSON["fields"],
                                        {"name": "ratio", "type": ["null", "double"],
                                         "default": None}]}
    assert compile_encoder(schema) is events.encode


@pytest.mark.parametrize("n, expected", [(0, b"\x00"), (-1, b"\x01"), (1, b"\x02"),
                                         (63, b"\x7e"), (64, b"\x80\x01"), (-65, b"\x81\x01")])
def test_zigzag_varints(n: int, expected: bytes) -> None:
    assert long_bytes(n) == expected


@given(st.integers(-(1 << 63), (1 << 63) - 1))
def test_zigzag_varints_agree_with_fastavro(n: int) -> None:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, "long", n)
    assert long_bytes(n) == out.getvalue()


def _generated_events(n: int) -> list[tuple[dict[str, Any], bytes]]:
    """The traffic generator's valid events (decoded) and their fastavro bytes."""
    spec = TrafficSpec(events=n, seed=11, payment_rate=0.3)
    out = []
    for _, value, kind in generate(spec, Truth()):
        if not kind.startswith("malformed"):
            event = events.decode(value)
            event["event_time"] = events.to_millis(event["event_time"])
            out.append((event, value))
    return out


def test_generated_traffic_encodes_as_fastavro_does() -> None:
    """Real events, twice: the second time most strings come from the caches."""
    for _ in range(2):
        for event, value in _generated_events(3000):
            assert encode(event) == value
            assert checked_event(*(event[name] for name, _ in avro._EVENT_FIELDS)) == value


def test_checked_event_follows_the_schema_file() -> None:
    assert checked_event is avro._checked_event
    args = [BASE[name] for name, _ in avro._EVENT_FIELDS]
    assert avro._checked_event_by_schema(*args) == checked_event(*args) == events.encode(BASE)


def test_the_caches_stay_bounded_and_keep_only_short_strings() -> None:
    for i in range(avro._CACHE_MAX + 10):
        event = {**BASE, "api": f"api-{i}", "route": "r" * (avro._CACHE_CHARS + 1)}
        assert encode(event) == events.encode(event)
    caches = [v for v in avro.encode.__globals__.values() if isinstance(v, dict)]
    assert caches and all(len(c) <= avro._CACHE_MAX for c in caches)
    assert not any("r" * (avro._CACHE_CHARS + 1) in c for c in caches)


@pytest.mark.parametrize("change, field", [
    ({"idempotency_key": "k-\ud800"}, "idempotency_key"),
    ({"api": "\udfff"}, "api"),
    ({"properties": {"region": "\ud800"}}, "properties.region"),
])
def test_a_lone_surrogate_names_the_field(change: dict[str, Any], field: str) -> None:
    """JSON allows "\\ud800"; UTF-8 cannot carry it: a 422 naming the field, not a 500."""
    with pytest.raises(events.EventError) as caught:
        encode({**BASE, **change})
    assert caught.value.field == field
    with pytest.raises(events.EventError):
        events.encode({**BASE, **change})  # fastavro refuses it too
