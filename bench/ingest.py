"""Ingestion API figures: durable events/s in batches, single-event latency, and the
ceiling (the collector's own work without HTTP, in one process) measured in the same run.

    .venv/bin/python bench/ingest.py                # a Kafka broker of its own, in a temp home
    .venv/bin/python bench/ingest.py --use-running  # the broker of the settings (aforo stack up)

The collector runs under uvicorn in a child process (this script re-run with
--serve); this process is the load generator, talking HTTP/1.1 keep-alive on
loopback. Every request count is bounded. A 202 means Kafka acknowledged
(acks=all, idempotent producer), so the figures are durable rates; at the end
the topic's offsets are checked against the events acknowledged.

Everything shares the machine's cores, so for the batch run it prints where the
CPU went: each collector worker, the Kafka broker, the load generator, and the
rest of the machine (other work moves every figure; the load average is printed
at the start and the end).
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

from confluent_kafka import TopicPartition
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

    from aforo.events import list_topic

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-size"})
    try:
        meta = list_topic(consumer, topic)
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
    """CPU seconds of the process tree since `before`: the total, and each worker's
    (the children that did work; the process itself when it has none)."""
    now = _cpu_s(pid)
    used = {p: now[p] - before.get(p, 0.0) for p in sorted(now)}
    total = sum(used.values())
    workers = [c for p, c in used.items() if p != pid and c >= 0.02 * total]
    return total, workers or [used[pid]]


def _machine_busy_s() -> float:
    """CPU seconds all cores spent busy so far (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuShares:
    """Where the cores went during one phase: collector, broker, this process, the rest."""

    def __init__(self, collector_pid: int, broker_pid: int | None) -> None:
        self.collector_pid, self.broker_pid = collector_pid, broker_pid
        self.collector = _cpu_s(collector_pid)
        self.broker = sum(_cpu_s(broker_pid).values()) if broker_pid else 0.0
        self.own = time.process_time()
        self.machine = _machine_busy_s()
        self.started = time.perf_counter()

    def report(self, events: int) -> str:
        seconds = time.perf_counter() - self.started
        collector, workers = _cpu_since(self.collector_pid, self.collector)
        broker = (sum(_cpu_s(self.broker_pid).values()) - self.broker) if self.broker_pid else 0.0
        own = time.process_time() - self.own
        rest = _machine_busy_s() - self.machine - collector - broker - own
        broker_text = f"{broker / seconds:.2f} ({broker / events * 1e6:.1f} us an event)" \
            if self.broker_pid else "not measured (--use-running)"
        return (f"  collector CPU: {collector / events * 1e6:.1f} us an event; cores busy: "
                f"collector {collector / seconds:.2f} "
                f"(workers {' + '.join(f'{c / seconds:.2f}' for c in workers)}), "
                f"Kafka broker {broker_text}, load generator {own / seconds:.2f}, "
                f"rest of the machine {max(rest, 0.0) / seconds:.2f}, of {os.cpu_count()}")


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


# -- the ceiling: the collector's own work without HTTP, in this process -------------------

def _sink(bootstrap: str, topic: str, config: Any) -> Any:
    from ingest.sink import KafkaSink

    return KafkaSink(bootstrap, topic, ack_timeout_s=30, linger_ms=config.linger_ms,
                     batch_linger_ms=config.batch_linger_ms,
                     queue_max_messages=config.queue_max_messages, overrides=config.producer)


def ceiling(settings: Settings, topic: str, bodies: list[bytes], secret: str, concurrency: int,
            config: Any) -> tuple[float, float]:
    """The same requests through the collector's own code (key check, typed parse,
    checks, Avro, the two producers, acks=all, the JSON reply), `concurrency` at a
    time on one event loop, without HTTP. Returns (events/s, CPU us an event)."""
    import msgspec
    import uvloop

    from ingest.catalogs import CatalogHolder
    from ingest.formats import collector, typed
    from ingest.keys import Authenticator
    from ingest.metrics import Metrics
    from ingest.ratelimit import RateLimiter
    from ingest.records import Context
    from ingest.service import Ingestor

    sink = _sink(settings.kafka.bootstrap, topic, config)
    metrics = Metrics(sink.queue_depth, lambda: 1.0)
    ingestor = Ingestor(sink, CatalogHolder(settings.catalog_dir, 0),
                        Authenticator(KeyStore.under(settings.home)),
                        RateLimiter(10_000_000, 10_000_000), metrics)
    sink.start()
    events = 0
    reply = msgspec.json.Encoder().encode

    async def one(body: bytes) -> None:
        nonlocal events
        key = ingestor.authenticate(secret, collector.SOURCE)
        candidates, batch = typed.events(body, Context(config.limits, int(time.time() * 1000)))
        outcome = await ingestor.ingest(collector.SOURCE, key, candidates, batch)
        reply(outcome.body())
        events += outcome.accepted

    async def main() -> None:
        sink.poll_on(asyncio.get_running_loop())
        queue = iter(bodies)
        await asyncio.gather(*(asyncio.create_task(_drain(queue, one))
                               for _ in range(concurrency)))
    try:
        cpu, started = time.process_time(), time.perf_counter()
        uvloop.run(main())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        sink.close()
    return events / elapsed, cpu / max(events, 1) * 1e6


async def _drain(queue: Any, one: Any) -> None:
    for body in queue:
        await one(body)


def produce_only(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]],
                 batch_size: int, concurrency: int, config: Any) -> float:
    """Pre-encoded messages in batches through the collector's sink (its producers'
    settings, acks=all), `concurrency` batches in flight: what librdkafka and the
    broker take on this machine."""
    import uvloop

    sink = _sink(bootstrap, topic, config)
    sink.start()
    batches = [messages[i:i + batch_size] for i in range(0, len(messages), batch_size)]

    async def main() -> None:
        sink.poll_on(asyncio.get_running_loop())
        queue = iter(batches)
        await asyncio.gather(*(_drain(queue, sink.send) for _ in range(concurrency)))
    try:
        started = time.perf_counter()
        uvloop.run(main())
        return len(messages) / (time.perf_counter() - started)
    finally:
        sink.close()


# -- the collector child process --------------------------------------------------------

def collector_config(args: argparse.Namespace, port: int = 0) -> Any:
    from ingest.config import IngestConfig

    return IngestConfig(host="127.0.0.1", port=port, syslog_port=0,
                        rate_limit={"events_per_s": 10_000_000, "burst": 10_000_000},
                        linger_ms=args.linger_ms, batch_linger_ms=args.batch_linger_ms,
                        workers=args.workers)


def serve(args: argparse.Namespace) -> None:
    from ingest.server import serve as run

    settings = Settings.model_validate_json(Path(args.settings_json).read_text())
    run(settings, collector_config(args, args.port), topic=args.topic, log_level="warning")


def start_collector(settings: Settings, topic: str, port: int, args: argparse.Namespace,
                    workdir: Path) -> subprocess.Popen[bytes]:
    path = workdir / "settings.json"
    path.write_text(settings.model_dump_json())
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--settings-json", str(path), "--topic", topic,
         "--port", str(port), "--linger-ms", str(args.linger_ms),
         "--batch-linger-ms", str(args.batch_linger_ms), "--workers", str(args.workers)],
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
    parser.add_argument("--linger-ms", type=float, default=0.0,
                        help="the collector's linger_ms (requests of a few events)")
    parser.add_argument("--batch-linger-ms", type=float, default=5.0,
                        help="the collector's batch_linger_ms (larger requests)")
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
    print(f"load average {args.load_at_start:.1f} on {os.cpu_count()} cores at the start",
          flush=True)

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
            measure(args, settings, workdir, broker)
        finally:
            if broker is not None:
                broker.down()
            else:
                _delete_topics(settings.kafka.bootstrap)


def measure(args: argparse.Namespace, settings: Settings, workdir: Path,
            broker: KafkaBroker | None) -> None:
    child = None
    bootstrap = settings.kafka.bootstrap
    broker_pid = (broker or KafkaBroker(settings)).pid_file.running_pid()
    secret = KeyStore.under(settings.home).create("bench", ["*"], [])[1]
    run = uuid.uuid4().hex[:6]
    n = args.batches * args.batch_size
    events = [_event(run, i) for i in range(n)]
    config = collector_config(args)
    messages = [(message_key(e), encode(e)) for e in (_usage_event(e) for e in events)]
    # A broker just started spends its first seconds of load compiling (the JIT): warm
    # it with the produce-only work first, or the first phase pays for it.
    warm_rate = produce_only(bootstrap, _create_topic(bootstrap), messages, args.batch_size,
                             args.batch_concurrency, config)
    print(f"broker warm-up: {len(messages):,} pre-encoded events at {warm_rate:,.0f} events/s",
          flush=True)
    try:
        topic = _create_topic(bootstrap)
        port = _free_port()
        child = start_collector(settings, topic, port, args, workdir)

        # Warm-up: connections, the producer's idempotence PID, code paths.
        warm = [_request("/v1/events", json.dumps(events[:args.batch_size]).encode(), secret)]
        load(port, warm * 8, 4)

        bodies = [_request("/v1/events", json.dumps(
            [{**e, "idempotency_key": "b" + e["idempotency_key"]}
             for e in events[i:i + args.batch_size]]).encode(), secret)
            for i in range(0, n, args.batch_size)]
        shares = CpuShares(child.pid, broker_pid)
        seconds, lat, statuses = load(port, bodies, args.batch_concurrency)
        batch_ok = statuses.get(202, 0) * args.batch_size
        print(f"\nbatches of {args.batch_size}: {len(bodies)} requests over "
              f"{args.batch_concurrency} connections, {args.workers} worker(s), "
              f"statuses {statuses}")
        print(f"  {batch_ok / seconds:,.0f} events/s acknowledged durably "
              f"({batch_ok:,} events in {seconds:.2f}s); request p50 {_pct(lat, .5):.1f} ms, "
              f"p99 {_pct(lat, .99):.1f} ms")
        print(shares.report(max(batch_ok, 1)))

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

    # The baselines, in the same run, with the collector stopped: its own code without
    # HTTP (one process), and librdkafka + the broker alone.
    raw = [json.dumps([{**e, "idempotency_key": "c" + e["idempotency_key"]}
                       for e in events[i:i + args.batch_size]]).encode()
           for i in range(0, n, args.batch_size)]
    rate, cpu_us = ceiling(settings, _create_topic(bootstrap), raw, secret,
                           args.batch_concurrency, config)
    raw_rate = produce_only(bootstrap, _create_topic(bootstrap), messages, args.batch_size,
                            args.batch_concurrency, config)
    print(f"\nceiling, one process, no HTTP (the collector's key check, parse, checks, Avro, "
          f"producers with acks, reply; {args.batch_concurrency} batches in flight): "
          f"{rate:,.0f} events/s, {cpu_us:.1f} us of CPU an event")
    print(f"produce only (pre-encoded batches of {args.batch_size} through the same producers, "
          f"acks=all): {raw_rate:,.0f} events/s")
    print(f"\nmachine: {os.cpu_count()} cores; collector ({args.workers} worker process(es)), "
          "load generator and Kafka broker share them; load average "
          f"{args.load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} now")


def _usage_event(sent: dict[str, Any]) -> dict[str, Any]:
    """What the collector makes of a sent event (for the produce-only baseline)."""
    event = {k: v for k, v in sent.items() if k not in ("metric", "timestamp")}
    return {**event, "source": "collector", "event_type": sent["metric"],
            "event_time": 1795773600123, "value": None}


if __name__ == "__main__":
    main()
