"""Flink's REST API: job state, checkpoints, and stop-with-savepoint.

PyFlink 2.x's `JobClient.stop_with_savepoint` does not work, so stopping goes
through `POST /jobs/<id>/stop`, which both a MiniCluster (given rest.port) and a
standalone cluster answer.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

# Savepoint failures that pass once the job runs again: tasks still deploying after a
# (re)start, or a failover under way (its checkpoint coordinator refuses triggers).
_NOT_RUNNING = ("Not all required tasks are currently running", "Trigger checkpoint failure")
# <subtask>.Source__<table>[<n>].KafkaSourceReader.topic.<topic>.partition.<p>.currentOffset
_POSITION = re.compile(r"\.KafkaSourceReader\.topic\..+\.partition\.(\d+)\.currentOffset$")
# <subtask>.Source__<table>[<n>].KafkaSourceReader.KafkaConsumer.records-consumed-total: records polled
_CONSUMED = re.compile(r"^(\d+)\.Source__[^.]+\.KafkaSourceReader\.KafkaConsumer\.records-consumed-total$")
# <subtask>.Source__<table>[<n>].numRecordsIn: records the source emitted into the job
_EMITTED = re.compile(r"^(\d+)\.Source__[^.]+\.numRecordsIn$")


# Savepoints in RocksDB's own format: its files are copied, not every key rewritten
# in Flink's canonical format, so the savepoint takes a quarter of the space and the
# stop less time (docs/metering.md, Running). What it gives up, a change of state
# backend, Aforo never makes (RocksDB throughout).
SAVEPOINT_FORMAT = "NATIVE"


class FlinkRestError(RuntimeError):
    """The REST call failed or the job did not reach the wanted state."""


@dataclass(frozen=True)
class FlinkRest:
    base_url: str  # http://localhost:8081

    def _call(self, path: str, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise FlinkRestError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise FlinkRestError(f"{method} {path}: {exc}") from exc
        return json.loads(raw) if raw else None

    def reachable(self) -> bool:
        try:
            self._call("/overview")
            return True
        except FlinkRestError:
            return False

    def jobs(self) -> list[dict[str, Any]]:
        return self._call("/jobs/overview")["jobs"]

    def taskmanagers(self) -> list[dict[str, Any]]:
        """Each TaskManager with its `memoryConfiguration` (bytes per memory pool)."""
        return self._call("/taskmanagers")["taskmanagers"]

    def job(self, job_id: str) -> dict[str, Any]:
        return self._call(f"/jobs/{job_id}")

    def state(self, job_id: str) -> str:
        return self.job(job_id)["state"]

    def latest_failure(self, job_id: str) -> str | None:
        """The stack trace of the job's latest failure (restart or final), if any."""
        data = self._call(f"/jobs/{job_id}/exceptions?maxExceptions=1")
        entries = (data.get("exceptionHistory") or {}).get("entries") or []
        if entries:
            return entries[0].get("stacktrace") or entries[0].get("exceptionName")
        return data.get("root-exception")

    def completed_checkpoints(self, job_id: str) -> int:
        return int(self._call(f"/jobs/{job_id}/checkpoints")["counts"]["completed"])

    def latest_checkpoint(self, job_id: str) -> dict[str, Any] | None:
        return self._call(f"/jobs/{job_id}/checkpoints")["latest"].get("completed")

    def late_records_dropped(self, job_id: str) -> int:
        """Records the job's event-time operators dropped as late (`numLateRecordsDropped` of
        the hourly windows and the running totals, all subtasks of this attempt)."""
        dropped = 0
        for vertex in self.job(job_id)["vertices"]:
            path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
            ids = [m["id"] for m in self._call(path) if m["id"].endswith(".numLateRecordsDropped")]
            if ids:
                dropped += sum(int(float(m["value"])) for m in self._call(path + "?get=" + ",".join(ids)))
        return dropped

    def restarts(self, job_id: str) -> int:
        """How often the job has restarted (its `numRestarts` metric; 0 before it reports)."""
        values = self._call(f"/jobs/{job_id}/metrics?get=numRestarts") or []
        return int(float(values[0]["value"])) if values else 0

    def trigger_checkpoint(self, job_id: str) -> str:
        """Ask for a checkpoint now (it commits files, transactions and offsets), not at the
        next interval; return the trigger's id for `checkpoint_status`."""
        return str(self._call(f"/jobs/{job_id}/checkpoints", {}, method="POST")["request-id"])

    def checkpoint_status(self, job_id: str, trigger_id: str) -> int | None:
        """The id of the checkpoint asked for by `trigger_id` once it has completed; None before."""
        status = self._call(f"/jobs/{job_id}/checkpoints/{trigger_id}")
        if status["status"]["id"] != "COMPLETED":
            return None
        operation = status.get("operation") or {}
        if "checkpointId" not in operation:  # {"failureCause": {"class": ..., "stack-trace": ...}}
            cause = operation.get("failureCause") or operation
            raise FlinkRestError(f"checkpoint failed: {str(cause.get('stack-trace') or cause)[:500]}")
        return int(operation["checkpointId"])

    def kafka_position_metrics(self, job_id: str, source: str) -> tuple[str, list[str]]:
        """The metrics path and ids of the Kafka source `source` (its table name): per
        partition the offset fetched, per subtask the records polled and emitted; no
        ids while it has reported none."""
        vertex = next((v for v in self.job(job_id)["vertices"]
                       if v["name"].startswith(f"Source: {source}[")), None)
        if vertex is None:
            return "", []
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        return path, [m["id"] for m in self._call(path)
                      if _POSITION.search(m["id"]) or _CONSUMED.match(m["id"]) or _EMITTED.match(m["id"])]

    def kafka_source_progress(self, path: str, ids: list[str]) -> SourceProgress:
        """One reading of the metrics `kafka_position_metrics` named."""
        progress = SourceProgress()
        for metric in self._call(path + "?get=" + ",".join(ids)):
            value = int(float(metric["value"]))
            if found := _POSITION.search(metric["id"]):
                partition = int(found.group(1))
                progress.fetched[partition] = max(progress.fetched.get(partition, -1), value)
            elif found := _CONSUMED.match(metric["id"]):
                progress.consumed[int(found.group(1))] = value
            elif found := _EMITTED.match(metric["id"]):
                progress.emitted[int(found.group(1))] = value
        return progress

    def wait_state(self, job_id: str, states: tuple[str, ...], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        state = "UNKNOWN"
        while time.monotonic() < deadline:
            try:
                state = self.state(job_id)
            except FlinkRestError:
                state = "UNREACHABLE"
            if state in states:
                return state
            time.sleep(0.5)
        raise FlinkRestError(f"job {job_id} is {state}, not {states}, after {timeout_s}s")

    def wait_checkpoints(self, job_id: str, count: int, timeout_s: float) -> int:
        """Wait until at least `count` checkpoints have completed; return how many have."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                done = self.completed_checkpoints(job_id)
            except FlinkRestError:
                done = -1
            if done >= count:
                return done
            time.sleep(0.5)
        raise FlinkRestError(f"job {job_id}: fewer than {count} checkpoints after {timeout_s}s")

    def stop_with_savepoint(self, job_id: str, target_dir: str, drain: bool,
                            timeout_s: float = 300.0) -> str:
        """Stop the job, taking a savepoint; return the savepoint's location.

        Right after a (re)start some tasks may still be deploying, or a failover is
        under way, and Flink refuses the savepoint: that is retried until `timeout_s`.
        (A failover restores a checkpoint at least as recent as any the caller waited
        for, so the savepoint taken afterwards holds everything that one did.)
        """
        deadline = time.monotonic() + timeout_s
        while True:
            trigger = self._call(f"/jobs/{job_id}/stop", {"drain": drain, "targetDirectory": target_dir,
                                                           "formatType": SAVEPOINT_FORMAT}, method="POST")
            location, failure = self._await_savepoint(job_id, trigger["request-id"], deadline)
            if location is not None:
                return location
            cause = str(failure.get("stack-trace") or failure)
            if not any(marker in cause for marker in _NOT_RUNNING) or time.monotonic() > deadline \
                    or self.state(job_id) in ("FAILED", "CANCELED", "FINISHED"):
                raise FlinkRestError(f"savepoint failed: {cause.splitlines()[0][:2000]}")
            time.sleep(1)

    def _await_savepoint(self, job_id: str, request_id: str, deadline: float) -> tuple[str | None, dict]:
        """(location, {}) when done, else (None, the failure cause)."""
        while time.monotonic() < deadline:
            status = self._call(f"/jobs/{job_id}/savepoints/{request_id}")
            if status["status"]["id"] == "COMPLETED":
                operation = status.get("operation", {})
                if "failure-cause" in operation:
                    return None, operation["failure-cause"]
                return operation["location"], {}
            time.sleep(0.5)
        raise FlinkRestError(f"savepoint of job {job_id} not done in time")

    def cancel(self, job_id: str) -> None:
        self._call(f"/jobs/{job_id}?mode=cancel", method="PATCH")


@dataclass
class SourceProgress:
    """How far a Kafka source has got: fetched from Kafka, and emitted into the job."""

    fetched: dict[int, int] = field(default_factory=dict)  # per partition: offset of the last record fetched
    consumed: dict[int, int] = field(default_factory=dict)  # per subtask: records its Kafka consumer polled
    emitted: dict[int, int] = field(default_factory=dict)  # per subtask: records the source emitted

    def all_emitted(self) -> bool:
        """Every record polled has left the source (none waits in its queue): the next
        checkpoint barrier comes after all of them."""
        return bool(self.consumed) and all(self.emitted.get(subtask, -1) == records
                                           for subtask, records in self.consumed.items())


@dataclass
class KafkaSourcePositions:
    """The offsets a running job's Kafka source `source` (its table name) has fetched,
    per partition, and what it has emitted. The metric ids are looked up until all
    `partitions` have reported (each subtask reports its own), then reused."""

    rest: FlinkRest
    job_id: str
    source: str
    partitions: int
    _path: str = ""
    _ids: list[str] = field(default_factory=list)

    def progress(self) -> SourceProgress:
        """Empty before any report."""
        if sum(1 for i in self._ids if _POSITION.search(i)) < self.partitions:
            self._path, self._ids = self.rest.kafka_position_metrics(self.job_id, self.source)
        return self.rest.kafka_source_progress(self._path, self._ids) if self._ids else SourceProgress()

    def fetched(self) -> dict[int, int]:
        """Per partition, the offset of the last record fetched; {} before any report."""
        return self.progress().fetched
