"""`aforo job run|submit|stop|explain`: the metering job."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

import click

from aforo.cli.events import kafka_errors
from aforo.events import check_topic
from aforo.flinkrest import FlinkRestError

if TYPE_CHECKING:  # pyflink is imported only by the commands that run a job
    from jobs.metering import JobOptions
    from jobs.runner import RunResult


def _options(group_prefix: str, fail_once_after: int, fail_marker: str) -> JobOptions:
    from jobs.metering import JobOptions

    return JobOptions(group_prefix=group_prefix, fail_once_after=fail_once_after, fail_marker=fail_marker)


@contextmanager
def _stdout_for_the_report() -> Iterator[TextIO]:
    """The MiniCluster's JVM inherits this process's stdout and its loggers may write
    there; point fd 1 at stderr while the job runs, and keep stdout for the JSON report."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with os.fdopen(os.dup(saved), "w") as report:
            yield report
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _check_source(settings) -> None:  # type: ignore[no-untyped-def]
    """A stack that is down or a missing topic: one line and exit 2 before any JVM starts."""
    name = settings.kafka.topic("usage_events").name
    with kafka_errors(settings.kafka.bootstrap, name, "usage_events"):
        check_topic(settings.kafka.bootstrap, name)


def _report(result: RunResult, out: TextIO | None = None) -> None:
    rate = round(result.records / result.seconds) if result.records is not None and result.seconds else None
    click.echo(json.dumps({"job_id": result.job_id, "savepoint": result.savepoint,
                           "seconds": round(result.seconds, 2), "records": result.records,
                           "records_per_second": rate, "checkpoints": result.checkpoints,
                           "last_checkpoint_ms": result.last_checkpoint_ms,
                           "last_checkpoint_bytes": result.last_checkpoint_bytes,
                           "catch_up_seconds": None if result.catch_up_seconds is None
                           else round(result.catch_up_seconds, 2),
                           "late_records_dropped": result.late_records_dropped}, indent=1), file=out)


_common = [
    click.option("--bounded", is_flag=True,
                 help="Stop (drained savepoint) once the topics' current end is consumed."),
    click.option("--fresh", is_flag=True, help="Do not resume from the latest savepoint."),
    click.option("--group-prefix", default="aforo-metering", show_default=True,
                 help="The Kafka consumer group (offsets for a start without a savepoint)."),
    click.option("--timeout", "timeout_s", default=1800.0, show_default=True,
                 help="With --bounded: give up after this many seconds."),
    click.option("--fail-once-after", default=0, hidden=True),
    click.option("--fail-marker", default="", hidden=True),
]


def _with_common(f):  # type: ignore[no-untyped-def]
    for option in reversed(_common):
        f = option(f)
    return f


@click.group()
def job() -> None:
    """The metering job (Kafka -> dedup -> hourly windows -> rating -> Parquet)."""


@job.command()
@_with_common
@click.pass_obj
def run(obj, bounded, fresh, group_prefix, timeout_s, fail_once_after, fail_marker) -> None:  # type: ignore[no-untyped-def]
    """Run on a local MiniCluster (resumes from the latest savepoint)."""
    from jobs.runner import JobAlreadyRunning, run_local
    from jobs.savepoints import SavepointMismatch

    settings = obj.get()
    _check_source(settings)
    with _stdout_for_the_report() as out:
        try:
            result = run_local(settings, bounded, _options(group_prefix, fail_once_after, fail_marker),
                               fresh=fresh, timeout_s=timeout_s)
        except (FlinkRestError, SavepointMismatch, JobAlreadyRunning) as exc:
            raise click.ClickException(str(exc)) from None
        _report(result, out)


@job.command()
@click.option("--jobmanager", required=True, help="HOST:PORT of the cluster's REST endpoint.")
@_with_common
@click.pass_obj
def submit(obj, jobmanager, bounded, fresh, group_prefix, timeout_s, fail_once_after, fail_marker) -> None:  # type: ignore[no-untyped-def]
    """Submit to a running Flink cluster with `flink run -py` (jars and Python files shipped)."""
    from jobs.runner import JobAlreadyRunning, submit_to_cluster

    settings = obj.get()
    _check_source(settings)
    try:
        result = submit_to_cluster(settings, jobmanager, bounded,
                                   _options(group_prefix, fail_once_after, fail_marker),
                                   fresh=fresh, timeout_s=timeout_s)
    except (FlinkRestError, JobAlreadyRunning) as exc:
        raise click.ClickException(str(exc)) from None
    _report(result)


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"not an http(s) URL: {value!r} (say http://localhost:8081)")
    return value


@job.command()
@click.option("--rest", "rest_url", default=None, callback=_http_url,
              help="Flink REST URL (default: the local cluster's, else the latest local `aforo job run`'s).")
@click.option("--job-id", default=None)
@click.option("--drain", is_flag=True, help="Fire all windows before stopping.")
@click.pass_obj
def stop(obj, rest_url, job_id, drain) -> None:  # type: ignore[no-untyped-def]
    """Stop a running metering job with a savepoint; the next start resumes from it."""
    from jobs.runner import stop as stop_job

    settings = obj.get()
    try:
        click.echo(stop_job(settings, rest_url, job_id, drain))
    except FlinkRestError as exc:
        raise click.ClickException(str(exc)) from None


@job.command()
@click.option("--catalog", "catalog_dir", default=None, help="Catalog folder (default: settings).")
@click.option("--plan", is_flag=True,
              help="Print Flink's optimized execution plan of the whole job instead (starts a JVM).")
@click.pass_obj
def explain(obj, catalog_dir, plan) -> None:  # type: ignore[no-untyped-def]
    """Print the job's SQL, including what is generated from the catalog."""
    from aforo.catalog import load_catalog

    settings = obj.get()
    catalog = load_catalog(catalog_dir or settings.catalog_dir)
    if not plan:
        from jobs.metering_sql import explain as explain_sql

        click.echo(explain_sql(catalog), nl=False)
        return
    from jobs.metering import execution_plan

    with _stdout_for_the_report() as out:
        out.write(printable(execution_plan(settings, catalog)))


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def printable(plan: str) -> str:
    """The plan shows string literals raw, and the job's SQL has CHR(0) in some: a NUL
    makes grep and pagers take the output for binary. Escape control characters
    (not newlines or tabs) as \\u escapes (NUL as \\u0000) for printing; the job's SQL is unchanged."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", plan)


commands = [job]
