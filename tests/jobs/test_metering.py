"""The metering job end to end through the real broker and a real Flink MiniCluster / cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from aforo.catalog import load_catalog
from aforo.flinkconf import load_flink_conf
from aforo.flinkrest import FlinkRest
from aforo.generate import TrafficSpec
from aforo.lag import committed_offsets, end_offsets
from aforo.pricing import rate_change
from aforo.settings import PROJECT_ROOT, Settings
from jobs.savepoints import local_run_rest_url, sidecar_path
from tests.jobs.pipeline import (
    Pipeline,
    assert_amounts_are_exact_ratings,
    assert_quantities_equal_truth,
)

pytestmark = [pytest.mark.kafka, pytest.mark.flink, pytest.mark.slow]

DIRTY = dict(duplicate_rate=0.05, out_of_order_rate=0.05, late_rate=0.01, malformed_rate=0.01)


@pytest.fixture
def pipeline(tmp_path, settings, kafka) -> Pipeline:
    return Pipeline.create(tmp_path, settings)


def _with_own_catalog(tmp_path: Path, settings: Settings) -> tuple[Pipeline, Path]:
    """A pipeline reading a copy of the example catalog, which the test may change."""
    catalog = tmp_path / "catalog"
    shutil.copytree(settings.catalog_dir, catalog)
    return Pipeline.create(tmp_path, settings, catalog_dir=catalog), catalog


def test_ground_truth_dedup_late_and_dead_letters(pipeline):
    truth = pipeline.send(TrafficSpec(events=20_000, seed=101, unknown_tenant_rate=0.02, **DIRTY))
    report = pipeline.run_job()
    assert report["records"] == 20_000 and report["late_records_dropped"] == 0
    # The drained stop leaves the group's offsets at the topic's end, though the job
    # stopped before its Kafka source sent its last commits.
    topic = pipeline.settings.kafka.topic("usage_events").name
    ends = end_offsets(pipeline.settings.kafka.bootstrap, topic)
    assert committed_offsets(pipeline.settings.kafka.bootstrap, topic, "aforo-metering", list(ends)) == ends

    assert_quantities_equal_truth(pipeline, truth)
    assert assert_amounts_are_exact_ratings(pipeline) > 100
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)) == truth["counts"]["unique_valid"]
    assert_archive_encodings(pipeline)

    dead = pipeline.dead_letters()
    assert len(dead) == truth["counts"]["malformed"] > 100
    reasons = [dict(r.headers)["aforo.reason"].decode() for r in dead]
    assert sum(r.startswith("undecodable") for r in reasons) == (
        truth["counts"].get("malformed:garbage-bytes", 0) + truth["counts"].get("malformed:truncated", 0))
    assert reasons.count("tenant_id: missing") == truth["counts"].get("malformed:empty-tenant", 0)
    assert reasons.count("idempotency_key: missing") == truth["counts"].get("malformed:empty-key", 0)
    assert sum("negative quantity" in r for r in reasons) == truth["counts"].get("malformed:negative-value", 0)
    assert sum("too far in the future" in r for r in reasons) == truth["counts"].get("malformed:far-future", 0)
    assert all(r.raw for r in dead), "dead letters keep the original bytes"

    # Usage of tenants without a plan is rated at zero, flagged, and listed as leakage,
    # its late events too.
    leaks = pipeline.aforo("leakage", "--json")
    assert leaks.returncode == 0, leaks.stderr
    report = json.loads(leaks.stdout)
    unknown = [leak for leak in report["leaks"] if leak["tenant_id"].startswith("unknown-")]
    assert {leak["tenant_id"] for leak in unknown} == {"unknown-1", "unknown-2", "unknown-3"}
    assert {leak["why"] for leak in unknown} == {"no customer"}
    on_time, late = pipeline.observed()
    for leak in unknown:
        expected = sum(v for (t, m, _), v in [*on_time.items(), *late.items()]
                       if (t, m) == (leak["tenant_id"], leak["metric"]))
        assert Decimal(leak["quantity"]) == expected > 0
    assert sum(d["count"] for d in report["dead_letters"]) == truth["counts"]["malformed"]


def assert_archive_encodings(pipeline: Pipeline) -> None:
    """The aforo-parquet format: event times as INT64 milliseconds of UTC wall-clock time (DuckDB
    reads TIMESTAMP), and dictionaries kept for the columns of few values."""
    import pyarrow.parquet as pq
    files = list((pipeline.settings.data_dir / "events").glob("*/part-*"))
    assert files
    for file in files:
        parquet = pq.ParquetFile(file)
        event_time = parquet.schema.column(parquet.schema.names.index("event_time"))
        assert event_time.physical_type == "INT64"
        assert "isAdjustedToUTC=false, timeUnit=milliseconds" in str(event_time.logical_type)
    # (a few rows may be cheaper plain: the writer drops a dictionary that does not pay)
    largest = pq.ParquetFile(max(files, key=lambda f: f.stat().st_size)).metadata
    assert largest.num_rows > 1000
    first = largest.row_group(0)
    chunks = {first.column(i).path_in_schema: first.column(i) for i in range(first.num_columns)}
    assert chunks["tenant_id"].has_dictionary_page and not chunks["idempotency_key"].has_dictionary_page
    # min/max only for what readers filter on (ARCHIVE_STATISTICS_COLUMNS): event times and
    # tenants keep theirs; unique keys and the other columns would prune nothing
    def has_min_max(path: str) -> bool:
        return bool(chunks[path].statistics and chunks[path].statistics.has_min_max)
    assert has_min_max("event_time") and has_min_max("tenant_id")
    assert not any(has_min_max(path) for path in ("idempotency_key", "route", "method", "api",
                                                   "status", "response_bytes"))


def test_stop_with_savepoint_resume_and_replay_change_nothing(pipeline):
    """The second run's traffic starts inside the first run's last hour, which its drained stop
    had fired (and its late events reach back further): those hours' new events are billed on
    top, in a second row (the watermark starts anew after a restart) or as late events."""
    first = pipeline.send(TrafficSpec(events=8000, seed=201, hours=6, **DIRTY))
    pipeline.run_job()
    second = pipeline.send(TrafficSpec(events=8000, seed=202, hours=6,
                                       start=datetime(2026, 11, 1, 5, tzinfo=UTC), **DIRTY))
    resumed = pipeline.run_job()
    assert resumed["records"] == 8000  # what this run read: the first run's drained stop had read the rest
    assert_quantities_equal_truth(pipeline, first, second)
    rows = Counter((r["tenant_id"], r["metric"], r["api"], r["window_start"]) for r in pipeline.line_items())
    doubled = {hour for (_, _, _, hour), n in rows.items() if n > 1}
    assert max(doubled) == datetime(2026, 11, 1, 5) and max(rows.values()) == 2, \
        "only hours the first run had emitted have a second row"

    # A day later the same events arrive again (a gateway replaying its buffer).
    pipeline.send(TrafficSpec(events=8000, seed=201, hours=6, **DIRTY))
    pipeline.run_job()
    assert_quantities_equal_truth(pipeline, first, second)
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)) == first["counts"]["unique_valid"] + second["counts"]["unique_valid"]
    assert_amounts_are_exact_ratings(pipeline)


def test_a_savepoint_resumes_at_another_parallelism(pipeline):
    """`metering.parallelism` may change between runs: the savepoint's dedup keys and running
    totals are spread over the new subtasks (RocksDB's native format, heap timers)."""
    first = pipeline.send(TrafficSpec(events=6000, seed=211, hours=4, **DIRTY))
    pipeline.run_job()
    pipeline.set_metering(parallelism=3)
    pipeline.send(TrafficSpec(events=6000, seed=211, hours=4, **DIRTY))  # a replay of the first run
    second = pipeline.send(TrafficSpec(events=6000, seed=212, hours=4,
                                       start=datetime(2026, 11, 1, 4, tzinfo=UTC), **DIRTY))
    pipeline.run_job()
    # part-<run>-<subtask>-<n>: the resumed run's archive was written by three subtasks
    writers = {f.name.rsplit("-", 2)[1] for f in (pipeline.settings.data_dir / "events").rglob("part-*")}
    assert writers == {"0", "1", "2"}
    assert_quantities_equal_truth(pipeline, first, second)
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)) == first["counts"]["unique_valid"] + second["counts"]["unique_valid"]
    assert_amounts_are_exact_ratings(pipeline)


def test_catalog_change_applies_after_savepoint_restart_without_losing_state(tmp_path, settings, kafka):
    pipeline, catalog = _with_own_catalog(tmp_path, settings)
    tenants = ("acme", "wayne")
    first = pipeline.send(TrafficSpec(events=4000, seed=501, hours=4, tenants=tenants, **DIRTY))
    pipeline.run_job()
    before = {(r["tenant_id"], r["billed"], r["catalog_revision"]) for r in pipeline.line_items()
              if r["metric"] == "api_calls"}
    assert {(t, b) for t, b, _ in before} == {("acme", True), ("wayne", False)}, "wayne has no plan yet"

    # A new customer is signed: stop (done: bounded runs end with a savepoint), change, resume.
    acme = (catalog / "customers" / "acme.yaml").read_text()
    (catalog / "customers" / "wayne.yaml").write_text(
        acme.replace("acme", "wayne").replace("Acme Corporation", "Wayne Enterprises"))
    second = pipeline.send(TrafficSpec(events=4000, seed=502, hours=4, tenants=tenants,
                                       start=datetime(2026, 11, 1, 4, tzinfo=UTC), **DIRTY))
    pipeline.send(TrafficSpec(events=4000, seed=501, hours=4, tenants=tenants, **DIRTY))  # replayed
    pipeline.run_job()
    rows = [r for r in pipeline.line_items() if r["metric"] == "api_calls"]
    revisions = {r["catalog_revision"] for r in rows}
    assert len(revisions) == 2, "rows carry the catalog revision they were rated with"
    new_revision = (revisions - {rev for _, _, rev in before}).pop()
    assert {r["tenant_id"] for r in rows if r["billed"] and r["catalog_revision"] == new_revision} >= {"wayne"}
    # The dedup state survived the restart: the replay added nothing.
    assert_quantities_equal_truth(pipeline, first, second)


# metric key -> (aggregation, value field): metrics whose period quantity is not a sum
PERIOD_METRICS = {"peak_latency": ("max", "latency_ms"), "last_latency": ("latest", "latency_ms"),
                  "active_routes": ("unique_count", "route"), "request_sizes": ("unique_count", "request_bytes")}
# charge -> (first tier's up_to and unit amount, the rest's unit amount): graduated prices
PERIOD_CHARGES = {"peak_latency": (("100", "0.5"), "0.25"), "last_latency": (("50", "0.1"), "0.02"),
                  "active_routes": (("4", "3"), "1.25"), "request_sizes": (("1000", "0.01"), "0.005")}
# aggregation -> a batch's quantity, and the period-to-date, from values in (event time, key) order
PERIOD_QUANTITY = {"max": max, "latest": lambda values: values[-1],
                   "unique_count": lambda values: Decimal(len(set(values)))}


def _with_period_metrics(catalog: Path) -> None:
    """The catalog's api_call events also feed PERIOD_METRICS, priced in the growth plan."""
    for key, (aggregation, field) in PERIOD_METRICS.items():
        (catalog / "metrics" / f"{key}.yaml").write_text(
            f"key: {key}\nname: {key}\nunit: x\naggregation: {aggregation}\nvalue_field: {field}\n"
            "sources:\n  - event_type: api_call\n")
    charges = "".join(
        f"      - {{key: {key}, name: {key}, metric: {key}, price: {{model: graduated, tiers: ["
        f"{{up_to: '{up_to}', unit_amount: '{first}'}}, {{up_to: null, unit_amount: '{rest}'}}]}}}}\n"
        for key, ((up_to, first), rest) in PERIOD_CHARGES.items())
    growth = catalog / "plans" / "growth.yaml"
    growth.write_text(growth.read_text().replace("    charges:\n", "    charges:\n" + charges))


def test_period_quantities_that_are_not_sums_stream_exact_charges(tmp_path, settings, kafka):
    """Per tenant and hour (across APIs), in the order Flink rated them, each row's
    period-to-date is that of the period's on-time events so far: the running maximum
    (max), the value of the last event by event time, then idempotency key, whatever
    order events arrived in (latest, as the close), the number of distinct values, a
    value seen in many hours counting once (unique_count). Each charge is F(ptd) -
    F(ptd before), so a period's charges add up to F(its last ptd) - F(0).

    A restart inside an hour that had fired gives the hour a second row for the
    events after it: its event, earlier than the hour's last, with the highest
    latency and a new route, raises the peak and the distinct count but not the
    latest value, whose second row is charged nothing."""
    pipeline, catalog = _with_own_catalog(tmp_path, settings)
    _with_period_metrics(catalog)
    # Enough events that the job reads them over several watermark intervals (200 ms):
    # with 4,000 a fast machine read them all before the first watermark, and none was late.
    pipeline.send(TrafficSpec(events=20_000, seed=601, hours=8, tenants=("acme", "stark"), **DIRTY))
    split_hour = datetime(2026, 11, 1, 7)  # the traffic's last hour
    after_restart = {**_api_call("after-restart", split_hour.replace(minute=0, second=30, tzinfo=UTC)),
                     "route": "/v1/after-restart", "latency_ms": 99_999}
    # After the traffic, late (its first hour): a request size no generated event has
    # (they are 100-4,000), which only the close can count for request_sizes.
    late_new_size = {**_api_call("late-new-size", datetime(2026, 11, 1, 0, 10, tzinfo=UTC)),
                     "latency_ms": 50, "route": "/v1/late", "request_bytes": 99_999}
    # Sent once the running job has read the traffic, so that its watermark is past it
    # (a bounded run may read a whole partition before its first watermark).
    _local_run_stopped_from_another_terminal(pipeline, 20_000, "--drain", then_send=[late_new_size])
    first_run = pipeline.line_items()
    pipeline.send_events(after_restart)
    pipeline.run_job()

    rows = pipeline.line_items()
    second_run = [r for r in rows if r not in first_run]
    assert sorted((r["tenant_id"], r["metric"], r["window_start"]) for r in second_run if r["api"] == "") == \
        sorted(("acme", m, split_hour) for m in PERIOD_METRICS)
    plans = load_catalog(catalog)
    recurring = 0
    for metric, (aggregation, _) in PERIOD_METRICS.items():
        quantity_of = PERIOD_QUANTITY[aggregation]
        events = pipeline.on_time_transactions(metric)
        periods = {(r["tenant_id"], r["period_start"]) for r in rows if r["metric"] == metric}
        assert {t for t, _ in periods} == {"acme", "stark"}
        hours_per_period: list[int] = []  # (a late event from before the traffic can open a period of its own)
        for tenant, period_start in periods:
            period = sorted((r for r in rows if (r["metric"], r["tenant_id"], r["period_start"])
                             == (metric, tenant, period_start)), key=lambda r: (r["window_start"], r in second_run))
            price = next(c for c in plans.charges_for(tenant, period_start.replace(tzinfo=UTC))
                         if c.metric == metric).price
            so_far: list[tuple[datetime, str, Decimal]] = []
            before = Decimal(0)
            for row in period:
                batch = [e for e in events[(tenant, row["window_start"])]
                         if (e[1] == "after-restart") == (row in second_run)]
                so_far = sorted(so_far + batch)
                ptd = quantity_of([v for _, _, v in so_far])
                assert (row["api"], row["event_count"], row["quantity"], row["period_to_date_quantity"]) == \
                    ("", len(batch), quantity_of([v for _, _, v in batch]), ptd), (metric, row)
                assert row["amount"] == rate_change(price, before, ptd), (metric, row)
                before = ptd
            assert sum(r["amount"] for r in period) == rate_change(price, Decimal(0), before)
            hours_per_period.append(len({r["window_start"] for r in period}))
            if aggregation == "unique_count":
                recurring += sum(r["quantity"] for r in period) - before
        assert max(hours_per_period) >= 6
    assert recurring > 0, "no route recurred across hours: the test cannot tell a set from a sum"
    restarted = {r["metric"]: r for r in second_run if r["api"] == ""}
    assert restarted["peak_latency"]["period_to_date_quantity"] == 99_999
    assert restarted["last_latency"]["quantity"] == 99_999 and restarted["last_latency"]["amount"] == 0
    assert restarted["active_routes"]["amount"] > 0
    # The close bills the archive (late events too); the line items' charges add up to
    # its F(the on-time events' period quantity) - F(0), late events or not.
    late = {(r["tenant_id"], r["idempotency_key"], r["metric"]) for r in pipeline.rows("late_events")}
    assert ("acme", "late-new-size", "request_sizes") in late, \
        "the job read the late event before a watermark: the close's count of a late value is untested"
    close = pipeline.aforo("close", "--period", "2026-11")
    assert close.returncode == 0 and "streamed charges and archive agree with the close" in close.stdout, \
        (close.stdout + close.stderr)[-3000:]


def test_injected_failure_recovers_from_checkpoint_exactly(pipeline, tmp_path):
    truth = pipeline.send(TrafficSpec(events=20_000, seed=301, **DIRTY))
    marker = tmp_path / "failed-once"
    pipeline.run_job("--fail-once-after", "12000", "--fail-marker", str(marker))
    assert marker.exists(), "the injected failure did not happen"
    assert_quantities_equal_truth(pipeline, truth)
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)) == truth["counts"]["unique_valid"]
    assert len(pipeline.dead_letters()) == truth["counts"]["malformed"]


def _process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (children of every thread, recursively)."""
    tree = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            tree += _process_tree(int(child))
    return tree


MANAGED_MEMORY = 512 * 2**20  # RocksDB's, per TaskManager: flink-conf.yaml says 512m


def _managed_memory(rest: FlinkRest) -> list[int]:
    assert load_flink_conf()["taskmanager.memory.managed.size"] == "512m"
    return [tm["memoryConfiguration"]["managedMemory"] for tm in rest.taskmanagers()]


def _rocksdb_filter_options(job_id: str) -> set[tuple[str, str]]:
    """How the job's RocksDB instances keep filters and indexes, from their OPTIONS files
    (in each TaskManager's working folder under the temp folder: tm_<id>/ on a
    standalone cluster, minicluster_<id>/tm_<n>/ in a local run)."""
    found = set()
    temp = Path(tempfile.gettempdir())
    for path in [*temp.glob(f"tm_*/tmp/job_{job_id}_op_*/db/OPTIONS-*"),
                 *temp.glob(f"minicluster_*/tm_*/tmp/job_{job_id}_op_*/db/OPTIONS-*")]:
        for line in path.read_text().splitlines():
            key, _, value = line.strip().partition("=")
            if key in ("partition_filters", "index_type"):
                found.add((key, value))
    return found


PARTITIONED = {("partition_filters", "true"), ("index_type", "kTwoLevelIndexSearch")}


def test_taskmanager_killed_on_cluster_recovers_exactly(pipeline, flink_cluster):
    # Enough events that the job is still reading them when its TaskManager dies after
    # the first checkpoint (which waits for the Python workers: a fast machine had read
    # 150,000 by then; the runner stops a bounded job seconds after the topic's end).
    truth = pipeline.send(TrafficSpec(events=500_000, seed=401, **DIRTY))
    outcome: dict[str, object] = {}

    def submit() -> None:
        outcome["result"] = pipeline.aforo("job", "submit", "--bounded", "--jobmanager",
                                           f"localhost:{pipeline.settings.flink.rest_port}", timeout=900)

    thread = threading.Thread(target=submit)
    thread.start()
    rest = FlinkRest(f"http://localhost:{pipeline.settings.flink.rest_port}")
    job_id = None
    deadline = time.monotonic() + 180
    while job_id is None and time.monotonic() < deadline:
        running = [j for j in rest.jobs() if j["state"] == "RUNNING" and j["name"] == "aforo-metering"]
        job_id = running[0]["jid"] if running else None
        time.sleep(0.5)
    assert job_id, "the job never started on the cluster"
    assert _managed_memory(rest) == [MANAGED_MEMORY]  # from flink-conf.yaml, through config.yaml
    rest.wait_checkpoints(job_id, 1, timeout_s=180)
    assert _rocksdb_filter_options(job_id) == PARTITIONED  # with the job, from flink-conf.yaml
    victims = flink_cluster.pids("taskexecutor")
    assert victims
    for pid in victims:
        # The whole TaskManager, its Python workers too, as a lost machine would.
        for victim in _process_tree(pid):
            os.kill(victim, signal.SIGKILL)
    flink_cluster.start_taskmanager()
    thread.join(timeout=900)
    result = outcome["result"]
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]  # type: ignore[union-attr]
    assert rest.latest_failure(job_id), "no failure recorded: the job had ended before the kill"
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)) == truth["counts"]["unique_valid"]
    # Events late before the kill are read again after the restore, when the sources'
    # watermarks start over: each must be counted in an hour or captured as late, once.
    assert_quantities_equal_truth(pipeline, truth)
    assert json.loads(result.stdout)["late_records_dropped"] == 0  # type: ignore[union-attr]


def test_a_bounded_submission_past_its_timeout_says_the_job_runs_on_and_how_to_stop_it(pipeline, flink_cluster):
    """A local run's job ends with its process; a cluster's job goes on after `submit --bounded`
    gives up. The error says so, with the stop that resumes safely, and that stop, then another
    bounded submission, archives every event once."""
    truth = pipeline.send(TrafficSpec(events=20_000, seed=431, **DIRTY))
    jobmanager = f"localhost:{pipeline.settings.flink.rest_port}"
    result = pipeline.aforo("job", "submit", "--bounded", "--timeout", "1", "--jobmanager", jobmanager)
    assert result.returncode == 1, result.stdout + result.stderr
    found = re.search(r"still pending after 1.0s; job ([0-9a-f]{32}) is still running on " + jobmanager, result.stderr)
    assert found, result.stderr[-2000:]
    job_id = found.group(1)
    rest = FlinkRest(f"http://{jobmanager}")
    deadline = time.monotonic() + 120
    while rest.state(job_id) != "RUNNING":  # (it may still be deploying when the submission gives up)
        assert time.monotonic() < deadline and rest.state(job_id) not in ("FAILED", "CANCELED", "FINISHED")
        time.sleep(0.5)
    stop = f"aforo job stop --rest http://{jobmanager} --job-id {job_id} --drain"
    assert stop in result.stderr
    stopped = pipeline.aforo(*stop.split()[1:])
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    deadline = time.monotonic() + 60  # the savepoint is taken; the job then finishes
    while rest.state(job_id) == "RUNNING":
        assert time.monotonic() < deadline, "the job still runs after its stop"
        time.sleep(0.5)
    resumed = pipeline.aforo("job", "submit", "--bounded", "--jobmanager", jobmanager, timeout=900)
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)) == truth["counts"]["unique_valid"]
    assert_quantities_equal_truth(pipeline, truth)


SERVER_ERRORS = """key: server_errors
name: Server errors
unit: calls
aggregation: count
sources:
  - event_type: api_call
    filters:
      - {field: status, op: ">=", value: 500}
"""


def _as_if_stopped_without_draining(pipeline: Pipeline) -> str:
    """Mark the latest savepoint's sidecar as a stop without `--drain` would; return LATEST's text."""
    savepoint = (pipeline.settings.home / "savepoints" / "LATEST").read_text()
    sidecar = sidecar_path(savepoint.strip())
    assert sidecar is not None and sidecar.exists()
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "drained": False}))
    return savepoint


def test_metric_added_after_a_drained_savepoint_keeps_dedup_and_running_totals(tmp_path, settings, kafka):
    """A new metric changes the state of the hourly aggregation, and only it. After a drained
    stop (every hour fired) the job resumes with that aggregation empty and the rest restored:
    the dedup state (a replay adds nothing), the periods' running totals (amounts continue the
    tiers) and the source's offsets. After a stop that did not drain, the start refuses at once,
    says how to drain, and keeps the savepoint."""
    pipeline, catalog = _with_own_catalog(tmp_path, settings)
    first = pipeline.send(TrafficSpec(events=4000, seed=601, hours=4, **DIRTY))
    pipeline.run_job()

    metric = catalog / "metrics" / "server_errors.yaml"
    metric.write_text(SERVER_ERRORS)
    changed_at = datetime(2026, 11, 1, 4, tzinfo=UTC)
    second = pipeline.send(TrafficSpec(events=4000, seed=602, hours=4, start=changed_at, **DIRTY))
    pipeline.send(TrafficSpec(events=4000, seed=601, hours=4, **DIRTY))  # replayed
    resumed = pipeline.aforo("job", "run", "--bounded")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "the hourly aggregation starts empty" in resumed.stderr
    assert json.loads(resumed.stdout)["records"] == 8000

    assert_quantities_equal_truth(pipeline, first, second, ignore_metrics={"server_errors"})
    assert assert_amounts_are_exact_ratings(pipeline) > 50, "running totals continued across the change"
    definition = load_catalog(catalog).metrics["server_errors"]
    expected: dict[tuple[str, str], int] = {}
    for event in pipeline.rows("events"):
        if event["event_time"] >= changed_at.replace(tzinfo=None) and definition.matches(event):
            hour = event["event_time"].replace(minute=0, second=0, microsecond=0, tzinfo=UTC).isoformat()
            expected[(event["tenant_id"], hour)] = expected.get((event["tenant_id"], hour), 0) + 1
    on_time, late = pipeline.observed()
    observed = {(t, h): q for source in (on_time, late) for (t, m, h), q in source.items() if m == "server_errors"}
    assert sum(expected.values()) > 20 and observed == expected, "the new metric counts what came after it"

    # A stop without draining leaves open hours in the aggregation a metric change replaces.
    savepoint = _as_if_stopped_without_draining(pipeline)
    metric.unlink()
    started = time.monotonic()
    refused = pipeline.aforo("job", "run", "--bounded")
    assert refused.returncode != 0
    assert "taken without draining" in refused.stderr and "aforo job stop --drain" in refused.stderr, \
        refused.stderr[-3000:]
    assert time.monotonic() - started < 120
    assert (pipeline.settings.home / "savepoints" / "LATEST").read_text() == savepoint


def test_metric_change_on_the_cluster_resumes_through_flink_run(tmp_path, settings, kafka, flink_cluster):
    """The same decision when `flink run` builds the job: the drained savepoint resumes with the
    new metric, the client says so, and a savepoint that does not fit stops the submission with
    the way out (not a Flink stack trace)."""
    pipeline, catalog = _with_own_catalog(tmp_path, settings)
    jobmanager = f"localhost:{pipeline.settings.flink.rest_port}"

    def submit() -> subprocess.CompletedProcess[str]:
        return pipeline.aforo("job", "submit", "--bounded", "--jobmanager", jobmanager, timeout=900)

    first = pipeline.send(TrafficSpec(events=3000, seed=701, hours=3, **DIRTY))
    assert (result := submit()).returncode == 0, result.stderr[-3000:]
    metric = catalog / "metrics" / "server_errors.yaml"
    metric.write_text(SERVER_ERRORS)
    second = pipeline.send(TrafficSpec(events=3000, seed=702, hours=3,
                                       start=datetime(2026, 11, 1, 3, tzinfo=UTC), **DIRTY))
    pipeline.send(TrafficSpec(events=3000, seed=701, hours=3, **DIRTY))  # replayed
    resumed = submit()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "the hourly aggregation starts empty" in resumed.stderr
    assert_quantities_equal_truth(pipeline, first, second, ignore_metrics={"server_errors"})
    assert_amounts_are_exact_ratings(pipeline)

    savepoint = _as_if_stopped_without_draining(pipeline)
    metric.unlink()
    refused = submit()
    assert refused.returncode != 0 and "taken without draining" in refused.stderr
    assert "Traceback" not in refused.stderr and "aforo job stop --drain" in refused.stderr
    assert (pipeline.settings.home / "savepoints" / "LATEST").read_text() == savepoint


def _local_run_stopped_from_another_terminal(pipeline: Pipeline, records: int, *stop_args: str,
                                             then_send: Sequence[dict[str, Any]] = (),
                                             meanwhile: Callable[[], None] = lambda: None) -> tuple[str, str, str]:
    """Start `aforo job run` (unbounded), wait until it has consumed the topic's `records` (and
    then `then_send`, sent after those), call `meanwhile`, stop it with `aforo job stop *stop_args`;
    the run's (stdout, stderr) and the stop's savepoint."""
    run = subprocess.Popen([sys.executable, "-m", "aforo", "job", "run"], env=pipeline.env(),
                           cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        local = pipeline.settings.home / "jobs" / "local.json"
        deadline = time.monotonic() + 180
        while not local.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.5)
        assert local.exists(), run.stderr.read() if run.poll() is not None else "the run never started"
        rest = FlinkRest(json.loads(local.read_text())["rest_url"])
        job_id = json.loads(local.read_text())["job_id"]
        rest.wait_checkpoints(job_id, 1, timeout_s=180)
        # flink-conf.yaml's managed memory, not the MiniCluster's default of 128 MB
        assert _managed_memory(rest) == [MANAGED_MEMORY]
        assert _rocksdb_filter_options(job_id) == PARTITIONED
        assert_eventually_consumed(pipeline, records)
        if then_send:
            pipeline.send_events(*then_send)
            assert_eventually_consumed(pipeline, records + len(then_send))
        meanwhile()
        stopped = pipeline.aforo("job", "stop", *stop_args)
        assert stopped.returncode == 0, stopped.stderr[-3000:]
        out, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err[-3000:]
    savepoint = stopped.stdout.strip()
    assert json.loads(out)["savepoint"] == savepoint and "stopped with savepoint" in err
    assert json.loads(out)["records"] is None  # an unbounded run does not count what it read
    assert (pipeline.settings.home / "savepoints" / "LATEST").read_text().strip() == savepoint
    sidecar = json.loads(sidecar_path(savepoint).read_text())  # type: ignore[union-attr]
    assert sidecar["drained"] is ("--drain" in stop_args) and sidecar["job_id"] == job_id
    return out, err, savepoint


def test_a_local_run_stopped_from_another_terminal_drains_and_exits_cleanly(pipeline):
    """`aforo job stop --drain` finds a local `aforo job run` (its MiniCluster's REST port is
    chosen at start): the run ends with the savepoint, whose sidecar says it was drained."""
    truth = pipeline.send(TrafficSpec(events=3000, seed=801, hours=3, **DIRTY))
    _local_run_stopped_from_another_terminal(pipeline, 3000, "--drain")
    assert_quantities_equal_truth(pipeline, truth)  # the drain fired every hour


def test_a_second_run_of_the_home_is_refused_while_one_runs(pipeline):
    """Two jobs of one home would resume from the same savepoint and bill the same events
    twice: a second `aforo job run` is refused, naming the way out, and each event is billed once."""
    truth = pipeline.send(TrafficSpec(events=1000, seed=811, hours=2))

    def second_run() -> None:
        second = pipeline.aforo("job", "run", "--bounded")
        assert second.returncode == 1, (second.stdout + second.stderr)[-3000:]
        assert "another `aforo job run`" in second.stderr and "`aforo job stop`" in second.stderr

    _local_run_stopped_from_another_terminal(pipeline, 1000, "--drain", meanwhile=second_run)
    assert_quantities_equal_truth(pipeline, truth)


def test_a_stop_leaves_another_homes_job_on_its_former_local_port_running(pipeline, tmp_path):
    """A local run's REST port is free once it ends, and another home's MiniCluster may take it:
    `aforo job stop` there must not stop (and record as its own savepoint) that other job."""
    pipeline.send(TrafficSpec(events=500, seed=831, hours=1))
    (tmp_path / "other").mkdir()
    other = Pipeline.create(tmp_path / "other", pipeline.settings)

    def stop_from_the_other_home() -> None:
        running = json.loads((pipeline.settings.home / "jobs" / "local.json").read_text())
        (other.settings.home / "jobs").mkdir(parents=True)
        (other.settings.home / "jobs" / "local.json").write_text(
            json.dumps({"job_id": "0" * 32, "rest_url": running["rest_url"]}))  # its run, ended
        stopped = other.aforo("job", "stop")
        assert stopped.returncode == 1 and "no running aforo-metering job" in stopped.stderr, stopped.stderr[-3000:]
        assert FlinkRest(running["rest_url"]).state(running["job_id"]) == "RUNNING"
        assert not (other.settings.home / "savepoints").exists()

    _local_run_stopped_from_another_terminal(pipeline, 500, "--drain", meanwhile=stop_from_the_other_home)


def test_a_run_killed_without_a_savepoint_resumes_from_its_last_checkpoint(pipeline):
    """A local run whose process dies (kill -9) leaves its last checkpoint, whose files are
    committed: the next start resumes from it, not from the savepoint before it (which would read
    those events again with a dedup state that never saw them), and bills every event once."""
    first = pipeline.send(TrafficSpec(events=1000, seed=821, hours=2))
    pipeline.run_job()
    second = pipeline.send(TrafficSpec(events=1000, seed=822, hours=2, start=datetime(2026, 11, 1, 2, tzinfo=UTC)))
    run = subprocess.Popen([sys.executable, "-m", "aforo", "job", "run"], env=pipeline.env(), cwd=PROJECT_ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert_eventually_consumed(pipeline, 2000)
        deadline = time.monotonic() + 60  # the checkpoint's files commit beside its offsets
        while len(pipeline.archived_keys()) < sum(first["unique_events_per_tenant"].values()) + sum(
                second["unique_events_per_tenant"].values()):
            assert time.monotonic() < deadline, "the run's checkpoint committed no files"
            time.sleep(1)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    pipeline.run_job()
    keys = pipeline.archived_keys()
    assert len(keys) == len(set(keys)), f"{len(keys) - len(set(keys))} events archived twice"
    assert_quantities_equal_truth(pipeline, first, second)


def _api_call(key: str, at: datetime) -> dict[str, Any]:
    return {"idempotency_key": key, "tenant_id": "acme", "source": "test", "event_type": "api_call",
            "event_time": at, "api": "maps", "route": "/v1/route", "method": "GET", "status": 200,
            "latency_ms": 20, "request_bytes": 100, "response_bytes": 100, "value": None, "properties": {}}


def test_quantity_texts_are_billed_as_the_close_reads_them_or_dead_lettered(pipeline):
    """The format's quantity check lets through only texts that Flink's cast (the hourly sums)
    and DuckDB's (the close's reconciliation) both read, to the same number: an accepted
    event is in its metric's count and sum, and in the close's; any other is dead-lettered,
    never accepted and left out of the sums. The texts are the collector's too
    (tests/ingest/test_fields.py). Each accepted text has a month of its own, so that its
    hour's sum and its period's running total are that one number (two of the 26-digit
    ones would overflow DECIMAL(38, 12) in a period's total)."""
    texts = json.loads((PROJECT_ROOT / "tests" / "quantity_texts.json").read_text())
    months = [datetime(2025 + (6 + i) // 12, (6 + i) % 12 + 1, 10, 0, 30, tzinfo=UTC)
              for i in range(len(texts["accepted"]))]  # July 2025 on, in order
    events = [{**_api_call(f"accepted-{i}", at), "properties": {"compute_ms": text}}
              for i, (text, at) in enumerate(zip(texts["accepted"], months, strict=True))]
    events += [{**_api_call(f"refused-{i}", months[-1]), "properties": {"compute_ms": text}}
               for i, text in enumerate(texts["refused"])]
    pipeline.send_events(*events)
    pipeline.run_job()
    with localcontext(Context(prec=60)):  # 26 digits before the point and 12 after
        expected = [Decimal(t.strip(" \t\n")).quantize(Decimal("1e-12"), ROUND_HALF_UP)
                    for t in texts["accepted"]]
    streamed = {r["window_start"]: (r["quantity"], r["event_count"])
                for r in pipeline.line_items() if r["metric"] == "compute_ms"}
    hours = [at.replace(minute=0, tzinfo=None) for at in months]
    assert streamed == {hour: (quantity, 1) for hour, quantity in zip(hours, expected, strict=True)}
    # the close reads the archive with DuckDB's cast (invoicing/metric_sql.py)
    read = pipeline._query("SELECT TRY_CAST(properties['compute_ms'] AS DECIMAL(38, 12)) FROM t", "events")
    assert sorted(q for (q,) in read) == sorted(expected)
    reasons = {m.key.decode().split("/", 1)[1]: dict(m.headers)["aforo.reason"].decode()
               for m in pipeline.dead_letters()}
    assert sorted(reasons) == sorted(f"refused-{i}" for i in range(len(texts["refused"])))
    assert all(r.startswith("properties.compute_ms: ") for r in reasons.values()), reasons


def test_a_charge_beyond_a_line_items_amount_keeps_the_job_billing_and_is_listed(pipeline):
    """A bogus quantity (26 digits of compute milliseconds, which the format takes) whose
    charge outgrows the amount's DECIMAL(38, 18) used to fail the rating, and the job
    restarted into the same failure, billing nobody. Its line item now has no amount,
    `aforo leakage` lists it, and the other usage is rated as before."""
    from aforo.leakage import leakage
    huge = "9" * 26
    october = {**_api_call("usual", datetime(2026, 10, 20, 12, tzinfo=UTC)), "properties": {"compute_ms": "1000"}}
    november = {**_api_call("huge", datetime(2026, 11, 2, 12, tzinfo=UTC)), "properties": {"compute_ms": huge}}
    pipeline.send_events(october, november)
    pipeline.run_job()
    compute = {r["window_start"].month: (r["quantity"], r["amount"], r["billed"])
               for r in pipeline.line_items() if r["metric"] == "compute_ms"}
    assert compute == {10: (Decimal(1000), Decimal("0.0021"), True), 11: (Decimal(huge), None, True)}
    listed = [(leak.tenant_id, leak.metric, leak.quantity) for leak in
              leakage(pipeline.settings, with_dead_letters=False).leaks
              if leak.why == "charge out of range (no amount)"]
    assert listed == [("acme", "compute_ms", Decimal(huge))]


def test_an_event_at_the_watermark_is_late_not_dropped(pipeline):
    """Flink fires an hour once the watermark reaches its last millisecond, so an event at
    the watermark itself is late: captured in late_events, not let through to the fired
    hour (which would drop it)."""
    hour_end = datetime(2026, 11, 1, 1, tzinfo=UTC)
    # Every partition's newest event 5 minutes (the out-of-orderness) past the hour's last
    # millisecond: the watermark is exactly that millisecond, and the hour fires.
    newest = hour_end + timedelta(minutes=5) - timedelta(milliseconds=1)
    events = [_api_call(f"hour-{i}", hour_end - timedelta(minutes=30)) for i in range(30)]
    events += [_api_call(f"newest-{i}", newest) for i in range(30)]
    pipeline.send_events(*events)
    at_watermark = _api_call("at-watermark", hour_end - timedelta(milliseconds=1))
    _local_run_stopped_from_another_terminal(pipeline, 60, "--drain", then_send=[at_watermark])
    assert list((pipeline.settings.data_dir / "late_events").glob("*/part-*")), \
        "no late event: the event at the watermark was let through as on time"
    assert {r["idempotency_key"] for r in pipeline.rows("late_events")} == {"at-watermark"}
    first_hour = [r["event_count"] for r in pipeline.line_items()
                  if r["metric"] == "api_calls" and r["window_start"] == datetime(2026, 11, 1)]
    assert first_hour == [30]


def test_events_for_hours_fired_before_an_undrained_stop_are_billed_after_the_resume(pipeline):
    """A stop without --drain keeps the open hours and the watermark the hourly windows had
    reached; the resumed job's sources start their watermarks anew. Events then sent for
    hours that had fired before the stop are captured as late (the windows' restored
    watermark, restored_watermark), never dropped between the late split and the windows
    (as after a failover, which restores the same)."""
    first = pipeline.send(TrafficSpec(events=3000, seed=811, hours=3, **DIRTY))
    _local_run_stopped_from_another_terminal(pipeline, 3000)
    fired = {r["window_start"] for r in pipeline.line_items()}
    assert fired and max(fired) < datetime(2026, 11, 1, 2), "the stop without --drain fired the open hour"
    second = pipeline.send(TrafficSpec(events=3000, seed=812, hours=3, **DIRTY))  # the same hours
    resumed = pipeline.run_job()
    assert resumed["records"] == 3000 and resumed["late_records_dropped"] == 0
    assert_quantities_equal_truth(pipeline, first, second)
    late_hours = {r["window_start"] for r in pipeline.rows("late_events")}
    assert late_hours & fired, "no event for a fired hour was captured as late"
    rows = Counter((r["tenant_id"], r["metric"], r["api"], r["window_start"]) for r in pipeline.line_items())
    assert not {key for key, n in rows.items() if n > 1}, "a fired hour was counted again in a second row"


def test_hours_open_at_an_undrained_stop_fire_after_the_resume(pipeline):
    """A stop without --drain keeps the open hours in its savepoint with the timers that fire
    them, so they fire after the resume once the watermark passes, though none of their
    events comes again: the traffic after the resume is for later hours only (no late or
    out-of-order events that could reach back into them). With timers on the heap they were
    not in the savepoint (Flink writes heap timers into checkpoints and canonical savepoints,
    not into native ones): those hours never fired and were never billed."""
    first = pipeline.send(TrafficSpec(events=3000, seed=821, hours=3, **DIRTY))
    _local_run_stopped_from_another_terminal(pipeline, 3000)
    last_hour = datetime(2026, 11, 1, 2)
    assert last_hour not in {r["window_start"] for r in pipeline.line_items()}, "the stop fired the open hour"
    later = pipeline.send(TrafficSpec(events=2000, seed=822, hours=2, start=datetime(2026, 11, 1, 5, tzinfo=UTC),
                                      duplicate_rate=0.05, out_of_order_rate=0, late_rate=0, malformed_rate=0))
    resumed = pipeline.run_job()
    assert resumed["late_records_dropped"] == 0
    assert last_hour in {r["window_start"] for r in pipeline.line_items()}, "the hour open at the stop never fired"
    assert_quantities_equal_truth(pipeline, first, later)


def assert_eventually_consumed(pipeline: Pipeline, records: int, timeout_s: float = 180) -> None:
    """The job's consumer group has committed (on a checkpoint) every record of the topic."""
    from aforo.lag import end_offsets, pending_records
    topic = pipeline.settings.kafka.topic("usage_events").name
    ends = end_offsets(pipeline.settings.kafka.bootstrap, topic)
    assert sum(ends.values()) == records
    deadline = time.monotonic() + timeout_s
    while pending_records(pipeline.settings.kafka.bootstrap, topic, "aforo-metering", ends) > 0:
        assert time.monotonic() < deadline, "the job did not consume the topic"
        time.sleep(1)


# Runs `aforo job run --bounded` in process, with the first REST port it picks already taken.
_TAKEN_PORT_RUN = """
import json, socket, sys
import jobs.runner as runner
from aforo.settings import load_settings
taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
picks = [taken.getsockname()[1]]
free_port = runner._free_port
runner._free_port = lambda: picks.pop() if picks else free_port()
result = runner.run_local(load_settings(sys.argv[1]), bounded=True)
print(json.dumps({"records": result.records, "taken": taken.getsockname()[1]}))
"""


def test_a_rest_port_taken_before_the_minicluster_binds_it_is_retried(pipeline):
    """The MiniCluster's REST port is picked free, then bound by Flink: another process
    can take it in between. The run then tries another port instead of failing."""
    truth = pipeline.send(TrafficSpec(events=1000, seed=901, hours=2))
    run = subprocess.run([sys.executable, "-c", _TAKEN_PORT_RUN, str(pipeline.config)], env=pipeline.env(),
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    taken = json.loads(run.stdout.splitlines()[-1])["taken"]
    assert f"REST port {taken} was taken before the MiniCluster bound it; trying another" in run.stderr
    rest_url = local_run_rest_url(pipeline.settings)
    assert rest_url is not None and not rest_url.endswith(f":{taken}")
    assert_quantities_equal_truth(pipeline, truth)
