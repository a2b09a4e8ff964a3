"""The usage-event contract: Avro encoding (fastavro) and a durable Kafka producer.

Wire format: plain Avro binary of schemas/usage_event.avsc, one event a Kafka
message, no registry framing; Flink's `avro` format reads exactly this.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from fastavro.validation import ValidationError, validate

from aforo.settings import PROJECT_ROOT

SCHEMA_PATH = PROJECT_ROOT / "schemas" / "usage_event.avsc"
FIELDS = [f["name"] for f in json.loads(SCHEMA_PATH.read_text())["fields"]]
_DECIMAL_FIELDS = ("value",)

log = logging.getLogger(__name__)


def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return fastavro.parse_schema(json.loads(path.read_text()))


SCHEMA = load_schema()


class EventError(ValueError):
    """An event that does not fit the contract; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _check_decimal(field: str, text: object) -> None:
    if text is None:
        return
    if not isinstance(text, str):
        raise EventError(field, f"must be a decimal string, got {type(text).__name__} {text!r}")
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise EventError(field, f"not a decimal number: {text!r}") from None
    if not d.is_finite():
        raise EventError(field, f"must be finite, got {text!r}")


def _explain(event: Mapping[str, Any]) -> EventError:
    unknown = sorted(set(event) - set(FIELDS))
    if unknown:
        return EventError(unknown[0], "is not a field of UsageEvent")
    try:
        validate(dict(event), SCHEMA, raise_errors=True)
    except ValidationError as exc:
        # fastavro: ["Field(dev.aforo.events.UsageEvent.tenant_id) is None expected string"]
        message = json.loads(str(exc))[0]
        match = re.match(r"(?:Field\()?(.*?)\)? is (.*)", message, re.S)
        if match:
            field = match.group(1).split("UsageEvent.", 1)[-1]
            return EventError(field, f"is {match.group(2)}")
        return EventError("(record)", message)
    return EventError("(record)", "does not fit the schema")


def encode(event: Mapping[str, Any]) -> bytes:
    """Avro-encode one event; raise EventError naming the field that does not fit."""
    for field in _DECIMAL_FIELDS:
        _check_decimal(field, event.get(field))
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, SCHEMA, event)
    except (TypeError, ValueError, AttributeError, KeyError, OverflowError):
        raise _explain(event) from None
    if set(event) - set(FIELDS):
        raise _explain(event)
    return buf.getvalue()


def decode(data: bytes) -> dict[str, Any]:
    """Decode one message; raise EventError if the bytes are not a UsageEvent."""
    buf = io.BytesIO(data)
    try:
        record = fastavro.schemaless_reader(buf, SCHEMA, None)
    except Exception as exc:  # fastavro raises many types on garbage input
        raise EventError("(bytes)", f"not a UsageEvent: {type(exc).__name__}: {exc}") from None
    if buf.tell() != len(data):
        raise EventError("(bytes)", f"{len(data) - buf.tell()} trailing bytes after the record")
    return record  # type: ignore[return-value]


def message_key(event: Mapping[str, Any]) -> bytes:
    """Spreads tenants over partitions while an event and its duplicates share one."""
    return f"{event['tenant_id']}/{event['idempotency_key']}".encode()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_millis(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise EventError("event_time", "must be timezone-aware (UTC)")
    # Integer arithmetic: a float timestamp can land 1 ms off.
    return (ts - _EPOCH) // timedelta(milliseconds=1)


def from_millis(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class DeliveryFailed(RuntimeError):
    """Kafka did not acknowledge some messages (retryable: send them again)."""


class EventProducer:
    """Idempotent, acks=all producer; `flush()` raises if any message was not delivered."""

    def __init__(self, bootstrap: str, topic: str, **overrides: Any) -> None:
        config = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500000,
            "message.timeout.ms": 30000,
            "logger": log,
        }
        config.update(overrides)
        self.topic = topic
        self._producer = Producer(config)
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed: list[str] = []

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        with self._lock:
            if err is None:
                self.delivered += 1
            else:
                self.failed.append(f"{msg.topic()} key={msg.key()!r}: {err}")

    def send(self, event: Mapping[str, Any]) -> None:
        self.send_raw(encode(event), message_key(event))

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        while True:
            try:
                self._producer.produce(self.topic, value=value, key=key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)
        self._producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> int:
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise DeliveryFailed(f"{remaining} messages not delivered within {timeout_s}s")
        if self.failed:
            raise DeliveryFailed(f"{len(self.failed)} messages failed: {self.failed[:3]}")
        return self.delivered

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


@dataclass(frozen=True)
class ConsumedRecord:
    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    event: dict[str, Any] | None
    error: str | None
    headers: tuple[tuple[str, bytes], ...] = ()


_ELECTING = (KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.UNKNOWN_TOPIC_OR_PART)


def _watermarks(consumer: Consumer, tp: TopicPartition, timeout_s: float = 10.0) -> tuple[int, int]:
    """A partition's (low, high) offsets; a topic just created may still be electing its leader."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].code() not in _ELECTING or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def list_topic(consumer: Consumer, topic: str, reach_s: float = 2.0) -> Any:
    """The topic's metadata. No broker connected within `reach_s` (librdkafka's _TRANSPORT:
    the stack is down, a wrong address) is said then, not after the 10 s metadata timeout;
    a broker that is connected but slow to answer (_TIMED_OUT) still gets the 10 s."""
    try:
        return consumer.list_topics(topic, timeout=reach_s).topics[topic]
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError._TIMED_OUT:
            raise
    return consumer.list_topics(topic, timeout=10).topics[topic]


def _topic_metadata(consumer: Consumer, topic: str, settle_s: float = 3.0, reach_s: float = 2.0) -> Any:
    """A topic created a moment ago (`aforo stack up`) can still be missing from the
    broker's metadata: ask again for a few seconds before calling it unknown."""
    deadline = time.monotonic() + settle_s
    while True:
        meta = list_topic(consumer, topic, reach_s)
        if (meta.error is None or meta.error.code() != KafkaError.UNKNOWN_TOPIC_OR_PART
                or time.monotonic() > deadline):
            return meta
        time.sleep(0.2)


def check_topic(bootstrap: str, topic: str) -> None:
    """Raise KafkaException, as read_topic would, if `topic` is missing or no broker answers."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "aforo-check", "logger": log})
    try:
        meta = _topic_metadata(consumer, topic)
        if meta.error is not None:
            raise KafkaException(meta.error)
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, timeout_s: float = 30.0) -> Iterator[ConsumedRecord]:
    """Every record from the start of `topic` to its end as of the call; bad ones carry `error`."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"aforo-reader-{threading.get_ident()}",
        "enable.auto.commit": False, "auto.offset.reset": "earliest", "logger": log,
        "isolation.level": "read_committed",
    })
    try:
        meta = _topic_metadata(consumer, topic)
        if meta.error is not None:
            raise KafkaException(meta.error)
        ends: dict[int, int] = {}
        assignment = []
        for p in meta.partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, p))
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10000, timeout=1.0)
            if not batch:
                # Transaction markers take offsets too: the end may be a marker, not a record.
                for tp in consumer.position([TopicPartition(topic, p) for p in list(ends)]):
                    if tp.offset >= ends[tp.partition]:
                        ends.pop(tp.partition, None)
            for msg in batch:
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(msg.error())
                raw = msg.value() or b""
                try:
                    event, error = decode(raw), None
                except EventError as exc:
                    event, error = None, str(exc)
                yield ConsumedRecord(msg.partition(), msg.offset(), msg.key(), raw, event, error,
                                     tuple(msg.headers() or ()))
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
        if ends:
            raise TimeoutError(f"did not reach the end of {topic} within {timeout_s}s: {ends}")
    finally:
        consumer.close()
