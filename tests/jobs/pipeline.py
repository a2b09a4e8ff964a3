"""Helpers for the metering-job tests: an isolated pipeline (own topics, own home) and the
comparison of its Parquet output with the generator's ground truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from aforo.catalog import load_catalog
from aforo.events import EventProducer, read_topic
from aforo.generate import TrafficSpec, run
from aforo.pricing import rate_increment, rate_values_increment
from aforo.settings import PROJECT_ROOT, Settings, load_settings
from aforo.stack.kafka import KafkaBroker

Key = tuple[str, str, str]  # tenant, metric, hour (ISO, UTC)


@dataclass
class Pipeline:
    config: Path
    settings: Settings

    @classmethod
    def create(cls, tmp_path: Path, base: Settings, catalog_dir: Path | None = None) -> Pipeline:
        suffix = uuid.uuid4().hex[:8]
        raw = {
            "home": str(tmp_path / "home"),
            "catalog_dir": str(catalog_dir or base.catalog_dir),
            "kafka": {
                "port": base.kafka.port, "controller_port": base.kafka.controller_port,
                "topics": {
                    "usage_events": {"name": f"it-{suffix}-events", "partitions": 3},
                    "dead_letters": {"name": f"it-{suffix}-dlq", "partitions": 1},
                },
            },
            "flink": {"rest_port": base.flink.rest_port, "rpc_port": base.flink.rpc_port},
            "metering": {"checkpoint_interval_s": 3},
        }
        config = tmp_path / "aforo.yaml"
        config.write_text(yaml.safe_dump(raw))
        settings = load_settings(config, environ={})
        KafkaBroker(settings).create_topics()
        return cls(config, settings)

    def set_metering(self, **values: Any) -> None:
        """Change `metering:` settings for the next run (as a user edits aforo.yaml between runs)."""
        raw = yaml.safe_load(self.config.read_text())
        raw["metering"].update(values)
        self.config.write_text(yaml.safe_dump(raw))

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
        env["AFORO_CONFIG"] = str(self.config)
        return env

    def send(self, spec: TrafficSpec) -> dict[str, Any]:
        with self._producer() as producer:
            return run(spec, producer, None)

    def send_events(self, *events: dict[str, Any]) -> None:
        """Events written by hand (fields as the generator's), in this order."""
        with self._producer() as producer:
            for event in events:
                producer.send(event)

    def _producer(self) -> EventProducer:
        return EventProducer(self.settings.kafka.bootstrap, self.settings.kafka.topic("usage_events").name)

    def aforo(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aforo", *args], env=self.env(), cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def run_job(self, *args: str) -> dict[str, Any]:
        result = self.aforo("job", "run", "--bounded", *args)
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        return json.loads(result.stdout)

    def _query(self, sql: str, table: str) -> list[tuple]:
        files = list((self.settings.data_dir / table).glob("*/part-*"))
        if not files:
            return []
        con = duckdb.connect()
        rel = con.read_parquet([str(f) for f in files], hive_partitioning=True)
        con.register("t", rel)
        return con.sql(sql).fetchall()

    def observed(self) -> tuple[dict[Key, Decimal], dict[Key, Decimal]]:
        """(line-item quantities, late-event quantities) per tenant, metric and hour."""
        def by_key(rows: list[tuple]) -> dict[Key, Decimal]:
            out: dict[Key, Decimal] = defaultdict(Decimal)
            for tenant, metric, hour, qty in rows:
                out[(tenant, metric, hour.replace(tzinfo=UTC).isoformat())] += qty
            return dict(out)
        sql = "SELECT tenant_id, metric, window_start, SUM(quantity) FROM t GROUP BY ALL"
        return by_key(self._query(sql, "line_items")), by_key(self._query(sql, "late_events"))

    def archived_keys(self) -> list[tuple[str, str]]:
        return self._query("SELECT tenant_id, idempotency_key FROM t", "events")

    def rows(self, table: str) -> list[dict[str, Any]]:
        files = list((self.settings.data_dir / table).glob("*/part-*"))
        con = duckdb.connect()
        rel = con.read_parquet([str(f) for f in files], hive_partitioning=True)
        return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]

    def line_items(self) -> list[dict[str, Any]]:
        return self.rows("line_items")

    def on_time_transactions(self, metric: str) -> dict[tuple[str, datetime], list[tuple[datetime, str, Decimal]]]:
        """The archived, not-late transactions of a metric per (tenant, hour): (event_time, key, value)."""
        definition = load_catalog(self.settings.catalog_dir).metrics[metric]
        late = {(t, k) for t, k, m in self._query("SELECT tenant_id, idempotency_key, metric FROM t",
                                                   "late_events") if m == metric}
        out: dict[tuple[str, datetime], list[tuple[datetime, str, Decimal]]] = defaultdict(list)
        for event in self.rows("events"):
            value = definition.value_of(event) if definition.matches(event) else None
            if value is None or (event["tenant_id"], event["idempotency_key"]) in late:
                continue
            hour = event["event_time"].replace(minute=0, second=0, microsecond=0)
            out[(event["tenant_id"], hour)].append((event["event_time"], event["idempotency_key"], value))
        return {key: sorted(rows) for key, rows in out.items()}

    def dead_letters(self) -> list[Any]:
        return list(read_topic(self.settings.kafka.bootstrap, self.settings.kafka.topic("dead_letters").name))


def truth_quantities(*truths: dict[str, Any]) -> dict[Key, Decimal]:
    out: dict[Key, Decimal] = defaultdict(Decimal)
    for truth in truths:
        for row in truth["hours"]:
            hour = datetime.fromisoformat(row["hour"]).isoformat()
            out[(row["tenant"], row["metric"], hour)] += Decimal(row["quantity"])
    return dict(out)


def quantity_differences(pipeline: Pipeline, *truths: dict[str, Any],
                         ignore_metrics: frozenset[str] | set[str] = frozenset()
                         ) -> tuple[dict[Key, Decimal], dict[Key, Decimal], dict[Key, Decimal]]:
    """Line items plus late events against the generator's truth: (expected, observed) for
    the keys that differ, and the observed keys the truth does not have."""
    expected = truth_quantities(*truths)
    items, late = pipeline.observed()
    assert sum(items.values()) > 0
    combined: dict[Key, Decimal] = defaultdict(Decimal)
    for source in (items, late):
        for key, qty in source.items():
            if key[1] not in ignore_metrics:
                combined[key] += qty
    missing = {k: v for k, v in expected.items() if combined.get(k) != v}
    observed = {k: combined.get(k, Decimal(0)) for k in missing}
    extra = {k: v for k, v in combined.items() if k not in expected}
    return missing, observed, extra


def assert_quantities_equal_truth(pipeline: Pipeline, *truths: dict[str, Any],
                                  ignore_metrics: frozenset[str] | set[str] = frozenset()) -> None:
    """Line items plus late events equal the generator's truth (of the example catalog's metrics)."""
    missing, observed, extra = quantity_differences(pipeline, *truths, ignore_metrics=ignore_metrics)
    assert not missing and not extra, (
        f"{len(missing)} keys differ, e.g. {list(missing.items())[:3]} observed "
        f"{[observed[k] for k in list(missing)[:3]]}; {len(extra)} unexpected, e.g. {list(extra.items())[:3]}")


def _per_transaction_hours(rows: list[dict[str, Any]], metrics: set[str]) -> list[dict[str, Any]]:
    """The rows, with a billed metric priced per transaction merged per tenant and hour: an hour
    has two rows when the job stopped (drained) inside it and resumed; together they hold its
    transactions, rated after the period's earlier ones."""
    out: list[dict[str, Any]] = []
    hours: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["window_start"], r["period_to_date_quantity"])):
        if row["metric"] in metrics and row["billed"]:
            key = (row["tenant_id"], row["metric"], row["window_start"])
            if key in hours:
                hour = hours[key]
                for name in ("quantity", "event_count", "amount"):
                    hour[name] += row[name]
                hour["period_to_date_quantity"] = row["period_to_date_quantity"]
                continue
            row = hours[key] = dict(row)
        out.append(row)
    return out


def assert_amounts_are_exact_ratings(pipeline: Pipeline) -> int:
    """Every billed row's amount is F(ptd) - F(ptd - q) of its charge, or for a price per
    transaction the fees of its hour's transactions in event-time order; per period they add up."""
    catalog = load_catalog(pipeline.settings.catalog_dir)
    per_transaction = {m: pipeline.on_time_transactions(m) for m in catalog.value_metrics()}
    totals: dict[tuple[str, str, Any], list[Any]] = defaultdict(lambda: [Decimal(0), Decimal(0), []])
    checked = 0
    for row in _per_transaction_hours(pipeline.line_items(), set(per_transaction)):
        if not row["billed"]:
            assert row["amount"] == 0
            continue
        at = row["period_start"].replace(tzinfo=UTC)  # one plan version a period
        charge = next(c for c in catalog.charges_for(row["tenant_id"], at) if c.metric == row["metric"])
        key = (row["tenant_id"], row["metric"], row["period_start"])
        before = row["period_to_date_quantity"] - row["quantity"]
        if row["metric"] in per_transaction:
            hour = [v for _, _, v in per_transaction[row["metric"]][(row["tenant_id"], row["window_start"])]]
            assert sum(hour) == row["quantity"] and len(hour) == row["event_count"], row
            expected = rate_values_increment(charge.price, len(totals[key][2]), before, hour)
            totals[key][2].extend(hour)
        else:
            expected = rate_increment(charge.price, before, row["quantity"])
        assert row["amount"] == expected, row
        totals[key][0] += row["quantity"]
        totals[key][1] += row["amount"]
        checked += 1
    for (tenant, metric, period_start), (quantity, amount, values) in totals.items():
        charge = next(c for c in catalog.charges_for(tenant, period_start.replace(tzinfo=UTC))
                      if c.metric == metric)
        whole = (rate_values_increment(charge.price, 0, Decimal(0), values) if metric in per_transaction
                 else rate_increment(charge.price, Decimal(0), quantity))
        assert amount == whole, (tenant, metric)
    assert any(totals[k][2] for k in totals) or not per_transaction, "no transaction was rated"
    return checked
