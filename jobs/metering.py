"""The metering job: Kafka -> validation -> exactly-once dedup -> hourly windows -> rating -> Parquet.

The source decodes and checks every message in Java (the aforo-usage-event
format, udfs/java) with per-partition event-time watermarks; rejected messages
go to the dead-letter topic with the reason and the original bytes. The rest
is deduplicated on (tenant, idempotency key), archived, captured if late,
windowed by the hour and rated with the pricing library (Python UDFs, one call
per hourly row, never per event). One streaming job; jobs/runner.py starts, watches and stops
it (`aforo job run|submit|stop`). `flink run -py jobs/metering.py` runs this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from pyflink.table import StatementSet, TableDescriptor, TableEnvironment
from pyflink.table.compiled_plan import CompiledPlan

from aforo.catalog import Catalog, load_catalog
from aforo.settings import Settings, load_settings
from jobs import compiled_plan, metering_sql, savepoints, sources
from jobs.environment import create_table_env
from udfs.rating import rating_functions, rating_result_types


@dataclass(frozen=True)
class JobOptions:
    group_prefix: str = "aforo-metering"
    # Chaos testing: fail once after this many messages (then recover
    # from the last checkpoint). The marker file makes it fail only once.
    fail_once_after: int = 0
    fail_marker: str = ""


def metering_tables(settings: Settings, catalog: Catalog, options: JobOptions) -> dict[str, TableDescriptor]:
    """The job's tables by the names its SQL uses."""
    m = settings.metering
    rules = sources.EventRules(catalog.numeric_value_fields(), m.max_future_s,
                               options.fail_once_after, options.fail_marker)
    return {
        "usage_events": sources.usage_events(settings, options.group_prefix, rules, m.max_out_of_orderness_s),
        "dead_letters": sources.dead_letters_sink(settings, options.group_prefix),
        "events_archive": sources.parquet_table(settings, "events", sources.ARCHIVE_COLUMNS, "event_date",
                                                sources.ARCHIVE_PLAIN_COLUMNS, sources.ARCHIVE_STATISTICS_COLUMNS),
        "late_events": sources.parquet_table(settings, "late_events", sources.LATE_COLUMNS, "event_date",
                                             sources.LATE_PLAIN_COLUMNS),
        "line_items": sources.parquet_table(settings, "line_items", sources.LINE_ITEM_COLUMNS, "period"),
    }


def register(t_env: TableEnvironment, settings: Settings, catalog: Catalog,
             options: JobOptions) -> dict[str, TableDescriptor]:
    """Register the rating and Java functions and the job's tables; return the tables."""
    for name, function in rating_functions(catalog).items():
        t_env.create_temporary_system_function(name, function)
    for name, class_name in metering_sql.JAVA_FUNCTIONS.items():
        t_env.create_java_temporary_system_function(name, class_name)
    tables = metering_tables(settings, catalog, options)
    for name, descriptor in tables.items():
        t_env.create_temporary_table(name, descriptor)
    return tables


def _statement_set(t_env: TableEnvironment, sqls: list[str]) -> StatementSet:
    """Views are created at once; all inserts go in one statement set (one Flink job)."""
    statements = t_env.create_statement_set()
    for sql in sqls:
        if sql.lstrip().upper().startswith("INSERT"):
            statements.add_insert_sql(sql)
        else:
            t_env.execute_sql(sql)
    return statements


def job_config(settings: Settings) -> dict[str, str]:
    m = settings.metering
    return {
        "table.exec.state.ttl": f"{m.dedup_horizon_days} d",
        "table.exec.source.idle-timeout": f"{m.idle_timeout_s} s",
        "execution.checkpointing.interval": f"{m.checkpoint_interval_s} s",
        "parallelism.default": str(m.parallelism),
        "pipeline.name": "aforo-metering",
    }


def build_pipeline(t_env: TableEnvironment, settings: Settings, catalog: Catalog,
                   options: JobOptions) -> StatementSet:
    register(t_env, settings, catalog, options)
    return _statement_set(t_env, metering_sql.metering_statements(catalog))


def execution_plan(settings: Settings, catalog: Catalog) -> str:
    """Flink's optimized execution plan of the whole job (operators, exchanges, reuse)."""
    t_env = create_table_env(settings, streaming=True, extra=job_config(settings))
    plan = build_pipeline(t_env, settings, catalog, JobOptions()).explain()
    return plan[plan.index("== Optimized Execution Plan =="):]


def compiled_job(settings: Settings, options: JobOptions,
                 extra_config: dict[str, str] | None = None) -> tuple[CompiledPlan, int]:
    """The job's compiled plan and its window generation (jobs/savepoints.py), loaded from
    `settings.plans_dir` or compiled (and stored there).

    With a savepoint to resume from (`execution.state-recovery.path`), set to
    restore it, or SavepointMismatch if its state does not fit (jobs/savepoints.py).
    """
    catalog = load_catalog(settings.catalog_dir)
    config = job_config(settings)
    config.update(extra_config or {})
    t_env = create_table_env(settings, streaming=True, extra=config)
    tables = register(t_env, settings, catalog, options)
    sqls = metering_sql.metering_statements(catalog)

    def compile_plan() -> CompiledPlan:
        return _statement_set(t_env, sqls).compile_plan()

    key = compiled_plan.plan_key(t_env, tables, sqls, rating_result_types())
    savepoint = config.get(savepoints.RECOVERY_PATH)
    generation, windows_restored = savepoints.window_generation(settings, savepoint) if savepoint else (0, False)
    t_env.get_config().set("pipeline.global-job-parameters", restore_parameters(
        t_env.get_config().get("execution.checkpointing.dir", ""), savepoint if windows_restored else None))
    plan = compiled_plan.cached_plan(t_env, settings.plans_dir, key, compile_plan, generation)
    if savepoint:
        nodes = stateful_nodes(plan)
        restore = savepoints.restore_config(savepoint, nodes)
        if restore and savepoints.windows_changed(savepoint, nodes):
            print(savepoints.METRICS_CHANGED, file=sys.stderr, flush=True)
        for name, value in restore.items():
            t_env.get_config().set(name, value)
    return plan, generation


def restore_parameters(checkpoints_dir: str, start: str | None) -> str:
    """Where restored_watermark (udfs/java) finds the state the tasks restore: this job's
    checkpoints (a failover), or the savepoint or checkpoint it starts from if its hourly
    windows restore their state from there."""
    def quoted(value: str, quote: str) -> str:  # Flink's map syntax: entries, then key:value, each quoted
        return quote + value.replace(quote, quote * 2) + quote
    return ",".join(quoted(f"{quoted(key, chr(39))}:{quoted(value, chr(39))}", '"') for key, value in
                    (("aforo.restore.checkpoints", checkpoints_dir), ("aforo.restore.start", start or "")))


def stateful_nodes(plan: CompiledPlan) -> dict[str, str]:
    return compiled_plan.stateful_nodes(json.loads(plan.as_json_string()))


def start(settings: Settings, options: JobOptions, extra_config: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Build and start the job (asynchronously) from its compiled plan; return its TableResult."""
    plan, generation = compiled_job(settings, options, extra_config)
    result = plan.execute()
    client = result.get_job_client()
    if client is not None:
        savepoints.record_job(settings, str(client.get_job_id()), stateful_nodes(plan), generation)
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point for `flink run -py` (detached): build, submit, print the job id."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group-prefix", default="aforo-metering")
    parser.add_argument("--fail-once-after", type=int, default=0)
    parser.add_argument("--fail-marker", default="")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="An extra Flink setting (e.g. execution.state-recovery.path=...).")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.set)
    options = JobOptions(args.group_prefix, args.fail_once_after, args.fail_marker)
    result = start(load_settings(), options, extra)
    client = result.get_job_client()
    print(f"aforo-metering job id: {client.get_job_id() if client else 'unknown'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
