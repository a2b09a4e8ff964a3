"""Debian's nginx, configured with the log format of docs/ingestion.md, serves calls and
sends its access log over UDP syslog to the collector: each call it served is one event
in Kafka, its key nginx's own request id."""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.ingest.conftest import Collector, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ingestion.md"


def documented_config(syslog_port: int) -> str:
    """The nginx block of docs/ingestion.md, verbatim but for the collector's port."""
    text = DOCS.read_text()
    section = text[text.index("### nginx:"):]
    block = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert block, "docs/ingestion.md has no nginx block under '### nginx:'"
    assert "127.0.0.1:5140" in block.group(1)
    return block.group(1).replace("127.0.0.1:5140", f"127.0.0.1:{syslog_port}")


@pytest.fixture
def nginx(collector: Collector, tmp_path: Path) -> Iterator[int]:
    assert Path(NGINX).exists(), "nginx is missing: `make` installs Debian's nginx-light"
    port = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    temp_paths = "\n".join(f"  {name}_temp_path {root}/{name};"
                           for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
{temp_paths}
{documented_config(collector.syslog_port)}
  server {{
    listen 127.0.0.1:{port};
    location /v1/ {{ return 200 "ok\\n"; }}
  }}
}}
""")
    process = subprocess.Popen([NGINX, "-p", str(root), "-e", str(root / "error.log"),
                                "-c", str(root / "nginx.conf")])
    try:
        deadline = time.monotonic() + 15
        while True:
            assert process.poll() is None, (root / "error.log").read_text()
            try:
                call(port, "/v1/ready", "ak_acme_demo")
                break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def call(port: int, path: str, api_key: str) -> None:
    """One call through nginx, answered 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"X-API-Key": api_key})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()


def test_nginx_meters_each_call_it_serves_over_syslog(collector: Collector, nginx: int) -> None:
    paths = [f"/v1/tiles/12/{x}/1361" for x in range(40)] + ["/v1/tiles/%ff/1/2"]
    sent_at = datetime.now(UTC)
    for path in paths:
        call(nginx, path, "ak_acme_demo")
    call(nginx, "/v1/tiles/0/0/0", "ak_nobody")  # a key the catalog does not know

    events = collector.events(expect=len(paths) + 1, timeout_s=20)
    served = [e for e in events if e["route"] != "/v1/ready"]
    assert len(served) == len(paths)
    assert len({e["idempotency_key"] for e in served}) == len(paths)
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["idempotency_key"]) for e in served)  # $request_id
    assert {e["tenant_id"] for e in served} == {"acme"}
    assert {(e["source"], e["method"], e["status"]) for e in served} == {("nginx", "GET", 200)}
    assert {e["api"] for e in served} == {"127.0.0.1"}  # no $aforo_api: the Host, as nginx saw it
    assert all(abs(e["event_time"] - sent_at) < timedelta(minutes=1) for e in served)
    # nginx logs the decoded path ($uri): %ff arrives as the byte 0xff, read as U+FFFD
    assert sorted(e["route"] for e in served) == sorted(
        p.replace("%ff", "\ufffd") for p in paths)
    metrics = collector.get("/metrics").body
    assert f'aforo_ingest_syslog_datagrams_total{{result="accepted"}} {len(paths) + 1}.0' in metrics
    assert 'aforo_ingest_syslog_datagrams_total{result="rejected"} 1.0' in metrics

