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

_NOT_RUNNING = "Not all required tasks are currently running"
# <subtask>.Source__<table>[<n>].KafkaSourceReader.topic.<topic>.partition.<p>.currentOffset
_POSITION = re.compile(r"\.KafkaSourceReader\.topic\..+\.partition\.(\d+)\.currentOffset$")


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

    def checkpoint_in_progress(self, job_id: str) -> bool:
        return int(self._call(f"/jobs/{job_id}/checkpoints")["counts"]["in_progress"]) > 0

    def trigger_checkpoint(self, job_id: str) -> None:
        """Ask for a checkpoint now (it commits files, transactions and offsets), not at the next interval."""
        self._call(f"/jobs/{job_id}/checkpoints", {}, method="POST")

    def kafka_position_metrics(self, job_id: str, source: str) -> tuple[str, list[str]]:
        """The metrics path and ids of the offsets the source `source` (its table name)
        has fetched, per subtask and Kafka partition (KafkaSourceReader metrics); no ids
        while it has reported none."""
        vertex = next((v for v in self.job(job_id)["vertices"]
                       if v["name"].startswith(f"Source: {source}[")), None)
        if vertex is None:
            return "", []
        path = f"/jobs/{job_id}/vertices/{vertex['id']}/metrics"
        return path, [m["id"] for m in self._call(path) if _POSITION.search(m["id"])]

    def kafka_positions(self, path: str, ids: list[str]) -> dict[int, int]:
        """Per Kafka partition, the offset of the last record fetched (-1: none yet)."""
        positions: dict[int, int] = {}
        for metric in self._call(path + "?get=" + ",".join(ids)):
            partition = int(_POSITION.search(metric["id"]).group(1))  # type: ignore[union-attr]
            positions[partition] = max(positions.get(partition, -1), int(float(metric["value"])))
        return positions

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

        Right after a (re)start some tasks may still be deploying and Flink refuses
        the savepoint: that is retried until `timeout_s`.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            trigger = self._call(f"/jobs/{job_id}/stop",
                                 {"drain": drain, "targetDirectory": target_dir}, method="POST")
            location, failure = self._await_savepoint(job_id, trigger["request-id"], deadline)
            if location is not None:
                return location
            cause = str(failure.get("stack-trace") or failure)
            if _NOT_RUNNING not in cause or time.monotonic() > deadline:
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
class KafkaSourcePositions:
    """The offsets a running job's Kafka source `source` (its table name) has fetched,
    per partition. The metric ids are looked up until all `partitions` have reported
    (each subtask reports its own), then reused."""

    rest: FlinkRest
    job_id: str
    source: str
    partitions: int
    _path: str = ""
    _ids: list[str] = field(default_factory=list)

    def fetched(self) -> dict[int, int]:
        """Per partition, the offset of the last record fetched; {} before any report."""
        if len(self._ids) < self.partitions:
            self._path, self._ids = self.rest.kafka_position_metrics(self.job_id, self.source)
        return self.rest.kafka_positions(self._path, self._ids) if self._ids else {}
