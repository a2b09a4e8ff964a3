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


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


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
    port = free_port()
    secret = KeyStore.under(tmp_path).create("test", ["*"], [])[1]
    env = {**os.environ, "AFORO_HOME": str(tmp_path), "AFORO_CATALOG": str(ingest_catalog)}
    server = subprocess.Popen(
        [sys.executable, "-m", "aforo", "ingest", "serve", "--workers", "2", "--port", str(port),
         "--syslog-port", str(free_port(socket.SOCK_DGRAM)),  # both bind it (SO_REUSEPORT)
         "--topic", fresh_topic, "--log-level", "warning"],
        env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(_children(server.pid)) < 2 or not _ready(port):
            assert server.poll() is None and time.monotonic() < deadline, "no workers"
            time.sleep(0.2)
        workers = _children(server.pid)
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
        if server.poll() is None:
            server.kill()
        stderr = server.communicate()[1].decode(errors="replace")
    assert "Traceback" not in stderr, stderr
    keys = {r.event["idempotency_key"] for r in read_topic(settings.kafka.bootstrap, fresh_topic)
            if r.event is not None}
    assert keys == {f"w-{i}-{j}" for i in range(40) for j in range(5)}


def _ready(port: int) -> bool:
    try:
        return request(port, "GET", "/readyz", None, {}).status == 200
    except OSError:
        return False
