"""`aforo generate` and `aforo topic read`: traffic in, and a look at what is in a topic."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from confluent_kafka import KafkaError, KafkaException

from aforo.events import DeliveryFailed, EventProducer, check_topic, read_topic
from aforo.generate import DEFAULT_TENANTS, TrafficSpec, run, stderr_progress


def _utc(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# TrafficSpec's fields, which its errors name, and the flags that set them.
_FLAGS = {"events": "--events", "tenants": "--tenants", "hours": "--hours", "duplicate_rate": "--duplicates",
          "out_of_order_rate": "--out-of-order", "late_rate": "--late", "malformed_rate": "--malformed",
          "unknown_tenant_rate": "--unknown-tenants"}


@click.command()
@click.option("--events", "-n", default=10_000, show_default=True, help="Messages to make.")
@click.option("--tenants", default=",".join(DEFAULT_TENANTS), show_default=True,
              help="Comma-separated tenant ids, most active first (Zipf-like share).")
@click.option("--seed", default=42, show_default=True,
              help="Random seed: the same seed and options make the same traffic and truth.")
@click.option("--start", default="2026-11-01T00:00:00Z", show_default=True, help="First event time (UTC).")
@click.option("--hours", default=24, show_default=True, help="Event-time span.")
@click.option("--duplicates", "duplicate_rate", default=0.05, show_default=True,
              help="Share of messages that send an earlier event again (same key).")
@click.option("--out-of-order", "out_of_order_rate", default=0.05, show_default=True,
              help="Share of events sent up to about 2 minutes of traffic late (within the watermark).")
@click.option("--late", "late_rate", default=0.01, show_default=True,
              help="Share of events 15-120 minutes behind the traffic (late for the hourly windows).")
@click.option("--malformed", "malformed_rate", default=0.005, show_default=True,
              help="Share of messages that are not valid events (for the dead-letter topic).")
@click.option("--unknown-tenants", "unknown_tenant_rate", default=0.0, show_default=True,
              help="Share of events of tenants the catalog does not know (unknown-1..3).")
@click.option("--truth", "truth_path", type=click.Path(path_type=Path), default=None,
              help="Where to write the expected totals (default: <home>/generated/truth-<seed>.json).")
@click.option("--dry-run", is_flag=True, help="Compute the traffic and truth without sending.")
@click.option("--collector", "collector_url", default=None, metavar="URL",
              help="Send through the HTTP collector (POST /v1/events, JSON batches) instead of "
                   "straight to Kafka; bytes that are not an event cannot be posted and are counted.")
@click.option("--api-key", envvar="AFORO_API_KEY", default=None,
              help="The collector's API key (or AFORO_API_KEY); it must cover every tenant.")
@click.pass_obj
def generate(obj, events: int, tenants: str, seed: int, start: str, hours: int,  # type: ignore[no-untyped-def]
             duplicate_rate: float, out_of_order_rate: float, late_rate: float,
             malformed_rate: float, unknown_tenant_rate: float, truth_path: Path | None,
             dry_run: bool, collector_url: str | None, api_key: str | None) -> None:
    """Send realistic, seeded gateway traffic to Kafka and write its ground truth."""
    settings = obj.get()
    spec = TrafficSpec(
        events=events, tenants=tuple(t for t in tenants.split(",") if t), seed=seed,
        start=_utc(start), hours=hours, duplicate_rate=duplicate_rate,
        out_of_order_rate=out_of_order_rate, late_rate=late_rate,
        malformed_rate=malformed_rate, unknown_tenant_rate=unknown_tenant_rate,
    )
    try:
        spec.validate()
    except ValueError as exc:
        field, _, why = str(exc).partition(": ")
        if field in _FLAGS:
            raise click.BadParameter(why, param_hint=f"'{_FLAGS[field]}'") from None
        raise click.UsageError(str(exc)) from None
    truth_path = truth_path or settings.home / "generated" / f"truth-{seed}.json"
    topic = settings.kafka.topic("usage_events").name
    if collector_url and not dry_run:
        if not api_key:
            raise click.UsageError("--collector needs --api-key (or AFORO_API_KEY)")
        from ingest.client import AforoClient, CollectorForwarder

        with AforoClient(collector_url, api_key) as client:
            forwarder = CollectorForwarder(client)
            result = run(spec, forwarder, truth_path, progress=stderr_progress)
        click.echo(json.dumps({"collector": collector_url, "truth": str(truth_path),
                               **result["counts"], "collector_counts": forwarder.counts()}, indent=1))
        return
    if not dry_run:  # a stack that is down: one line in 2 s, not 30 s of librdkafka and a traceback
        with kafka_errors(settings.kafka.bootstrap, topic, "usage_events", "write"):
            check_topic(settings.kafka.bootstrap, topic)
    producer = None if dry_run else EventProducer(settings.kafka.bootstrap, topic)
    try:
        result = run(spec, producer, truth_path, progress=stderr_progress)
    except DeliveryFailed as exc:  # the broker went away while sending
        click.echo(f"error: {topic} at {settings.kafka.bootstrap}: {exc}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"topic": None if dry_run else topic, "truth": str(truth_path),
                           **result["counts"]}, indent=1))


@contextmanager
def kafka_errors(bootstrap: str, name: str, role: str, doing: str = "read") -> Iterator[None]:
    """A missing topic or an unreachable broker is the user's to fix, not a defect:
    one line on stderr and exit 2. librdkafka's own log (an ERROR for every failed
    connect, ~20 a second) is silenced meanwhile: that line says it once."""
    rdkafka = logging.getLogger(read_topic.__module__)
    rdkafka.disabled = True
    try:
        yield
    except KafkaException as exc:
        error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
        code = error.code() if error is not None else None
        what = f"topic {name!r}" + (f" ({role})" if role != name else "")
        if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
            message = f"{what} does not exist at {bootstrap}"
        elif code in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN):
            message = (f"Kafka at {bootstrap} cannot be reached to {doing} {what}"
                       " (is the stack up? `aforo stack up`)")
        else:
            message = f"reading {what} at {bootstrap}: {error.str() if error else exc}"
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except TimeoutError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    finally:
        rdkafka.disabled = False


@click.group()
def topic() -> None:
    """Look at a Kafka topic."""


@topic.command("read")
@click.option("--topic", "topic_role", default="usage_events", show_default=True,
              help="Topic role from settings (usage_events, dead_letters) or a topic name.")
@click.option("--show", default=0, help="Print this many decoded records as JSON lines.")
@click.pass_obj
def read(obj, topic_role: str, show: int) -> None:  # type: ignore[no-untyped-def]
    """Read a topic to its current end and summarise it (malformed records are listed, not fatal)."""
    settings = obj.get()
    name = settings.kafka.topics[topic_role].name if topic_role in settings.kafka.topics else topic_role
    per_tenant: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    total = 0
    with kafka_errors(settings.kafka.bootstrap, name, topic_role):
        for rec in read_topic(settings.kafka.bootstrap, name):
            total += 1
            if rec.error:
                errors[rec.error.split(": ", 2)[-1].split(":")[0]] += 1
                continue
            assert rec.event is not None
            per_tenant[rec.event["tenant_id"] or "(empty tenant id)"] += 1
            if show > 0:
                show -= 1
                click.echo(json.dumps(rec.event, default=str))
    click.echo(f"{name}: {total:,} records, {total - sum(errors.values()):,} decoded, "
               f"{sum(errors.values()):,} not decodable")
    for tenant, n in per_tenant.most_common():
        click.echo(f"  {tenant:<20} {n:>10,}")
    for err, n in errors.most_common(10):
        click.echo(f"  not decodable: {n:,} x {err}")
    sys.stdout.flush()


commands = [generate, topic]
