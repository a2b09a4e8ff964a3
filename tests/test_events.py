"""The Avro contract through the real broker: round trip, bad input, malformed records."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from click.testing import CliRunner, Result

from aforo.cli import events as cli_events
from aforo.events import EventError, EventProducer, decode, encode, read_topic
from aforo.generate import TrafficSpec, Truth, generate
from aforo.settings import Settings

pytestmark = pytest.mark.kafka


def _event(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "idempotency_key": "req-1", "tenant_id": "acme", "source": "kong", "event_type": "api_call",
        "event_time": datetime(2026, 11, 3, 12, 30, tzinfo=UTC), "api": "maps",
        "route": "/v1/route", "method": "GET", "status": 200, "latency_ms": 17,
        "request_bytes": 512, "response_bytes": 40_000, "value": "0.000000000001",
        "properties": {"compute_ms": "12.5", "region": "eu-west-1"},
    }
    base.update(changes)
    return base


def test_round_trip_10000_events_field_by_field(settings, fresh_topic):
    spec = TrafficSpec(events=10_000, seed=7, duplicate_rate=0, malformed_rate=0, payment_rate=0.3)
    sent = [decode(value) for _, value, _ in generate(spec, Truth())]
    # Decimal edge cases ride along: huge, tiny and many-digit amounts stay exact.
    sent += [_event(idempotency_key=f"edge-{i}", value=v)
             for i, v in enumerate(["123456789012345678901234567890.123456789012",
                                    "0.000000000001", "-0", "1E+3"])]
    with EventProducer(settings.kafka.bootstrap, fresh_topic) as producer:
        for event in sent:
            producer.send(event)
    received = {r.event["idempotency_key"]: r.event for r in read_topic(settings.kafka.bootstrap, fresh_topic)
                if r.event is not None}
    assert len(received) == len(sent) == 10_004
    for event in sent:
        assert received[event["idempotency_key"]] == event
    assert received["edge-0"]["value"] == "123456789012345678901234567890.123456789012"


@pytest.mark.parametrize(
    ("changes", "field", "problem"),
    [
        ({"tenant_id": None}, "tenant_id", "expected string"),
        ({"status": "200"}, "status", "of type <class 'str'>"),
        ({"value": 1.5}, "value", "must be a decimal string, got float"),
        ({"value": "1,5"}, "value", "not a decimal number"),
        ({"value": "NaN"}, "value", "must be finite"),
        ({"properties": {"compute_ms": 12}}, "properties", "of type <class 'int'>"),
        ({"colour": "red"}, "colour", "is not a field of UsageEvent"),
    ],
)
def test_producer_refuses_schema_invalid_event_naming_the_field(settings, fresh_topic, changes, field, problem):
    with EventProducer(settings.kafka.bootstrap, fresh_topic) as producer:
        with pytest.raises(EventError) as err:
            producer.send(_event(**changes))
    assert err.value.field == field
    assert problem in str(err.value)
    assert str(err.value).startswith(f"{field}: ")
    assert list(read_topic(settings.kafka.bootstrap, fresh_topic)) == []


def test_missing_field_is_named():
    event = _event()
    del event["source"]
    with pytest.raises(EventError, match=r"^source: "):
        encode(event)


def test_malformed_record_in_topic_is_visible_not_fatal(settings, fresh_topic):
    with EventProducer(settings.kafka.bootstrap, fresh_topic) as producer:
        producer.send(_event(idempotency_key="before"))
        producer.send_raw(b"\x00\xff not avro at all \xff\xff\xff\xff", key=b"bad")
        producer.send_raw(encode(_event())[:9], key=b"truncated")
        producer.send(_event(idempotency_key="after"))
    records = list(read_topic(settings.kafka.bootstrap, fresh_topic))
    assert len(records) == 4
    good = sorted(r.event["idempotency_key"] for r in records if r.event)
    bad = [r for r in records if r.error]
    assert good == ["after", "before"]
    assert {r.key for r in bad} == {b"bad", b"truncated"}
    assert all(r.error.startswith("(bytes): not a UsageEvent") for r in bad)
    assert bad[0].raw  # the original bytes are kept for the dead-letter path



def read_cli(settings: Settings, topic: str) -> Result:
    """`aforo topic read --topic <topic>` in-process with these settings."""
    return CliRunner().invoke(cli_events.topic, ["read", "--topic", topic],
                              obj=SimpleNamespace(get=lambda: settings))


def test_topic_read_names_a_missing_topic_and_its_role(settings, kafka):
    read = read_cli(settings, "dead_letters")  # made by `stack up`
    assert read.exit_code == 0 and read.output.startswith("aforo.dead-letters: "), read.output

    result = read_cli(settings, "nosuch")
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: topic 'nosuch' does not exist at {settings.kafka.bootstrap}\n"

    dead_letters = settings.kafka.topics["dead_letters"].model_copy(update={"name": "gone"})
    kafka = settings.kafka.model_copy(update={"topics": {**settings.kafka.topics, "dead_letters": dead_letters}})
    result = read_cli(settings.model_copy(update={"kafka": kafka}), "dead_letters")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: topic 'gone' (dead_letters) does not exist at ")


def test_generate_says_when_kafka_cannot_be_reached_within_seconds(settings, tmp_path):
    down = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"port": 1})})
    started = time.monotonic()
    result = CliRunner().invoke(cli_events.generate, ["-n", "10", "--truth", str(tmp_path / "truth.json")],
                                obj=SimpleNamespace(get=lambda: down))
    waited = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert waited < 4, f"took {waited:.1f}s (the producer's message timeout is 30 s)"
    # one line: neither DeliveryFailed's traceback nor librdkafka's log of every failed connect
    assert result.stderr == ("error: Kafka at 127.0.0.1:1 cannot be reached to write topic"
                             " 'aforo.usage-events' (usage_events) (is the stack up? `aforo stack up`)\n")
    assert not (tmp_path / "truth.json").exists()


def test_topic_read_says_when_kafka_cannot_be_reached_within_seconds(settings):
    down = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"port": 1})})
    started = time.monotonic()
    result = read_cli(down, "usage_events")
    waited = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert waited < 4, f"took {waited:.1f}s (librdkafka's metadata timeout is 10 s)"
    # one line: neither a traceback nor librdkafka's log of every failed connect
    assert result.stderr == ("error: Kafka at 127.0.0.1:1 cannot be reached to read topic"
                             " 'aforo.usage-events' (usage_events) (is the stack up? `aforo stack up`)\n")
