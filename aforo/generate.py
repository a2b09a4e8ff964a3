"""Synthetic, reproducible gateway traffic with its ground truth written beside it.

The truth is computed from the unique, valid events the generator made, by its
own simple rules for the example catalog's metrics (an oracle independent of
the metering job's generated SQL).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from aforo.events import encode, message_key

DEFAULT_TENANTS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")
APIS = {
    "payments": [("POST", "/v1/charges"), ("GET", "/v1/charges/{id}"), ("POST", "/v1/refunds")],
    "search": [("GET", "/v1/search"), ("GET", "/v1/suggest")],
    "maps": [("GET", "/v1/geocode"), ("GET", "/v1/route"), ("GET", "/v1/tiles/{z}/{x}/{y}")],
    "ml": [("POST", "/v1/embeddings"), ("POST", "/v1/classify")],
}
MALFORMED_KINDS = ("garbage-bytes", "truncated", "empty-tenant", "empty-key", "negative-value",
                   "far-future")


@dataclass(frozen=True)
class TrafficSpec:
    events: int = 10_000
    tenants: tuple[str, ...] = DEFAULT_TENANTS
    seed: int = 42
    start: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    hours: int = 24
    zipf_s: float = 1.2
    duplicate_rate: float = 0.05
    out_of_order_rate: float = 0.05
    late_rate: float = 0.01
    malformed_rate: float = 0.005
    unknown_tenant_rate: float = 0.0
    payment_rate: float = 0.1

    def validate(self) -> None:
        for name in ("duplicate_rate", "out_of_order_rate", "late_rate", "malformed_rate",
                     "unknown_tenant_rate", "payment_rate"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ValueError(f"{name}: must be in [0, 1), got {value}")
        if self.events < 1:
            raise ValueError(f"events: must be at least 1, got {self.events}")
        if self.hours < 1:
            raise ValueError(f"hours: must be at least 1, got {self.hours}")
        if not self.tenants:
            raise ValueError("tenants: at least one tenant is needed")


def metric_quantities(event: dict[str, Any]) -> dict[str, Decimal]:
    """The example catalog's metrics for one event (the oracle's rules)."""
    if event["event_type"] == "api_call":
        out = {"bandwidth_bytes": Decimal(event["response_bytes"] or 0)}
        if event["status"] is not None and event["status"] < 500:
            out["api_calls"] = Decimal(1)
        if "compute_ms" in event["properties"]:
            out["compute_ms"] = Decimal(event["properties"]["compute_ms"])
        return out
    if event["event_type"] == "payment":
        return {"payment_value": Decimal(event["value"])}
    return {}


@dataclass
class Truth:
    """Expected totals per tenant, metric and hour (on time and late), plus counts."""

    quantities: dict[tuple[str, str, str], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    events: dict[tuple[str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    late_keys: set[tuple[str, str]] = field(default_factory=set)
    transactions: dict[str, list[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    per_tenant_events: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, event: dict[str, Any], late: bool) -> None:
        hour = event["event_time"].replace(minute=0, second=0, microsecond=0).isoformat()
        tenant = event["tenant_id"]
        self.per_tenant_events[tenant] += 1
        if late:
            self.late_keys.add((tenant, event["idempotency_key"]))
        for metric, qty in metric_quantities(event).items():
            self.quantities[(tenant, metric, hour)] += qty
            self.events[(tenant, metric, hour)] += 1
        if event["event_type"] == "payment":
            self.transactions[tenant].append(
                (event["event_time"].isoformat(), event["idempotency_key"], event["value"]))

    def to_json(self, spec: TrafficSpec) -> dict[str, Any]:
        params = asdict(spec)
        params["start"] = spec.start.isoformat()
        rows = [
            {"tenant": t, "metric": m, "hour": h, "quantity": str(q), "events": self.events[(t, m, h)]}
            for (t, m, h), q in sorted(self.quantities.items())
        ]
        return {
            "params": params,
            "counts": dict(self.counts),
            "unique_events_per_tenant": dict(sorted(self.per_tenant_events.items())),
            "hours": rows,
            "late_keys": sorted(f"{t}/{k}" for t, k in self.late_keys),
            "transactions": {t: sorted(v) for t, v in sorted(self.transactions.items())},
        }


def _zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (i + 1) ** s for i in range(n)]


def _make_event(rng: random.Random, spec: TrafficSpec, seq: int, tenant: str,
                when: datetime) -> dict[str, Any]:
    key = f"req-{spec.seed}-{seq:09d}"
    if rng.random() < spec.payment_rate:
        cents = rng.randint(100, 500_000)
        return {
            "idempotency_key": key, "tenant_id": tenant, "source": "generator",
            "event_type": "payment", "event_time": when, "api": "payments",
            "route": "/v1/charges", "method": "POST", "status": 201,
            "latency_ms": rng.randint(20, 400), "request_bytes": rng.randint(200, 2000),
            "response_bytes": rng.randint(300, 3000),
            "value": f"{cents // 100}.{cents % 100:02d}",
            "properties": {"currency": "USD"},
        }
    api = rng.choice(sorted(APIS))
    method, route = rng.choice(APIS[api])
    roll = rng.random()
    status = 200 if roll < 0.9 else (404 if roll < 0.96 else 503)
    props = {"region": rng.choice(["us-east-1", "eu-west-1", "ap-south-1"])}
    if api == "ml":
        props["compute_ms"] = str(rng.randint(5, 5000))
    return {
        "idempotency_key": key, "tenant_id": tenant, "source": "generator",
        "event_type": "api_call", "event_time": when, "api": api, "route": route,
        "method": method, "status": status, "latency_ms": int(rng.lognormvariate(3.5, 0.8)),
        "request_bytes": rng.randint(100, 4000),
        "response_bytes": int(rng.lognormvariate(8.5, 1.5)),
        "value": None, "properties": props,
    }


def _malformed(rng: random.Random, kind: str, base: dict[str, Any]) -> bytes:
    if kind == "garbage-bytes":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40))) + b"\xff\xff\xff\xff\xff"
    if kind == "truncated":
        return encode(base)[: rng.randint(3, 20)]
    bad = dict(base)
    if kind == "empty-tenant":
        bad["tenant_id"] = ""
    elif kind == "empty-key":
        bad["idempotency_key"] = ""
    elif kind == "negative-value":
        bad["event_type"], bad["value"] = "payment", "-12.50"
    elif kind == "far-future":
        bad["event_time"] = base["event_time"] + timedelta(days=400)
    return encode(bad)


def generate(spec: TrafficSpec, truth: Truth) -> Iterator[tuple[bytes | None, bytes, str]]:
    """Yield (key, value, kind) in send order, recording the ground truth into `truth`.

    kind is valid | duplicate | late | out-of-order | malformed:<why>.
    """
    spec.validate()
    rng = random.Random(spec.seed)
    weights = _zipf_weights(len(spec.tenants), spec.zipf_s)
    span_ms = spec.hours * 3600 * 1000
    step = span_ms / spec.events
    sent: list[dict[str, Any]] = []
    held: list[tuple[int, dict[str, Any]]] = []  # out-of-order events, released a little later
    for seq in range(spec.events):
        when = spec.start + timedelta(milliseconds=int(seq * step + rng.random() * step))
        while held and held[0][0] <= seq:
            _, ev = held.pop(0)
            yield message_key(ev), encode(ev), "out-of-order"
        r = rng.random()
        if r < spec.malformed_rate:
            base = _make_event(rng, spec, seq, rng.choices(spec.tenants, weights)[0], when)
            kind = rng.choice(MALFORMED_KINDS)
            truth.counts["malformed"] += 1
            truth.counts[f"malformed:{kind}"] += 1
            yield None, _malformed(rng, kind, base), f"malformed:{kind}"
            continue
        r -= spec.malformed_rate
        if r < spec.duplicate_rate and sent:
            dup = rng.choice(sent[-5000:])
            truth.counts["duplicates"] += 1
            yield message_key(dup), encode(dup), "duplicate"
            continue
        r -= spec.duplicate_rate
        if rng.random() < spec.unknown_tenant_rate:
            tenant = f"unknown-{rng.randint(1, 3)}"
            truth.counts["unknown_tenant"] += 1
        else:
            tenant = rng.choices(spec.tenants, weights)[0]
        late = r < spec.late_rate and when - spec.start > timedelta(hours=1)
        if late:
            # Far behind the watermark (> 5 min of allowed out-of-orderness).
            when = when - timedelta(minutes=rng.randint(15, 120))
        event = _make_event(rng, spec, seq, tenant, when)
        truth.add(event, late)
        truth.counts["unique_valid"] += 1
        sent.append(event)
        if late:
            truth.counts["late"] += 1
            yield message_key(event), encode(event), "late"
        elif rng.random() < spec.out_of_order_rate:
            # Within the watermark's bound: released up to ~2 minutes of traffic later.
            delay = max(1, int(rng.randint(10_000, 120_000) / step))
            held.append((seq + delay, event))
            held.sort(key=lambda x: x[0])
            truth.counts["out_of_order"] += 1
        else:
            yield message_key(event), encode(event), "valid"
    for _, ev in held:
        yield message_key(ev), encode(ev), "out-of-order"


class MessageSink(Protocol):
    """Where the traffic goes: an EventProducer (Kafka) or the collector (ingest.client)."""

    def send_raw(self, value: bytes, key: bytes | None = None) -> Any: ...
    def flush(self) -> Any: ...


def run(spec: TrafficSpec, producer: MessageSink | None, truth_path: Path | None,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Send the traffic (if a producer is given) and write the truth; return the truth."""
    started = last = time.monotonic()
    produced = 0
    truth = Truth()
    for key, value, _kind in generate(spec, truth):
        if producer is not None:
            producer.send_raw(value, key)
        produced += 1
        now = time.monotonic()
        if progress and now - last >= 1.0:
            progress(f"{produced:,}/{spec.events:,} messages, {produced / (now - started):,.0f}/s")
            last = now
    if producer is not None:
        producer.flush()
    truth.counts["messages"] = produced
    elapsed = time.monotonic() - started
    result = truth.to_json(spec)
    result["counts"]["seconds"] = round(elapsed, 3)
    if truth_path is not None:
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        truth_path.write_text(json.dumps(result, indent=1))
    if progress:
        progress(f"done: {produced:,} messages in {elapsed:.1f}s ({produced / max(elapsed, 1e-9):,.0f}/s)")
    return result


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
