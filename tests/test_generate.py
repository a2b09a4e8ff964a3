"""The traffic generator: reproducible, with a truth that matches what it sent."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from aforo.cli.events import generate as generate_cli
from aforo.events import EventError, decode
from aforo.generate import TrafficSpec, Truth, generate, metric_quantities


def _messages(spec: TrafficSpec) -> tuple[list[tuple[bytes | None, bytes, str]], Truth]:
    truth = Truth()
    return list(generate(spec, truth)), truth


def test_same_seed_same_bytes_other_seed_other_bytes():
    spec = TrafficSpec(events=3000, seed=11)
    first, _ = _messages(spec)
    again, _ = _messages(spec)
    other, _ = _messages(TrafficSpec(events=3000, seed=12))
    assert first == again
    assert first != other


def test_truth_equals_recount_of_unique_valid_messages():
    spec = TrafficSpec(events=20_000, seed=5, duplicate_rate=0.05, malformed_rate=0.01, late_rate=0.02)
    messages, truth = _messages(spec)
    kinds = Counter(kind.split(":")[0] for _, _, kind in messages)
    assert len(messages) == spec.events
    assert kinds["duplicate"] == truth.counts["duplicates"] > 500
    assert kinds["malformed"] == truth.counts["malformed"] > 100
    assert kinds["late"] == truth.counts["late"] > 200
    assert kinds["out-of-order"] == truth.counts["out_of_order"] > 500

    unique: dict[tuple[str, str], dict] = {}
    for _, value, kind in messages:
        if kind.startswith("malformed"):
            continue
        event = decode(value)
        unique[(event["tenant_id"], event["idempotency_key"])] = event
    recount: Counter = Counter()
    for event in unique.values():
        hour = event["event_time"].replace(minute=0, second=0, microsecond=0).isoformat()
        for metric, qty in metric_quantities(event).items():
            recount[(event["tenant_id"], metric, hour)] += qty
    assert dict(recount) == {k: v for k, v in truth.quantities.items()}
    assert sum(truth.per_tenant_events.values()) == len(unique) == truth.counts["unique_valid"]


def test_tenant_share_is_skewed():
    _, truth = _messages(TrafficSpec(events=20_000, seed=3, malformed_rate=0))
    shares = [truth.per_tenant_events[t] for t in TrafficSpec().tenants]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] > 4 * shares[-1]


def test_malformed_records_are_really_malformed():
    messages, _ = _messages(TrafficSpec(events=20_000, seed=9, malformed_rate=0.02))
    for _, value, kind in messages:
        if kind in ("malformed:garbage-bytes", "malformed:truncated"):
            with pytest.raises(EventError):
                decode(value)
        elif kind == "malformed:negative-value":
            assert Decimal(decode(value)["value"]) < 0


@pytest.mark.parametrize("field", ["duplicate_rate", "late_rate", "malformed_rate"])
def test_bad_rates_are_refused_with_the_field(field):
    with pytest.raises(ValueError, match=f"^{field}: must be in"):
        TrafficSpec(**{field: 1.5}).validate()


@pytest.mark.parametrize(("args", "said"), [
    (["--late", "2"], "Invalid value for '--late': must be in [0, 1), got 2.0"),
    (["--unknown-tenants", "-0.1"], "Invalid value for '--unknown-tenants': must be in [0, 1), got -0.1"),
    (["-n", "0"], "Invalid value for '--events': must be at least 1, got 0"),
    (["--tenants", ","], "Invalid value for '--tenants': at least one tenant is needed"),
])
def test_bad_flags_are_refused_naming_the_flag(args, said):
    # refused before the settings are read
    result = CliRunner().invoke(generate_cli, [*args, "--dry-run"], obj=SimpleNamespace(get=lambda: None))
    assert result.exit_code == 2 and said in result.output, result.output
