"""`aforo ingest serve --workers 2`: two processes on one port, each with its own
producer, metrics summed over both, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aforo.settings import Settings
from ingest.keys import KeyStore
from tests.ingest.conftest import free_port, read_topic, request

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _workers(pid: int) -> list[int]:
    """The worker processes of a supervisor (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return [child for child in found if _alive(child) and "spawn_main" in _command(child)]


def _stop(server: subprocess.Popen[bytes], workers: list[int]) -> None:
    """Leave nothing running, whatever the test did."""
    for pid in workers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if server.poll() is None:
        server.kill()
        server.wait()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _command(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _metric(text: str, line_start: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(line_start)]
    return float(line.rsplit(" ", 1)[1])


def test_workers_share_the_port_the_metrics_and_stop_cleanly(
        settings: Settings, kafka: object, fresh_topic: str, ingest_catalog: Path,
        tmp_path: Path) -> None:
    secret = KeyStore.under(tmp_path).create("test", ["*"], [])[1]
    server, port = _start(tmp_path, ingest_catalog, fresh_topic)
    workers = _workers(server.pid)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        for i in range(40):  # a new connection each: the kernel hands them to either worker
            body = b"[" + b",".join(
                b'{"tenant_id": "acme", "metric": "api_call", "idempotency_key": "w-%d-%d"}'
                % (i, j) for j in range(5)) + b"]"
            assert request(port, "POST", "/v1/events", body, headers).status == 202
        for _ in range(6):  # whichever worker answers, it counts for both
            text = request(port, "GET", "/metrics", None, {}).body
            assert _metric(text, 'aforo_ingest_events_accepted_total{source="collector"}') == 200
            assert _metric(text, "aforo_ingest_produce_latency_seconds_count") == 40
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers):
            assert time.monotonic() < deadline, [_command(pid) for pid in workers if _alive(pid)]
            time.sleep(0.1)
    finally:
        _stop(server, workers)
    stderr = (tmp_path / "collector.log").read_text()
    assert "Traceback" not in stderr, stderr
    keys = {r.event["idempotency_key"] for r in read_topic(settings.kafka.bootstrap, fresh_topic)
            if r.event is not None}
    assert keys == {f"w-{i}-{j}" for i in range(40) for j in range(5)}


def test_a_dead_worker_stops_the_collector(kafka: object, fresh_topic: str,
                                            ingest_catalog: Path, tmp_path: Path) -> None:
    """Half a collector is not left serving: the supervisor stops and exits non-zero."""
    server, _ = _start(tmp_path, ingest_catalog, fresh_topic)
    workers = _workers(server.pid)
    try:
        first, second = workers
        os.kill(first, signal.SIGKILL)
        assert server.wait(timeout=60) == 1
        assert not _alive(second)
    finally:
        _stop(server, workers)


def _start(home: Path, catalog: Path, topic: str) -> tuple[subprocess.Popen[bytes], int]:
    """`aforo ingest serve --workers 2`, once both workers answer."""
    port = free_port()
    env = {**os.environ, "AFORO_HOME": str(home), "AFORO_CATALOG": str(catalog)}
    with (home / "collector.log").open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "aforo", "ingest", "serve", "--workers", "2", "--port",
             str(port), "--syslog-port", str(free_port(socket.SOCK_DGRAM)),  # both bind it
             "--topic", topic, "--log-level", "warning"], env=env, stderr=stderr)
    deadline = time.monotonic() + 60
    while len(_workers(server.pid)) < 2 or not _ready(port):
        if server.poll() is not None or time.monotonic() > deadline:
            _stop(server, _workers(server.pid))
            raise AssertionError((home / "collector.log").read_text())
        time.sleep(0.2)
    return server, port


def _ready(port: int) -> bool:
    try:
        return request(port, "GET", "/readyz", None, {}).status == 200
    except OSError:
        return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_syslog_port_in_use_is_one_line_naming_it(tmp_path: Path, workers: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        env = {**os.environ, "AFORO_HOME": str(tmp_path)}
        done = subprocess.run(
            [sys.executable, "-m", "aforo", "ingest", "serve", "--workers", workers, "--port",
             str(free_port()), "--syslog-port", str(port)],
            env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"Invalid value for '--syslog-port': udp 127.0.0.1:{port}: Address already in use" \
        in done.stderr
    assert "Traceback" not in done.stderr
