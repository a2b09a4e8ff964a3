"""The Parquet tables the metering job writes, as DuckDB relations.

Only committed files are read: Flink names a file `part-*` when it commits it,
and in-progress files start with a dot. Tables are partitioned
(`line_items/period=2026-11-01/`, `events/event_date=2026-11-03/`), so a close
lists the partitions of its periods and never opens the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from aforo.tables import TABLES
from invoicing.errors import InputError
from invoicing.sqlfiles import load_sql

PARTITIONS = {"line_items": "period", "events": "event_date", "late_events": "event_date"}


def committed_files(table_dir: Path, values: Iterable[str] | None = None) -> list[str]:
    """The committed files of a table: of the partitions named by `values`, or all."""
    key = PARTITIONS[table_dir.name]
    if values is None:
        return sorted(str(p) for p in table_dir.glob(f"{key}=*/part-*") if p.is_file())
    files: list[str] = []
    for value in sorted(set(values)):
        files += sorted(str(p) for p in (table_dir / f"{key}={value}").glob("part-*") if p.is_file())
    return files


def days(start: datetime, end: datetime) -> list[str]:
    """The `event_date` partitions (UTC dates) an instant range [start, end) touches."""
    out, day, last = [], start.date(), (end - timedelta(microseconds=1)).date()
    while day <= last:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def require(data_dir: Path, name: str) -> Path:
    """The folder of a table the close cannot do without, or InputError."""
    folder = data_dir / name
    if not folder.is_dir():
        raise InputError(
            f"table {name}: {folder} does not exist (has the metering job run and written"
            f" to {data_dir}?)"
        )
    return folder


def empty(name: str, hive: bool = False) -> pa.Table:
    schema = TABLES[name]
    if hive:
        schema = schema.append(pa.field(PARTITIONS[name], pa.string()))
    return schema.empty_table()


def register(con: duckdb.DuckDBPyConnection, view: str, name: str, files: list[str],
             hive: bool = False) -> None:
    """Make `view` in `con` the rows of table `name` in `files` (no file: no rows)."""
    if not files:
        con.register(view, empty(name, hive))
        return
    try:
        con.read_parquet(files, hive_partitioning=hive).create_view(view)
    except duckdb.Error as exc:
        raise InputError(f"table {name}: cannot read {len(files)} Parquet files: {exc}") from exc


def period_starts(table_dir: Path, values: Iterable[str]) -> list[tuple[str, datetime]]:
    """The distinct (tenant, period start) of these line-items partitions."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        register(con, "first_line_items", "line_items", committed_files(table_dir, values))
        return [(t, start) for t, start in con.execute(load_sql("close_first_periods")).fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"table line_items: cannot read {table_dir}: {exc}") from exc
    finally:
        con.close()
