"""The savepoint the metering job resumes from, and what it holds.

Flink maps a savepoint's state onto the new job by operator UIDs, and the
compiled plan numbers operators by their role (jobs/compiled_plan.py). Beside
each savepoint Aforo keeps `aforo-job.json`: the roles of the stopped job's
stateful nodes and whether the stop drained its windows. With it a start
tells a change of metrics apart from a change that would lose state:

- Same stateful nodes: Flink restores everything.
- Only a window aggregation has no place in the new job (its accumulators
  changed with the metrics): if the stop was drained, every hour had fired and
  its state held nothing to bill, so the start leaves it behind
  (`execution.state-recovery.ignore-unclaimed-state`) and keeps the dedup
  state, the running totals and the source's offsets. If it was not drained,
  open hours would be lost: the start refuses and says how to drain.
- Any other stateful node missing: the start refuses (`--fresh` is the way).

A drained stop also leaves the hourly windows' watermark at the end of time,
which Flink's window table function restores (FLINK-24501) and then drops every
event. So a start from a drained savepoint numbers the hourly aggregations anew
(the other *window generation*, jobs/compiled_plan.py) and leaves their
state behind, as for a change of metrics; a job's generation is recorded with
its stateful nodes, for the start after its next stop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from aforo.settings import Settings
from jobs.compiled_plan import is_window

SIDECAR = "aforo-job.json"
RECOVERY_PATH = "execution.state-recovery.path"
IGNORE_UNCLAIMED = "execution.state-recovery.ignore-unclaimed-state"


METRICS_CHANGED = ("The hourly aggregation changed since the savepoint (a drained one), with the "
                   "catalog's metrics or Aforo's version: the hourly "
                   "aggregation starts empty; the dedup state and running totals are restored.")


class SavepointMismatch(RuntimeError):
    """The savepoint's state does not fit the job about to start; nothing was started."""


def latest_savepoint_file(settings: Settings) -> Path:
    return settings.home / "savepoints" / "LATEST"


def latest_savepoint(settings: Settings) -> str | None:
    path = latest_savepoint_file(settings)
    return path.read_text().strip() if path.exists() else None


def latest_state(settings: Settings) -> str | None:
    """Where a start resumes: the latest savepoint, or a retained checkpoint completed after it.

    A job that ended without a savepoint (its process killed, a `--bounded` run that timed out,
    a cluster gone) leaves its last completed checkpoint in `<home>/checkpoints/<job>/chk-N`
    (retained: flink-conf.yaml). Its Parquet files and dead letters are committed, and its
    offsets and dedup state are past them; the savepoint before it would read those events again
    with a dedup state that has not seen them, and bill them twice.
    """
    savepoint = latest_savepoint(settings)
    newest, at = savepoint, _metadata_time(savepoint)
    for metadata in (settings.home / "checkpoints").glob("*/chk-*/_metadata"):
        if (when := metadata.stat().st_mtime) > at:
            newest, at = metadata.parent.as_uri(), when
    return newest


def _metadata_time(location: str | None) -> float:
    metadata = Path(urlparse(location).path) / "_metadata" if location else None
    return metadata.stat().st_mtime if metadata is not None and metadata.exists() else 0.0


def _job_file(settings: Settings, job_id: str) -> Path:
    return settings.home / "jobs" / f"{job_id}.json"


def record_job(settings: Settings, job_id: str, stateful_nodes: Mapping[str, str],
               window_generation: int = 0) -> None:
    """Written by the process that submitted the job: what a savepoint of it will hold."""
    path = _job_file(settings, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"job_id": job_id, "stateful_nodes": dict(stateful_nodes),
                                "window_generation": window_generation}, indent=2))


def window_generation(settings: Settings, location: str) -> tuple[int, bool]:
    """The window generation of a job resuming from `location`, and whether its hourly
    aggregations restore their state from there: its job's generation, or after a drained
    stop (its windows hold only a watermark at the end of time) the other one (0 or 1:
    ids other than the savepoint's are all it takes), which leaves them behind."""
    saved = _sidecar(location)
    if saved is None:  # a retained checkpoint, <home>/checkpoints/<job id>/chk-N: its job's record
        job = _job_file(settings, Path(urlparse(location).path).parent.name)
        saved = json.loads(job.read_text()) if job.exists() else {}
    generation = int(saved.get("window_generation", 0))
    return ((generation + 1) % 2, False) if saved.get("drained") else (generation, True)


def windows_changed(location: str, stateful_nodes: Mapping[str, str]) -> bool:
    """The hourly aggregations of the job differ from the savepoint's (the metrics changed)."""
    saved = _sidecar(location)
    if saved is None:
        return False
    return ({role for role in saved["stateful_nodes"].values() if is_window(role)}
            != {role for role in stateful_nodes.values() if is_window(role)})


def _local_run_file(settings: Settings) -> Path:
    return settings.home / "jobs" / "local.json"


def record_local_run(settings: Settings, job_id: str, rest_url: str) -> None:
    """Where a local MiniCluster's job answers: `aforo job stop` finds it there."""
    path = _local_run_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"job_id": job_id, "rest_url": rest_url}))


def local_run(settings: Settings) -> tuple[str, str] | None:
    """The latest local run's (job id, REST URL). Its MiniCluster's port is free again once the
    run ends, and may then serve another home's MiniCluster: only that job id is this home's."""
    path = _local_run_file(settings)
    if not path.exists():
        return None
    recorded = json.loads(path.read_text())
    return str(recorded["job_id"]), str(recorded["rest_url"])


def local_run_rest_url(settings: Settings) -> str | None:
    path = _local_run_file(settings)
    return str(json.loads(path.read_text())["rest_url"]) if path.exists() else None


def sidecar_path(location: str) -> Path | None:
    """Where the savepoint at `location` keeps `aforo-job.json` (None: not a local folder)."""
    url = urlparse(location)
    return Path(url.path) / SIDECAR if url.scheme in ("", "file") else None


def _sidecar(location: str) -> dict[str, Any] | None:
    path = sidecar_path(location)
    return json.loads(path.read_text()) if path is not None and path.exists() else None


def remember(settings: Settings, location: str, job_id: str, drained: bool) -> None:
    """Make `location` the savepoint the next start resumes from, with what it holds."""
    sidecar = sidecar_path(location)
    job = _job_file(settings, job_id)
    if sidecar is not None and sidecar.parent.is_dir() and job.exists():
        sidecar.write_text(json.dumps({**json.loads(job.read_text()), "drained": drained}, indent=2))
    path = latest_savepoint_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(location + "\n")
    tmp.replace(path)


def latest_savepoint_of(settings: Settings, job_id: str) -> str | None:
    """The latest savepoint, if `job_id` took it (its sidecar says so)."""
    location = latest_savepoint(settings)
    saved = _sidecar(location) if location else None
    return location if saved is not None and saved.get("job_id") == job_id else None


def restore_config(location: str, stateful_nodes: Mapping[str, str]) -> dict[str, str]:
    """Extra Flink settings to resume the job of `stateful_nodes` from `location`; or why it cannot.

    A savepoint without a sidecar (written by hand, or by an older Aforo) is
    left to Flink, which fails on state it cannot map (jobs/runner.py says so).
    """
    saved = _sidecar(location)
    if saved is None:
        return {}
    missing = {node: role for node, role in saved["stateful_nodes"].items() if node not in stateful_nodes}
    if not missing:
        return {}
    lost = sorted(role for role in missing.values() if not is_window(role))
    if lost:
        raise SavepointMismatch(
            f"savepoint {location} holds state the new job has no place for: {', '.join(lost)}. "
            "Start with the catalog and the Aforo version it was taken with, or without state "
            "(`aforo job run --fresh`: the dedup state and the periods' running totals start empty).")
    if not saved.get("drained"):
        raise SavepointMismatch(
            f"the hourly aggregation changed since savepoint {location} (the catalog's metrics, "
            "or Aforo's version), and it was taken without "
            "draining: its hourly aggregation holds hours that have not fired, which the new "
            "job's aggregation cannot take over. Start again with the catalog and Aforo version "
            "it was taken with, stop with `aforo job stop --drain` (a `--bounded` run drains when "
            "it ends), then start with the new ones.")
    return {IGNORE_UNCLAIMED: "true"}
