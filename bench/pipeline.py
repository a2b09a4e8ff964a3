"""Figures for the metering job: events/s from a pre-filled topic to committed Parquet
(`aforo job run --bounded`), and, in the same run, the raw rate of reading and decoding
that topic from Python (confluent-kafka + fastavro), the ceiling on this machine. Also
the job's sustained rate once warm (its source's pace from 25 % to 90 % of the topic,
from Flink's REST metrics), which leaves out the JVM start, planning and JIT warm-up,
and the machine's busy CPU time per event over the run (for comparing two versions of
the job on a VM whose speed moves between runs). With --floor, also the end-to-end
rate of the floor (bench/floor_job.py): the job's own source alone, read to the
end into a blackhole on the same MiniCluster, so the most any job could do end to
end here, JVM start, planning and JIT included.

    python bench/pipeline.py [--events 1000000] [--repeat 3] [--parallelism 2] [--floor]

With --repeat N the job runs N times over the same pre-filled topic, each from a
home and a consumer group of its own (so from empty state), and the figures are
the medians, with each figure's (min .. max): on two shared cores one run's
figures move by 10-15 % from run to run.

Uses its own Kafka broker ports and home (does not touch a running dev stack).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from aforo.events import EventProducer, decode
from aforo.flinkrest import FlinkRest, FlinkRestError, KafkaSourcePositions
from aforo.generate import TrafficSpec, run
from aforo.settings import PROJECT_ROOT, load_settings
from aforo.stack.kafka import KafkaBroker


def raw_read_rate(bootstrap: str, topic: str, expected: int) -> float:
    from confluent_kafka import Consumer
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen = 0
    started = None
    while seen < expected:
        for msg in consumer.consume(num_messages=10000, timeout=1.0):
            if msg.error():
                continue
            if started is None:
                started = time.monotonic()
            try:
                decode(msg.value())
            except Exception:
                pass
            seen += 1
    consumer.close()
    return seen / (time.monotonic() - (started or time.monotonic()))


def sustained_rate(rest_port: int, total: int, partitions: int, done: threading.Event) -> dict[str, float]:
    """The job's read rate once warm: records its source fetched between 25 % and 90 %
    of the topic, per second (backpressure keeps fetching at the pace of processing)."""
    rest = FlinkRest(f"http://localhost:{rest_port}")
    marks: dict[str, float] = {}
    positions = None
    while not done.is_set() and "90" not in marks:
        try:
            if positions is None:
                job = next(j["jid"] for j in rest.jobs() if j["state"] == "RUNNING")
                positions = KafkaSourcePositions(rest, job, "usage_events", partitions)
            fetched = sum(v + 1 for v in positions.fetched().values())
        except (StopIteration, FlinkRestError):
            fetched = 0
        for mark, share in (("25", 0.25), ("90", 0.90)):
            if mark not in marks and fetched >= share * total:
                marks[mark] = time.monotonic()
                marks[f"at{mark}"] = fetched
        time.sleep(0.5)
    return marks


def machine_cpu_seconds() -> float | None:
    """CPU time the whole machine has spent busy (all processes, all cores), from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def job_run(config: Path, group: str, events: int, unique: int, rest_port: int,
            partitions: int) -> dict[str, float | int | None]:
    """One `aforo job run --bounded` over the whole topic, from a home and a consumer group of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    env["AFORO_CONFIG"] = str(config)
    done = threading.Event()
    marks: dict[str, float] = {}
    watcher = threading.Thread(target=lambda: marks.update(sustained_rate(rest_port, events, partitions, done)))
    watcher.start()
    t0, cpu0 = time.monotonic(), machine_cpu_seconds()
    result = subprocess.run([sys.executable, "-m", "aforo", "job", "run", "--bounded", "--group-prefix", group],
                            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    wall, cpu1 = time.monotonic() - t0, machine_cpu_seconds()
    done.set()
    watcher.join()
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    report = json.loads(result.stdout)
    assert report["records"] == events, report
    savepoint = Path(report["savepoint"].removeprefix("file:"))
    savepoint_bytes = sum(f.stat().st_size for f in savepoint.rglob("*") if f.is_file())
    state_bytes = report["last_checkpoint_bytes"] or savepoint_bytes
    return {
        "pipeline_seconds_wall": round(wall, 1),
        "pipeline_events_per_s": round(events / wall),
        # The same without the JVM start, job submission and the drained stop.
        "catch_up_seconds": report["catch_up_seconds"],
        "catch_up_events_per_s": round(events / report["catch_up_seconds"]),
        # Once warm (JIT, RocksDB): the source's read rate from 25 % to 90 % of the topic.
        "sustained_events_per_s": (round((marks["at90"] - marks["at25"]) / (marks["90"] - marks["25"]))
                                   if "90" in marks else None),
        # The machine's busy CPU time over the run (everything on it: job, broker, this
        # script), per event: steadier than the rates when the VM's speed moves from run
        # to run, provided nothing else runs beside the bench.
        "machine_cpu_us_per_event": (round((cpu1 - cpu0) / events * 1e6, 1)
                                     if cpu0 is not None and cpu1 is not None else None),
        "checkpoints": report["checkpoints"],
        "last_checkpoint_ms": report["last_checkpoint_ms"],
        "last_checkpoint_state_bytes": report["last_checkpoint_bytes"],
        "savepoint_bytes": savepoint_bytes,
        "state_bytes_per_million_keys": round(state_bytes / unique * 1e6),
    }


def floor_run(config: Path, group: str, events: int) -> dict[str, float]:
    """The floor (bench/floor_job.py): the job's source alone, to the topic's end, into a blackhole."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    env["AFORO_CONFIG"] = str(config)
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / "floor_job.py"), "--group-prefix", group],
                            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return {"floor_seconds_wall": round(wall, 1), "floor_events_per_s": round(events / wall)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=39092)
    parser.add_argument("--parallelism", type=int, default=None,
                        help="metering.parallelism for the job (default: the settings' default)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs over the same topic (each with its own state and consumer group); "
                             "prints each run on stderr and the medians")
    parser.add_argument("--floor", action="store_true",
                        help="after each job run, time the floor (bench/floor_job.py: the job's source "
                             "alone into a blackhole, same JVM start and MiniCluster): the most any job "
                             "could do end to end here")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aforo-bench-"))

    def config_for(home: Path) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        config = home / "aforo.yaml"
        config.write_text(yaml.safe_dump({
            "home": str(home), "kafka": {"port": args.port, "controller_port": args.port + 1},
            "flink": {"rest_port": args.port + 2},
            "metering": {"local_rest_port": args.port + 3,
                         **({"parallelism": args.parallelism} if args.parallelism else {})},
        }))
        return config

    settings = load_settings(config_for(root), environ={})
    broker = KafkaBroker(settings)
    broker.up()
    try:
        topic = settings.kafka.topic("usage_events").name
        spec = TrafficSpec(events=args.events, seed=7, hours=24 * 7, duplicate_rate=0.05,
                           out_of_order_rate=0.05, late_rate=0.01, malformed_rate=0.001)
        t0 = time.monotonic()
        with EventProducer(settings.kafka.bootstrap, topic) as producer:
            truth = run(spec, producer, None)
        print(f"pre-filled {args.events:,} messages in {time.monotonic() - t0:.1f}s", file=sys.stderr)
        unique = truth["counts"]["unique_valid"]
        partitions = settings.kafka.topic("usage_events").partitions
        runs = []
        for i in range(args.repeat):
            # The ceiling in the same run, just before the job: the machine's state then.
            ceiling = raw_read_rate(settings.kafka.bootstrap, topic, args.events)
            figures = job_run(config_for(root / f"run-{i + 1}"), f"bench-{i + 1}", args.events, unique,
                              args.port + 3, partitions)
            figures["raw_read_decode_events_per_s (ceiling)"] = round(ceiling)
            figures["ratio"] = round(figures["pipeline_events_per_s"] / ceiling, 3)
            if args.floor:
                figures.update(floor_run(config_for(root / f"floor-{i + 1}"), f"floor-{i + 1}", args.events))
            runs.append(figures)
            print(f"run {i + 1}: {json.dumps(figures)}", file=sys.stderr, flush=True)
        summary: dict[str, object] = {"events": args.events, "parallelism": settings.metering.parallelism,
                                      "unique_keys": unique, "runs": len(runs)}
        for key in runs[0]:
            values = sorted(v for r in runs if (v := r[key]) is not None)
            median = statistics.median(values) if values else None
            summary[key] = round(median, 3) if isinstance(median, float) and median % 1 else median
            if len(runs) > 1 and values:
                summary[f"{key} (min .. max)"] = f"{values[0]} .. {values[-1]}"
        print(json.dumps(summary, indent=1))
    finally:
        broker.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
