"""Ingestion API figures: durable events/s in batches, single-event latency, and the
ceiling (the same events produced straight to Kafka from Python).

    .venv/bin/python bench/ingest.py                # a Kafka broker of its own, in a temp home
    .venv/bin/python bench/ingest.py --use-running  # the broker of the settings (aforo stack up)

The collector runs under uvicorn in a child process (this script re-run with
--serve); this process is the load generator, talking HTTP/1.1 keep-alive on
loopback. Every request count is bounded. A 202 means Kafka acknowledged
(acks=all, idempotent producer), so the figures are durable rates; at the end
the topic's offsets are checked against the events acknowledged.
"""
# ruff: noqa: E402  (the sys.path fix below must run before `import ingest`)

from __future__ import annotations

import sys
from pathlib import Path

# This file is bench/ingest.py: with its folder first on sys.path, `import ingest`
# would find this script instead of the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from typing import Any

from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from aforo.events import message_key
from aforo.settings import Settings, load_settings
from aforo.stack.kafka import KafkaBroker
from ingest.avro import encode
from ingest.keys import KeyStore

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")


def _event(run: str, i: int) -> dict[str, Any]:
    return {"tenant_id": TENANTS[i % len(TENANTS)], "metric": "api_call",
            "idempotency_key": f"{run}-{i:09d}", "timestamp": "2026-11-27T10:00:00.123Z",
            "api": "payments", "route": "/v1/charges", "method": "POST", "status": 200,
            "latency_ms": 12, "request_bytes": 310, "response_bytes": 1234,
            "properties": {"region": "eu-west-1"}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CREATED: list[str] = []


def _create_topic(bootstrap: str, partitions: int = 3) -> str:
    name = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result()
    CREATED.append(name)
    return name


def _delete_topics(bootstrap: str) -> None:
    """Leave a running broker as it was."""
    if CREATED:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.delete_topics(CREATED, operation_timeout=30).values():
            future.result()


def _topic_size(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-size"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        total = 0
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()


# -- the load generator: raw HTTP/1.1 keep-alive over asyncio streams -------------------

async def _worker(port: int, requests: list[bytes], latencies: list[float],
                  statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for raw in requests:
            started = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()
        await writer.wait_closed()


def _cpu_s(pid: int) -> dict[int, float]:
    """User + system CPU seconds so far of a process (all its threads) and of each
    of its live descendants (the workers of a supervisor), by pid."""
    proc = Path(f"/proc/{pid}")
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    found = {pid: (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
    for task in (proc / "task").iterdir():
        for child in (task / "children").read_text().split():
            found.update(_cpu_s(int(child)))
    return found


def _cpu_since(pid: int, before: dict[int, float]) -> tuple[float, list[float]]:
    """CPU seconds of the process tree since `before`: the total, and each process's share."""
    now = _cpu_s(pid)
    each = [now[p] - before.get(p, 0.0) for p in sorted(now)]
    return sum(each), each


def _request(path: str, body: bytes, secret: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {secret}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


def load(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list[float],
                                                                      dict[int, int]]:
    """Send the requests over `concurrency` connections; (seconds, latencies, statuses)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    shares = [requests[i::concurrency] for i in range(concurrency)]

    async def main() -> None:
        await asyncio.gather(*(_worker(port, share, latencies, statuses) for share in shares))
    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started, latencies, statuses


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- the ceiling: the same events, encoded and produced from Python, acks=all ---------

def ceiling(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> float:
    from ingest.config import Limits
    from ingest.formats import typed
    from ingest.records import Context

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5, "compression.type": "lz4",
                         "queue.buffering.max.messages": 1_000_000, "batch.num.messages": 10000})
    body = json.dumps(events).encode()
    failed = []

    def report(err: Any, msg: Any) -> None:
        if err is not None:
            failed.append(err)
    started = time.perf_counter()
    # The same work as the collector minus HTTP: parse, check, encode, produce, acks.
    candidates, _ = typed.events(body, Context(Limits(max_batch_events=len(events)),
                                               int(time.time() * 1000)))
    for c in candidates:
        assert c.event is not None
        producer.produce(topic, encode(c.event), message_key(c.event), on_delivery=report)
        producer.poll(0)
    producer.flush(60)
    elapsed = time.perf_counter() - started
    assert not failed, failed[:3]
    return len(events) / elapsed


def produce_only(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> float:
    """Pre-encoded bytes only: what librdkafka and the broker take on this machine."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all", "linger.ms": 5, "compression.type": "lz4",
                         "queue.buffering.max.messages": 1_000_000, "batch.num.messages": 10000})
    ready = [{**e, "tenant_id": e["tenant_id"], "source": "collector", "event_type": "api_call",
              "event_time": 1795773600123, "value": None}
             for e in events]
    for e in ready:
        e.pop("metric")
        e.pop("timestamp")
    messages = [(message_key(e), encode(e)) for e in ready]
    started = time.perf_counter()
    for key, value in messages:
        producer.produce(topic, value, key)
        producer.poll(0)
    producer.flush(60)
    return len(messages) / (time.perf_counter() - started)


# -- the collector child process --------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    from ingest.config import IngestConfig
    from ingest.server import serve as run

    settings = Settings.model_validate_json(Path(args.settings_json).read_text())
    config = IngestConfig(host="127.0.0.1", port=args.port, syslog_port=0,
                          rate_limit={"events_per_s": 10_000_000, "burst": 10_000_000},
                          linger_ms=args.linger_ms, workers=args.workers)
    run(settings, config, topic=args.topic, log_level="warning")


def start_collector(settings: Settings, topic: str, port: int, args: argparse.Namespace,
                    workdir: Path) -> subprocess.Popen[bytes]:
    path = workdir / "settings.json"
    path.write_text(settings.model_dump_json())
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--settings-json", str(path), "--topic", topic,
         "--port", str(port), "--linger-ms", str(args.linger_ms), "--workers", str(args.workers)],
        stderr=open(workdir / "collector.log", "wb"))  # noqa: SIM115 - the child owns it
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
                if b" 200 " in s.recv(200):
                    return child
        except OSError:
            pass
        if child.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the collector did not become ready; see {workdir}/collector.log")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--use-running", action="store_true",
                        help="use the Kafka broker of the settings instead of starting one")
    parser.add_argument("--batches", type=int, default=400, help="batch requests to send")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--singles", type=int, default=5000, help="single-event requests")
    parser.add_argument("--single-concurrency", type=int, default=8)
    parser.add_argument("--linger-ms", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2, help="collector worker processes")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings-json", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    args.load_at_start = os.getloadavg()[0]  # other work on the machine moves the figures

    with tempfile.TemporaryDirectory(prefix="aforo-bench-ingest-") as tmp:
        workdir = Path(tmp)
        # Keys (and an own broker's data) live in the temporary home, never the real one.
        settings = load_settings()
        settings = settings.model_copy(update={"home": workdir / "home"})
        broker = None
        if not args.use_running:
            base = int(os.environ.get("AFORO_BENCH_PORT_BASE", "22500"))
            kafka = settings.kafka.model_copy(update={"port": base + 92,
                                                      "controller_port": base + 93})
            settings = settings.model_copy(update={"kafka": kafka})
            broker = KafkaBroker(settings)
            print(f"starting a Kafka broker of its own on {kafka.bootstrap} ...", flush=True)
            broker.up()
        try:
            measure(args, settings, workdir)
        finally:
            if broker is not None:
                broker.down()
            else:
                _delete_topics(settings.kafka.bootstrap)


def measure(args: argparse.Namespace, settings: Settings, workdir: Path) -> None:
    child = None
    try:
        bootstrap = settings.kafka.bootstrap
        topic = _create_topic(bootstrap)
        secret = KeyStore.under(settings.home).create("bench", ["*"], [])[1]
        port = _free_port()
        child = start_collector(settings, topic, port, args, workdir)
        run = uuid.uuid4().hex[:6]
        n = args.batches * args.batch_size
        events = [_event(run, i) for i in range(n)]

        # Warm-up: connections, the producer's idempotence PID, code paths.
        warm = [_request("/v1/events", json.dumps(events[:args.batch_size]).encode(), secret)]
        load(port, warm * 8, 4)

        bodies = [_request("/v1/events", json.dumps(
            [{**e, "idempotency_key": "b" + e["idempotency_key"]}
             for e in events[i:i + args.batch_size]]).encode(), secret)
            for i in range(0, n, args.batch_size)]
        before = _cpu_s(child.pid)
        seconds, lat, statuses = load(port, bodies, args.batch_concurrency)
        cpu, each = _cpu_since(child.pid, before)
        batch_ok = statuses.get(202, 0) * args.batch_size
        print(f"\nbatches of {args.batch_size}: {len(bodies)} requests over "
              f"{args.batch_concurrency} connections, statuses {statuses}")
        print(f"  {batch_ok / seconds:,.0f} events/s acknowledged durably "
              f"({batch_ok:,} events in {seconds:.2f}s); request p50 {_pct(lat, .5):.1f} ms, "
              f"p99 {_pct(lat, .99):.1f} ms")
        print(f"  collector CPU: {cpu / max(batch_ok, 1) * 1e6:.1f} us an event "
              f"({cpu / seconds:.2f} cores busy on average; by process: "
              f"{' + '.join(f'{c / seconds:.2f}' for c in each)})")

        singles = [_request("/v1/events", json.dumps(
            {**events[i], "idempotency_key": "s" + events[i]["idempotency_key"]}).encode(),
            secret) for i in range(args.singles)]
        results = {}
        for concurrency in (1, args.single_concurrency):
            before = _cpu_s(child.pid)
            seconds, lat, statuses = load(port, singles[:args.singles // 2] if concurrency == 1
                                          else singles[args.singles // 2:], concurrency)
            results[concurrency] = (len(lat) / seconds, lat, statuses)
            print(f"single events, {concurrency} connection(s): {len(lat):,} requests, "
                  f"statuses {statuses}")
            print(f"  {len(lat) / seconds:,.0f} requests/s; latency p50 {_pct(lat, .5):.2f} ms, "
                  f"p99 {_pct(lat, .99):.2f} ms, max {max(lat) * 1000:.1f} ms, "
                  f"mean {statistics.fmean(lat) * 1000:.2f} ms")
            cpu, _ = _cpu_since(child.pid, before)
            print(f"  collector CPU: {cpu / len(lat) * 1e6:.0f} us a request")

        accepted = sum(s.get(202, 0) for *_, s in results.values()) + batch_ok \
            + 8 * args.batch_size
        in_topic = _topic_size(bootstrap, topic)
        print(f"\ntopic {topic}: {in_topic:,} records for {accepted:,} acknowledged events "
              f"({'equal' if in_topic == accepted else 'DIFFERENT'})")
    finally:
        if child is not None:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)

    ceiling_topic = _create_topic(bootstrap)
    rate = ceiling(bootstrap, ceiling_topic, events)
    raw_rate = produce_only(bootstrap, _create_topic(bootstrap), events)
    print(f"\nceiling, same process, no HTTP: parse + check + encode + produce with acks: "
          f"{rate:,.0f} events/s")
    print(f"produce only (pre-encoded bytes, acks=all): {raw_rate:,.0f} events/s")
    print(f"\nmachine: {os.cpu_count()} cores; collector ({args.workers} worker process(es)), "
          "load generator and Kafka broker share them; load average "
          f"{args.load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} now")


if __name__ == "__main__":
    main()
