"""`aforo sql`: DuckDB over everything Aforo keeps, through named views.

    events, line_items, late_events   the metering job's Parquet tables (committed
                                      `part-*` files only, hive partition columns
                                      `event_date` / `period` included)
    invoices, invoice_lines           the billing database (a snapshot)
    close_runs, close_discrepancies   what each period close did and found
    dead_letters                      the dead-letter Kafka topic, read at query time

`dead_letters` is read only when the query names it: value (the original
bytes), reason, source_topic, source_partition, source_offset (from the
`aforo.*` headers), plus the message's own partition, offset and timestamp. If
Kafka cannot be read the query fails (DeadLettersUnreadable): an empty view
would say there are none.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from aforo.settings import Settings
from invoicing import inputs
from invoicing.store import BillingStore

PARQUET_VIEWS = ("events", "line_items", "late_events")
BILLING_VIEWS = ("invoices", "invoice_lines", "close_runs", "close_discrepancies")
DEAD_LETTERS = pa.schema([
    ("topic", pa.string()),
    ("partition", pa.int32()),
    ("offset", pa.int64()),
    ("timestamp", pa.timestamp("ms", tz="UTC")),
    ("key", pa.binary()),
    ("value", pa.binary()),
    ("reason", pa.string()),
    ("source_topic", pa.string()),
    ("source_partition", pa.int32()),
    ("source_offset", pa.int64()),
])
_NAMES_DEAD_LETTERS = re.compile(r"\bdead_letters\b", re.IGNORECASE)


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


class DeadLettersUnreadable(RuntimeError):
    """The dead-letter topic could not be read (Kafka down, a wrong address)."""


Reader = Callable[[Settings, float], pa.Table]


def read_dead_letters(settings: Settings, timeout_s: float = 5.0) -> pa.Table:
    """Every message of the dead-letter topic as of now. Raises KafkaException (or
    TimeoutError) when the broker cannot be reached."""
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

    from aforo.events import list_topic

    topic = settings.kafka.topic("dead_letters").name
    consumer = Consumer({
        "bootstrap.servers": settings.kafka.bootstrap, "group.id": "aforo-sql",
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "socket.timeout.ms": int(timeout_s * 1000), "logger": _quiet_logger(),
        # the metering job writes dead letters in transactions: the log ends with a
        # commit marker no consumer ever sees, so the end is the partition's EOF
        "isolation.level": "read_committed", "enable.partition.eof": True,
    })
    rows: list[dict[str, Any]] = []
    try:
        meta = list_topic(consumer, topic)
        if meta.error is not None:
            if meta.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return DEAD_LETTERS.empty_table()
            raise KafkaException(meta.error)
        ends, assignment = {}, []
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        consumer.assign(assignment)
        deadline = time.monotonic() + max(30.0, timeout_s)
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=1.0):
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        ends.pop(msg.partition(), None)
                        continue
                    raise KafkaException(msg.error())
                rows.append(_dead_letter(msg))
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
        if ends:
            raise TimeoutError(f"did not reach the end of {topic}")
    finally:
        consumer.close()
    return pa.Table.from_pylist(rows, DEAD_LETTERS)


def _dead_letter(msg: Any) -> dict[str, Any]:
    headers: dict[str, bytes] = {}
    for name, value in msg.headers() or []:
        headers[name] = value or b""

    def text(name: str) -> str | None:
        raw = headers.get(name)
        return None if raw is None else raw.decode("utf-8", "replace")

    def number(name: str) -> int | None:
        raw = text(name)
        return int(raw) if raw is not None and raw.strip().lstrip("-").isdigit() else None

    kind, ms = msg.timestamp()
    return {
        "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
        "timestamp": ms if kind and ms >= 0 else None, "key": msg.key(), "value": msg.value(),
        "reason": text("aforo.reason"), "source_topic": text("aforo.source.topic"),
        "source_partition": number("aforo.source.partition"),
        "source_offset": number("aforo.source.offset"),
    }


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("aforo.query.kafka")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def connect(settings: Settings, sql: str = "", *, dead_letters: Reader = read_dead_letters
            ) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every view; `dead_letters` only if `sql` names it
    (DeadLettersUnreadable if Kafka cannot be read)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name in PARQUET_VIEWS:
        folder = settings.data_dir / name
        files = inputs.committed_files(folder) if folder.is_dir() else []
        inputs.register(con, name, name, files, hive=True)
    with BillingStore.open(settings, write=False, timeout_s=60.0) as store:
        for name in BILLING_VIEWS:
            con.register(name, store.snapshot(name))
    if _NAMES_DEAD_LETTERS.search(sql):
        try:
            table = dead_letters(settings, 5.0)
        except Exception as exc:  # any broker failure: the view cannot be trusted
            con.close()
            topic = settings.kafka.topic("dead_letters").name
            raise DeadLettersUnreadable(
                f"dead_letters: Kafka at {settings.kafka.bootstrap} could not be read ({exc});"
                f" the dead letters ({topic}) are unknown, not none. Start the broker"
                " (`aforo stack up`) or point the settings at it") from exc
        con.register("dead_letters", table)
    return con


def run_query(settings: Settings, sql: str, *, dead_letters: Reader = read_dead_letters,
              tables: Mapping[str, pa.Table] | None = None) -> QueryResult:
    """Run one query over the views, and over `tables` (name: the caller's values, as
    relations rather than text in the SQL); duckdb.Error for a bad query, an empty one
    or several statements; DeadLettersUnreadable for a query of dead_letters while
    Kafka cannot be read."""
    _check_one_statement(sql)
    con = connect(settings, sql, dead_letters=dead_letters)
    try:
        for name, table in (tables or {}).items():
            con.register(name, table)
        cur = con.execute(sql)
        columns = [d[0] for d in cur.description] if cur.description else []
        rows = cur.fetchall() if cur.description else []
    finally:
        con.close()
    return QueryResult(columns, rows)


def _check_one_statement(sql: str) -> None:
    """DuckDB runs nothing for an empty query and returns only the last result of
    several statements; refuse both rather than print nothing, or a part."""
    with duckdb.connect() as parser:
        count = len(parser.extract_statements(sql))
    if count == 0:
        raise duckdb.InvalidInputException(
            "empty query: give one SQL statement, like \"SELECT count(*) FROM events\"")
    if count > 1:
        raise duckdb.InvalidInputException(
            f"{count} statements: aforo sql runs one query at a time; run each separately")
