"""Kafka, durably: a request's events are acknowledged only once Kafka has all of them.

The process's producers (two, below) are idempotent with acks=all. Each request
produces its messages with one delivery callback of its own (a `_Delivery`); the callbacks
count down, and the last one resolves the request's asyncio future. The request
answers 202 after that, or 503 when Kafka is known to be down, the producer
queue is full, a delivery failed, or the acks did not come within
`ack_timeout_s`. A 503'd request may still have reached Kafka; the client sends
it again with the same idempotency keys and the metering job drops the duplicates.

The two producers share the work:

- *prompt*, for requests of up to PROMPT_MAX_EVENTS events (a single event, a
  syslog datagram): `linger_ms` (0: sent at once), and a thread blocked in its
  poll() serves the delivery report the moment it arrives.
- *bulk*, for larger batches: `batch_linger_ms` (a few ms: one produce request
  of many messages a partition instead of many small ones, about half the
  broker's CPU an event), polled by the event loop itself, every millisecond
  while messages wait for their acks. confluent-kafka takes the GIL for each
  delivery report; served by a thread while the loop thread parses the next
  batch, each of a batch's 500 reports can wait up to the interpreter's switch
  interval (5 ms) for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from ingest.errors import Unavailable

log = logging.getLogger("ingest.sink")

_FORBIDDEN_OVERRIDES = ("acks", "enable.idempotence", "request.required.acks", "on_delivery")

Message = tuple[bytes, bytes]  # (key, value)

PROMPT_MAX_EVENTS = 10  # requests of more events go to the bulk producer
BUSY_POLL_S = 0.001  # bulk: while messages wait for acks (libuv timers count whole milliseconds)
IDLE_POLL_S = 0.1    # bulk: otherwise (its error callbacks and logs)


class _Delivery:
    """Counts down one request's delivery reports.

    `remaining` starts one above the message count: the producing side holds
    that token until every message is queued (or refused), so the future
    cannot resolve half-way through a request. Reports arrive on the loop's
    thread (bulk producer), the poll thread (prompt producer), or at shutdown and
    after a producer's replacement on the thread that flushes it: hence the lock,
    and `call_soon_threadsafe` off the loop's thread."""

    __slots__ = ("done_cb", "errors", "failed", "future", "lock", "loop", "remaining", "started",
                 "thread")

    def __init__(self, count: int, loop: asyncio.AbstractEventLoop | None,
                 done_cb: Callable[[_Delivery], None] | None = None) -> None:
        self.remaining = count + 1
        self.failed = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.loop = loop
        self.future: asyncio.Future[None] | None = loop.create_future() if loop else None
        self.thread = threading.get_ident()  # the loop's (made by a coroutine)
        self.started = time.perf_counter()
        self.done_cb = done_cb

    def __call__(self, err: KafkaError | None, msg: Any) -> None:
        with self.lock:
            if err is not None:
                self.failed += 1
                if len(self.errors) < 3:
                    self.errors.append(f"key={msg.key()!r}: {err.str()}")
            self.remaining -= 1
            if self.remaining:
                return
        self._finish()

    def queued(self, not_queued: int = 0, problem: str = "") -> None:
        """The producing side is done: `not_queued` messages never reached the producer."""
        with self.lock:
            self.failed += not_queued
            if problem and len(self.errors) < 3:
                self.errors.append(problem)
            self.remaining -= not_queued + 1
            if self.remaining:
                return
        self._finish()

    def _finish(self) -> None:
        if self.done_cb is not None:
            self.done_cb(self)
        future = self.future
        if future is None or self.loop is None:
            return
        if threading.get_ident() == self.thread:
            _resolve(future)
        else:
            self.loop.call_soon_threadsafe(_resolve, future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # done: cancelled by the request's timeout
        future.set_result(None)


class KafkaSink:
    """The process's producers, what polls them and its view of Kafka's health."""

    def __init__(self, bootstrap: str, topic: str, *, ack_timeout_s: float = 5.0,
                 retry_after_s: int = 5, message_timeout_s: float = 60.0, linger_ms: float = 0.0,
                 batch_linger_ms: float = 5.0, queue_max_messages: int = 500_000,
                 overrides: dict[str, Any] | None = None,
                 on_ack: Callable[[float, int], None] | None = None) -> None:
        overrides = dict(overrides or {})
        bad = sorted(set(overrides) & set(_FORBIDDEN_OVERRIDES))
        if bad:
            raise ValueError(f"producer.{bad[0]}: the collector is always idempotent with acks=all")
        self.bootstrap = bootstrap
        self.topic = topic
        self.ack_timeout_s = ack_timeout_s
        self.retry_after_s = retry_after_s
        self._on_ack = on_ack
        self._config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "batch.num.messages": 10000,
            "compression.type": "lz4",
            "queue.buffering.max.messages": queue_max_messages,
            "queue.buffering.max.kbytes": 262144,
            "message.timeout.ms": int(message_timeout_s * 1000),
            "error_cb": self._on_error,
            "logger": log,
            **overrides,
        }
        self._bulk_config = {**self._config, "linger.ms": batch_linger_ms,
                             **{k: v for k, v in overrides.items() if k == "linger.ms"}}
        self._producer: Producer | None = None  # prompt
        self._bulk: Producer | None = None
        self._up = False
        self._fatal = False
        self._reason = "not started"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._tick_due = 0.0

    # -- lifecycle ---------------------------------------------------------------

    def start(self, wait_s: float = 5.0) -> None:
        """Create the producers; wait up to `wait_s` for Kafka, then serve either way
        (answering 503 until Kafka is there)."""
        self._producer, self._bulk = Producer(self._config), Producer(self._bulk_config)
        deadline = time.monotonic() + wait_s
        self._check_health()
        while not self._up and time.monotonic() < deadline:
            time.sleep(0.25)
            self._check_health()
        if not self._up:
            log.warning("starting without Kafka: %s", self._reason)
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._poll_loop, name="ingest-kafka-poll", daemon=True),
            threading.Thread(target=self._health_loop, name="ingest-kafka-health", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def poll_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve the bulk producer's delivery reports and callbacks on `loop` (call on
        its thread)."""
        self._loop = loop
        self._poll_in(0.0)

    def close(self, timeout_s: float = 15.0) -> int:
        """Stop polling and flush what is queued (serving the delivery reports on this
        thread); return how many messages were left."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._producer is None or self._bulk is None:
            return 0
        deadline = time.monotonic() + timeout_s
        remaining = self._bulk.flush(timeout_s)
        remaining += self._producer.flush(max(0.0, deadline - time.monotonic()))
        if remaining:
            log.error("shutdown: %d messages not delivered within %.0fs", remaining, timeout_s)
        self._producer = self._bulk = None
        self._up = False
        self._reason = "closed"
        return int(remaining)

    # -- health ------------------------------------------------------------------

    @property
    def up(self) -> bool:
        return self._up

    @property
    def reason(self) -> str:
        return self._reason

    def queue_depth(self) -> int:
        return sum(len(p) for p in (self._producer, self._bulk) if p is not None)

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._ALL_BROKERS_DOWN:
            if self._up:
                log.warning("Kafka unreachable: %s", err.str())
            self._up, self._reason = False, f"all brokers down: {err.str()}"
        elif err.fatal():
            # An idempotent producer that lost its sequence cannot go on; the health
            # thread replaces both (their queued messages fail, their requests get 503).
            log.error("producer fatal error: %s", err.str())
            self._fatal = True
            self._up, self._reason = False, f"fatal producer error: {err.str()}"
        else:
            log.info("Kafka client: %s", err.str())

    def _check_health(self) -> None:
        producer = self._producer
        if producer is None:
            return
        try:
            meta = producer.list_topics(self.topic, timeout=2.0).topics.get(self.topic)
        except KafkaException as exc:
            self._up, self._reason = False, f"metadata request failed: {exc}"
            return
        if self._fatal:
            return
        if meta is None or meta.error is not None:
            problem = "missing" if meta is None else meta.error.str()
            self._up, self._reason = False, f"topic {self.topic}: {problem}"
            return
        if not self._up:
            log.info("Kafka reachable at %s (topic %s)", self.bootstrap, self.topic)
        self._up, self._reason = True, "ok"

    def _health_loop(self) -> None:
        while not self._stop.wait(1.0 if not self._up else 5.0):
            if self._fatal:
                self._replace_producer()
            self._check_health()

    def _replace_producer(self) -> None:
        old = (self._producer, self._bulk)
        self._producer, self._bulk = Producer(self._config), Producer(self._bulk_config)
        self._fatal = False
        for producer in old:
            if producer is not None:
                producer.flush(1.0)  # serves the failed delivery reports of its messages
        log.warning("producers replaced after a fatal error")

    def _poll_loop(self) -> None:
        """The prompt producer's reports, as they arrive (a request's few: see the module doc)."""
        while not self._stop.is_set():
            producer = self._producer
            if producer is not None:
                producer.poll(0.05)

    def _poll(self) -> None:
        """On the loop: serve what the bulk producer has; again soon while acks are awaited."""
        self._tick = None
        producer = self._bulk
        if producer is None or self._stop.is_set():
            return
        producer.poll(0)
        self._poll_in(BUSY_POLL_S if len(producer) else IDLE_POLL_S)

    def _poll_in(self, delay: float) -> None:
        """Have the loop poll within `delay` seconds (sooner if already planned)."""
        loop = self._loop
        if loop is None:
            return
        due = loop.time() + delay
        if self._tick is not None:
            if self._tick_due <= due:
                return
            self._tick.cancel()
        self._tick_due = due
        self._tick = loop.call_later(delay, self._poll)

    # -- sending -----------------------------------------------------------------

    def _unavailable(self, problem: str) -> Unavailable:
        return Unavailable("kafka", problem, retry_after_s=self.retry_after_s)

    def _produce(self, messages: Sequence[Message], delivery: _Delivery) -> str | None:
        """Queue the messages; return why some were not queued (they count as failed)."""
        bulk = len(messages) > PROMPT_MAX_EVENTS
        producer = self._bulk if bulk else self._producer
        if producer is None:
            problem = "the collector is shutting down"
            delivery.queued(len(messages), problem)
            return problem
        # One call for the lot: librdkafka's partitioner (the same as produce()'s) places
        # each message, and the broker thread finds them queued together.
        batch = [{"key": key, "value": value} for key, value in messages]
        try:
            queued = producer.produce_batch(self.topic, batch, on_delivery=delivery)
        except (KafkaException, BufferError, TypeError) as exc:
            queued, problem = 0, f"produce failed: {exc}"
        else:
            problem = ""
        if queued < len(batch):
            # Those without an `_error` are queued and will still be reported; the rest never.
            if not problem:
                err = next(m["_error"] for m in batch if "_error" in m)
                problem = ("the producer queue is full (Kafka is slow or down)"
                           if err.code() == KafkaError._QUEUE_FULL else f"produce failed: {err.str()}")
            delivery.queued(len(batch) - queued, problem)
        else:
            delivery.queued()
        if bulk:
            self._poll_in(BUSY_POLL_S)
        return problem or None

    async def send(self, messages: Sequence[Message]) -> None:
        """Return once Kafka acknowledged every message; raise Unavailable otherwise."""
        if not messages:
            return
        if not self._up:
            raise self._unavailable(f"Kafka is unreachable ({self._reason})")
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self.poll_on(loop)
        delivery = _Delivery(len(messages), loop)
        problem = self._produce(messages, delivery)
        if problem is not None:
            raise self._unavailable(problem)
        assert delivery.future is not None
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                await delivery.future  # cancelled on timeout: a late ack then finds it done
        except TimeoutError:
            raise self._unavailable(f"Kafka did not acknowledge {len(messages)} events within "
                                    f"{self.ack_timeout_s}s") from None
        if delivery.failed:
            raise self._unavailable(f"{delivery.failed} of {len(messages)} events were not "
                                    f"delivered: {delivery.errors[0]}")
        if self._on_ack is not None:
            self._on_ack(time.perf_counter() - delivery.started, len(messages))

    def send_nowait(self, messages: Sequence[Message],
                    done: Callable[[int, int, list[str]], None]) -> None:
        """Queue messages whose sender cannot wait for an answer (UDP syslog);
        `done(delivered, failed, errors)` runs once all are settled."""
        if not messages:
            return

        def settled(d: _Delivery) -> None:
            done(len(messages) - d.failed, d.failed, d.errors)

        if self._loop is None:
            self.poll_on(asyncio.get_running_loop())
        self._produce(messages, _Delivery(len(messages), None, settled))
