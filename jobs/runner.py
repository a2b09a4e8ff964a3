"""Start, watch and stop the metering job, on a local MiniCluster or a Flink cluster.

--bounded: run until the job has consumed the topics' end as of the start, then
stop with a drained savepoint (all windows fire, all files and transactions
commit). The next run resumes from that savepoint, so dedup state survives
between runs: a replayed event is still dropped.
"""

from __future__ import annotations

import fcntl
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aforo.flinkrest import FlinkRest, FlinkRestError, KafkaSourcePositions, SourceProgress
from aforo.generate import stderr_progress
from aforo.lag import advance_committed, committed_offsets, end_offsets, pending_records, records_between
from aforo.settings import PROJECT_ROOT, Settings
from aforo.stack.submit import submit
from jobs.metering import JobOptions, start
from jobs.savepoints import (
    METRICS_CHANGED,
    RECOVERY_PATH,
    latest_savepoint_of,
    latest_state,
    local_run,
    local_run_rest_url,
    record_local_run,
    remember,
)

Progress = Callable[[str], None]
DEFAULT_OPTIONS = JobOptions()


@dataclass(frozen=True)
class RunResult:
    job_id: str
    savepoint: str | None
    seconds: float
    # Messages of the usage-events topic a bounded run consumed: from the consumer group's
    # offsets at its start (where a drained stop leaves them) to the topic's end then.
    # None for an unbounded run, which is stopped before anything counts them.
    records: int | None
    checkpoints: int | None = None
    last_checkpoint_ms: int | None = None  # end-to-end duration of the last completed checkpoint
    last_checkpoint_bytes: int | None = None  # its full state size
    catch_up_seconds: float | None = None  # from the job's submission to all records checkpointed
    # Records the job's event-time operators dropped as late (docs/metering.md, Guarantees):
    # never expected; such events would be archived, and the close's reconciliation would
    # report their hours.
    late_records_dropped: int | None = None


class JobAlreadyRunning(Exception):
    """A metering job of this home runs already: a second one would resume from the same
    savepoint (or the same group's offsets), read the same events and bill them twice."""


@contextmanager
def _the_only_local_run(settings: Settings) -> Iterator[None]:
    """Hold `<home>/jobs/run.lock` while a local run lives (the OS frees it when the process
    ends, however it ends); a second `aforo job run` of the home is refused."""
    path = settings.home / "jobs" / "run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobAlreadyRunning(
                f"another `aforo job run` of {settings.home} is running (REST "
                f"{local_run_rest_url(settings) or 'not up yet'}): a second job would bill its events "
                "again. Stop it first (`aforo job stop`)") from None
        yield


def _refuse_if_running(settings: Settings, cluster_url: str) -> None:
    """Refuse to start while an aforo-metering job runs on the cluster or in the home's local run."""
    try:
        rest, job_id = _running_job([(cluster_url, None), *_local_run_job(settings, None)])
    except FlinkRestError:
        return
    raise JobAlreadyRunning(
        f"aforo-metering job {job_id} is running at {rest.base_url}: a second job would bill its "
        "events again. Stop it first (`aforo job stop`)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recovery_config(settings: Settings, fresh: bool) -> dict[str, str]:
    savepoint = None if fresh else latest_state(settings)
    return {RECOVERY_PATH: savepoint} if savepoint else {}


def wait_caught_up(settings: Settings, rest: FlinkRest, job_id: str, group: str,
                   ends: dict[int, int], timeout_s: float, progress: Progress) -> None:
    """Block until a completed checkpoint holds every record below `ends`.

    Either the group's committed offsets reach `ends` (Flink commits them after
    each checkpoint), or, sooner: the source has fetched and emitted everything
    below `ends`, and a checkpoint asked for then has completed. The second way
    exists because Flink's Kafka source runs its commits between polls, and once
    the topic is drained a poll waits 10 s for records that do not come.
    """
    topic = settings.kafka.topic("usage_events").name
    deadline = time.monotonic() + timeout_s
    last = 0.0
    positions = KafkaSourcePositions(rest, job_id, "usage_events", len(ends))
    while True:
        state = rest.state(job_id)
        check_restorable(rest, job_id, state)
        if state in ("FAILED", "CANCELED", "FINISHED"):
            raise FlinkRestError(f"job {job_id} is {state} while catching up")
        committed = committed_offsets(settings.kafka.bootstrap, topic, group, list(ends))
        pending = records_between(settings.kafka.bootstrap, topic, committed, ends)
        if pending == 0 or _checkpointed_to_ends(settings, rest, job_id, positions, committed, ends, deadline):
            return
        if time.monotonic() > deadline:
            raise FlinkRestError(f"{pending} records still pending after {timeout_s}s")
        if time.monotonic() - last > 5:
            progress(f"{_left_to_read(positions, committed, ends):,} records to read, {pending:,} not yet "
                     f"checkpointed (job {state})")
            last = time.monotonic()
        time.sleep(0.5)


def _left_to_read(positions: KafkaSourcePositions, committed: dict[int, int], ends: dict[int, int]) -> int:
    """What the source has still to fetch, for progress: the group's commits come only with
    checkpoints, and late in a short run. Offsets, so a transaction marker counts as one."""
    try:
        fetched = positions.fetched()
    except FlinkRestError:
        fetched = {}
    return sum(max(0, end - max(fetched.get(p, -1) + 1, committed.get(p, 0))) for p, end in ends.items())


# How old a REST metric reading may be: the REST endpoint answers from its cache
# and refreshes it in the background once it is older than
# `metrics.fetcher.update-interval` (1 s in flink-conf.yaml). Readings every 0.5 s
# for this long after a moment include one taken after it.
_METRICS_STALE_S = 2.5


def _read_to_ends(settings: Settings, positions: KafkaSourcePositions, committed: dict[int, int],
                  ends: dict[int, int]) -> SourceProgress | None:
    """The source's progress if it has fetched and emitted every record below `ends`.

    Records below the group's `committed` offsets count as read: a completed
    checkpoint (of this run, or the savepoint it resumed from) holds them.
    """
    try:
        now = positions.progress()
    except FlinkRestError:
        return None
    if not now.all_emitted():
        return None
    read_to = {p: max(now.fetched.get(p, -1) + 1, committed.get(p, 0)) for p in ends}
    if records_between(settings.kafka.bootstrap, settings.kafka.topic("usage_events").name, read_to, ends):
        return None
    return now


def _checkpointed_to_ends(settings: Settings, rest: FlinkRest, job_id: str, positions: KafkaSourcePositions,
                          committed: dict[int, int], ends: dict[int, int], deadline: float) -> bool:
    """Once the source has emitted every record below `ends`, ask for a checkpoint and wait for it.

    The barrier of a checkpoint asked for after that reading follows every one of
    those records, unless the reading was stale: the source polled again since.
    So the reading is taken again once the metrics have been refreshed, and must
    show the same records polled. Only for a job that has not restarted: after a
    failover the REST metrics can still show the failed attempt's counts, while
    the new attempt reads again from its checkpoint.
    """
    try:
        if rest.restarts(job_id):
            return False  # metrics of a failed attempt may linger: wait for the group's commits
    except FlinkRestError:
        return False
    before = _read_to_ends(settings, positions, committed, ends)
    if before is None:
        return False
    try:
        trigger = rest.trigger_checkpoint(job_id)
        asked = time.monotonic()
        while rest.checkpoint_status(job_id, trigger) is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        while True:
            time.sleep(0.5)
            after = positions.progress()
            if time.monotonic() >= asked + _METRICS_STALE_S:
                break
        restarted = rest.restarts(job_id)
    except FlinkRestError:
        return False  # the checkpoint failed (say, a task restarted): look again
    return after.consumed == before.consumed and after.all_emitted() and not restarted


# What Flink says when a savepoint's state does not fit the job it restores into.
_UNRESTORABLE = ("StateMigrationException", "Cannot map checkpoint/savepoint state",
                 "Failed to rollback to checkpoint/savepoint")


def check_restorable(rest: FlinkRest, job_id: str, state: str) -> None:
    """Fail fast, with the way out, when the job cannot restore its savepoint.

    Flink would restart such a job until its restart attempts run out, and
    each attempt fails the same way.
    """
    if state not in ("RESTARTING", "FAILING", "FAILED"):
        return
    try:
        failure = rest.latest_failure(job_id) or ""
    except FlinkRestError:
        return
    if not any(marker in failure for marker in _UNRESTORABLE):
        return
    try:
        rest.cancel(job_id)
    except FlinkRestError:
        pass  # already failed
    cause = next(line for line in failure.splitlines() if any(m in line for m in _UNRESTORABLE))
    raise FlinkRestError(
        f"job {job_id} cannot restore its state: the job's operators or their state changed "
        f"(a retained checkpoint of a job that ended without a savepoint, a savepoint without "
        f"aforo-job.json, or one taken by another Aforo version).\n"
        f"  Flink: {cause.strip()[:400]}\n"
        "Start again with the catalog and version that state was taken with, stop with "
        "`aforo job stop --drain`, then change the catalog; or start without state "
        "(`aforo job run --fresh`: the dedup state and the periods' running totals start empty).")


def _finish_bounded(settings: Settings, rest: FlinkRest, job_id: str, options: JobOptions,
                    ends: dict[int, int], records: int, started: float, timeout_s: float,
                    progress: Progress) -> RunResult:
    submitted = time.monotonic()
    wait_caught_up(settings, rest, job_id, options.group_prefix, ends, timeout_s, progress)
    catch_up = time.monotonic() - submitted
    checkpoints = rest.completed_checkpoints(job_id)
    last = rest.latest_checkpoint(job_id) or {}
    dropped = rest.late_records_dropped(job_id)
    if dropped:
        progress(f"WARNING: the job's windows dropped {dropped:,} records as late (docs/metering.md, "
                 "Guarantees): they are archived but in no line item; `aforo close` reports their hours")
    progress("caught up: stopping with a drained savepoint")
    target = (settings.home / "savepoints").as_uri()
    location = rest.stop_with_savepoint(job_id, target, drain=True)
    remember(settings, location, job_id, drained=True)
    # The source's last commits wait for a poll that a stopped job no longer makes:
    # the group's offsets (where `--fresh` starts) are moved to `ends`, which the
    # drained savepoint has consumed.
    advance_committed(settings.kafka.bootstrap, settings.kafka.topic("usage_events").name,
                      options.group_prefix, ends)
    return RunResult(job_id, location, time.monotonic() - started, records, checkpoints,
                     last.get("end_to_end_duration"), last.get("state_size"), catch_up, dropped)


_PORT_ATTEMPTS = 3


def _work(settings: Settings, options: JobOptions) -> tuple[dict[int, int], int]:
    """The topic's end offsets now (where a bounded run stops) and the records before them
    that the consumer group has not committed (what the run will consume)."""
    ends = end_offsets(settings.kafka.bootstrap, settings.kafka.topic("usage_events").name)
    pending = pending_records(settings.kafka.bootstrap, settings.kafka.topic("usage_events").name,
                              options.group_prefix, ends)
    return ends, pending


def run_local(settings: Settings, bounded: bool, options: JobOptions = DEFAULT_OPTIONS, fresh: bool = False,
              timeout_s: float = 1800.0, progress: Progress = stderr_progress) -> RunResult:
    """Run the job on a MiniCluster inside this process; refused while another job of the home runs."""
    with _the_only_local_run(settings):
        _refuse_if_running(settings, f"http://localhost:{settings.flink.rest_port}")
        return _run_local(settings, bounded, options, fresh, timeout_s, progress)


def _run_local(settings: Settings, bounded: bool, options: JobOptions, fresh: bool, timeout_s: float,
               progress: Progress) -> RunResult:
    started = time.monotonic()
    ends, pending = _work(settings, options)
    recovery = recovery_config(settings, fresh)
    if recovery:
        progress(f"resuming from {recovery[RECOVERY_PATH]}")
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = settings.metering.local_rest_port or _free_port()
        config = {"rest.port": str(port), "rest.address": "localhost", "rest.bind-address": "localhost",
                  **recovery}
        try:
            result = start(settings, options, config)
            break
        except Exception as exc:  # py4j's TableException, wrapping Flink's
            # A free port found here can be taken before the MiniCluster binds it.
            if settings.metering.local_rest_port or attempt == _PORT_ATTEMPTS or "BindException" not in str(exc):
                raise
            progress(f"REST port {port} was taken before the MiniCluster bound it; trying another")
    client = result.get_job_client()
    job_id = str(client.get_job_id())
    rest = FlinkRest(f"http://localhost:{port}")
    record_local_run(settings, job_id, rest.base_url)
    progress(f"metering job {job_id} running on a local MiniCluster (REST {rest.base_url})")
    if bounded:
        return _finish_bounded(settings, rest, job_id, options, ends, pending, started, timeout_s, progress)
    unreachable: FlinkRestError | None = None
    try:
        while True:
            try:
                state = rest.state(job_id)
            except FlinkRestError as exc:  # the MiniCluster shuts down once its job has ended
                state, unreachable = "unreachable", exc
            if state in ("FAILED", "CANCELED", "FINISHED", "unreachable"):
                break
            check_restorable(rest, job_id, state)
            time.sleep(2)
    except KeyboardInterrupt:
        progress("stopping with a savepoint (Ctrl-C again to abort)")
        location = rest.stop_with_savepoint(job_id, (settings.home / "savepoints").as_uri(), drain=False)
        remember(settings, location, job_id, drained=False)
        return RunResult(job_id, location, time.monotonic() - started, None)
    if state in ("FINISHED", "unreachable"):
        # Stopped from elsewhere (`aforo job stop`), which records the savepoint once it is taken.
        deadline = time.monotonic() + 30
        while (location := latest_savepoint_of(settings, job_id)) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        if location:
            progress(f"stopped with savepoint {location} (`aforo job stop`)")
            return RunResult(job_id, location, time.monotonic() - started, None)
        if unreachable is not None:
            raise unreachable
    raise FlinkRestError(f"job {job_id} ended: {state}")


def submit_to_cluster(settings: Settings, jobmanager: str, bounded: bool,
                      options: JobOptions = DEFAULT_OPTIONS, fresh: bool = False,
                      timeout_s: float = 1800.0, progress: Progress = stderr_progress) -> RunResult:
    """Submit with `flink run -py` (detached); with bounded, watch it and stop it. Refused while
    a job runs on that cluster or in a local run of the home."""
    if not FlinkRest(f"http://{jobmanager}").reachable():
        raise FlinkRestError(f"no Flink cluster answers at {jobmanager} (--jobmanager: its REST endpoint, "
                             "HOST:PORT; `aforo stack up --flink` starts one)")
    _refuse_if_running(settings, f"http://{jobmanager}")
    started = time.monotonic()
    ends, pending = _work(settings, options)
    job_args = ["--group-prefix", options.group_prefix]
    if options.fail_once_after:
        job_args += ["--fail-once-after", str(options.fail_once_after), "--fail-marker", options.fail_marker]
    for key, value in recovery_config(settings, fresh).items():
        job_args += ["--set", f"{key}={value}"]
        progress(f"resuming from {value}")
    result = submit(settings, PROJECT_ROOT / "jobs" / "metering.py", jobmanager, job_args, detached=True)
    output = result.stdout + result.stderr
    found = re.search(r"JobID ([0-9a-f]{32})", output)
    mismatch = re.search(r"SavepointMismatch: (.*)", output)
    if mismatch:
        raise FlinkRestError(mismatch.group(1))
    if result.returncode != 0 or not found:
        raise FlinkRestError(f"flink run failed (exit {result.returncode}):\n{output[-3000:]}")
    job_id = found.group(1)
    rest = FlinkRest(f"http://{jobmanager}")
    if METRICS_CHANGED in output:
        progress(METRICS_CHANGED)
    progress(f"metering job {job_id} submitted to {jobmanager}")
    if not bounded:
        return RunResult(job_id, None, time.monotonic() - started, None)
    try:
        return _finish_bounded(settings, rest, job_id, options, ends, pending, started, timeout_s, progress)
    except FlinkRestError as exc:
        if rest.state(job_id) in ("FAILED", "CANCELED", "FINISHED"):
            raise
        # Unlike a local run's MiniCluster, the cluster goes on running the job after we give up.
        raise FlinkRestError(
            f"{exc}; job {job_id} is still running on {jobmanager} (each checkpoint commits what it "
            f"has read): wait for it, or stop it with `aforo job stop --rest http://{jobmanager} "
            f"--job-id {job_id} --drain`") from None


def _local_run_job(settings: Settings, job_id: str | None) -> list[tuple[str, str | None]]:
    """Where the home's latest local run answers, with its job: `job_id` if given, else the recorded one."""
    local = local_run(settings)
    return [(local[1], job_id or local[0])] if local else []


def _running_job(places: list[tuple[str, str | None]]) -> tuple[FlinkRest, str]:
    """The first running aforo-metering job among (REST URL, job id or None for any)."""
    for url, job_id in places:
        rest = FlinkRest(url)
        try:
            running = [j["jid"] for j in rest.jobs() if j["state"] == "RUNNING" and j["name"] == "aforo-metering"]
        except FlinkRestError:
            continue  # nothing answers there
        if job_id in running or (job_id is None and running):
            return rest, job_id or running[0]
    raise FlinkRestError("no running aforo-metering job at " + " or ".join(
        f"{url}{f' (job {job_id})' if job_id else ''}" for url, job_id in places))


def stop(settings: Settings, rest_url: str | None = None, job_id: str | None = None, drain: bool = False) -> str:
    """Stop a running metering job with a savepoint and remember it for the next start.

    Without `rest_url`: the local cluster's job, else the latest local `aforo job run`'s.
    """
    places = [(rest_url, job_id)] if rest_url else [(f"http://localhost:{settings.flink.rest_port}", job_id),
                                                     *_local_run_job(settings, job_id)]
    rest, job_id = _running_job(places)
    location = rest.stop_with_savepoint(job_id, (settings.home / "savepoints").as_uri(), drain=drain)
    remember(settings, location, job_id, drained=drain)
    return location
