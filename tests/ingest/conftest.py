"""The collector under test: a real uvicorn server on a loopback port, in front of
the session's Kafka broker, one fresh topic and key store a test."""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml

from aforo.events import read_topic
from aforo.settings import Settings
from ingest.app import create_app
from ingest.config import IngestConfig
from ingest.keys import KeyStore

SAMPLES = Path(__file__).parent / "samples"
# Gateway identities of the samples that the example catalog does not list.
EXTRA_CONSUMERS = {
    "initech": ["wqz7l2mx4c"],              # an API Gateway API key id
    "hooli": ["sub-hooli-prod"],            # an APIM subscription id
    "stark": ["Wn1vNqkL0PvJm6Y2sXh3"],      # an Apigee app's consumer key (client_id)
}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_json(name: str) -> Any:
    return json.loads(sample(name))


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def ingest_catalog(tmp_path_factory: pytest.TempPathFactory, project_root: Path) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    shutil.copytree(project_root / "catalog", root, dirs_exist_ok=True)
    for tenant, consumers in EXTRA_CONSUMERS.items():
        path = root / "customers" / f"{tenant}.yaml"
        data = yaml.safe_load(path.read_text())
        data["gateway_consumers"] = [*data.get("gateway_consumers", []), *consumers]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


@dataclass
class Collector:
    url: str
    port: int
    topic: str
    settings: Settings
    keys: KeyStore
    app: Any
    syslog_port: int

    def key(self, *tenants: str, gateways: tuple[str, ...] = (), rate: float | None = None) -> str:
        name = f"test {len(self.keys.list(include_revoked=True)) + 1}"  # one active key per name
        return self.keys.create(name, list(tenants), list(gateways), rate)[1]

    def post(self, path: str, body: bytes | Any, *, key: str | None = None,
             headers: dict[str, str] | None = None, gzipped: bool = False) -> Reply:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"}
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if gzipped:
            data = gzip.compress(data)
            sent["Content-Encoding"] = "gzip"
        sent.update(headers or {})
        return request(self.port, "POST", path, data, sent)

    def get(self, path: str) -> Reply:
        return request(self.port, "GET", path, None, {})

    def events(self, expect: int | None = None, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """Decoded events of the topic (waiting for `expect` of them, for UDP)."""
        deadline = time.monotonic() + timeout_s
        while True:
            records = list(read_topic(self.settings.kafka.bootstrap, self.topic))
            assert all(r.error is None for r in records), [r.error for r in records]
            found = [r.event for r in records if r.event is not None]
            if expect is None or len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.2)

    def by_key(self, expect: int | None = None) -> dict[str, dict[str, Any]]:
        return {e["idempotency_key"]: e for e in self.events(expect)}


def request(port: int, method: str, path: str, data: bytes | None,
            headers: dict[str, str]) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
    if reply_headers.get("content-type", "").startswith("application/json"):
        return Reply(response.status, reply_headers, json.loads(raw))
    return Reply(response.status, reply_headers, raw.decode(errors="replace"))


@dataclass
class Running:
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the collector did not stop"


def start_server(app: Any, port: int) -> Running:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on", log_config=None))
    thread = threading.Thread(target=server.run, name="collector", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the collector did not start"
        time.sleep(0.02)
    return Running(server, thread)


def make_collector(settings: Settings, catalog: Path, topic: str, home: Path,
                   **config: Any) -> tuple[Collector, Running]:
    settings = settings.model_copy(update={"catalog_dir": catalog, "home": home})
    syslog_port = free_port(socket.SOCK_DGRAM)
    cfg = IngestConfig.model_validate({"syslog_port": syslog_port, **config})
    keys = KeyStore.under(home)
    app = create_app(settings, cfg, topic=topic, keystore=keys)
    port = free_port()
    running = start_server(app, port)
    return Collector(f"http://127.0.0.1:{port}", port, topic, settings, keys, app,
                     syslog_port), running


@pytest.fixture
def collector(settings: Settings, kafka: Any, fresh_topic: str, ingest_catalog: Path,
              tmp_path: Path) -> Iterator[Collector]:
    found, running = make_collector(settings, ingest_catalog, fresh_topic, tmp_path)
    yield found
    running.stop()


@pytest.fixture
def limited_collector(request: pytest.FixtureRequest, settings: Settings, kafka: Any,
                      fresh_topic: str, ingest_catalog: Path, tmp_path: Path
                      ) -> Iterator[Collector]:
    """A collector with the config given by `@pytest.mark.parametrize(..., indirect=True)`."""
    found, running = make_collector(settings, ingest_catalog, fresh_topic, tmp_path,
                                    **request.param)
    yield found
    running.stop()
