"""Running the collector: uvicorn on the app, JSON logs, a graceful stop.

On SIGTERM/SIGINT uvicorn stops accepting, lets in-flight requests finish
(they are waiting for Kafka's acks), then the app's shutdown flushes the producer.

With `workers: N` (N > 1), N processes serve the port, each with its own app and
Kafka producer: one Python process does not get past one core. Each worker
listens on a socket of its own bound with SO_REUSEPORT, so the kernel spreads
new connections over them (with one shared listening socket, a burst of
connections all goes to whichever worker wakes first, and a few keep-alive
connections can leave a worker idle). This module's supervisor passes SIGTERM
and SIGINT on to every worker, which stops as above; if a worker dies, it stops
the others and exits non-zero, for systemd or Kubernetes to restart the lot.
The workers' metrics are summed through prometheus_client's multiprocess mode
(a temporary folder of the supervisor): any worker's /metrics answers for all.
"""

from __future__ import annotations

import gc
import logging
import logging.config
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from typing import Any

import uvicorn

from aforo.settings import Settings
from ingest.app import create_app
from ingest.config import IngestConfig
from ingest.logs import log_config
from ingest.metrics import MULTIPROC_DIR

log = logging.getLogger("ingest")


def _options(config: IngestConfig, log_level: str) -> dict[str, Any]:
    return {
        "host": config.host, "port": config.port, "log_config": log_config(log_level.upper()),
        "log_level": log_level, "access_log": config.access_log, "server_header": False,
        "timeout_graceful_shutdown": int(config.ack_timeout_s + 5), "lifespan": "on",
    }


def build_server(settings: Settings, config: IngestConfig, *, topic: str | None = None,
                 log_level: str = "info") -> uvicorn.Server:
    """One process serving the app."""
    app = create_app(settings, config, topic=topic)
    server = uvicorn.Server(uvicorn.Config(app, **_options(config, log_level)))
    # What the start-up made (modules, FastAPI, pydantic, the app) lives as long as the
    # process: out of the collector's way, so that full collections no longer walk it.
    gc.freeze()
    # A batch of 500 events holds some 4,000 containers until its reply; at the default
    # threshold (700) every request set off several collections that walked them, about
    # 2 us an event. Its objects are freed by reference counting; cycles are rare.
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    return server


def syslog_port_taken(config: IngestConfig) -> str | None:
    """Why the syslog port cannot be bound, said before start-up: uvicorn would report a
    failed bind in the app's start as a traceback."""
    if not config.syslog_port:
        return None
    host = config.syslog_host
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                       socket.SOCK_DGRAM) as sock:
        if config.workers > 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, config.syslog_port))
        except OSError as exc:
            return (f"udp {host}:{config.syslog_port}: {exc.strerror or exc}"
                    " (another collector? 0 turns the syslog listener off)")
    return None


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _worker(settings_json: str, config_json: str, topic: str | None, log_level: str) -> None:
    """One worker process: the app on its own SO_REUSEPORT socket."""
    config = IngestConfig.model_validate_json(config_json)
    server = build_server(Settings.model_validate_json(settings_json), config, topic=topic,
                          log_level=log_level)
    server.run(sockets=[_listen(config.host, config.port)])


def _supervise(settings: Settings, config: IngestConfig, topic: str | None,
               log_level: str) -> int:
    """Run config.workers workers until a signal or a worker's end; the exit code."""
    spawn = multiprocessing.get_context("spawn")  # no forked librdkafka or event loop state
    args = (settings.model_dump_json(), config.model_dump_json(), topic, log_level)
    workers = [spawn.Process(target=_worker, args=args, name=f"ingest-worker-{i}")
               for i in range(config.workers)]
    stopping: list[int] = []

    def stop(signum: int, _: Any) -> None:
        stopping.append(signum)
        for worker in workers:
            if worker.pid is not None and worker.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop)
    for worker in workers:
        worker.start()
    log.info("collector supervisor started %d workers", len(workers),
             extra={"port": config.port, "workers": [w.pid for w in workers]})
    while not stopping and all(w.is_alive() for w in workers):
        time.sleep(0.2)
    if not stopping:
        dead = [w for w in workers if not w.is_alive()]
        log.error("worker %s ended (exit code %s): stopping the others", dead[0].pid,
                  dead[0].exitcode)
        stop(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
    # uvicorn ends a worker by re-raising the stop signal after its graceful shutdown.
    failed = [w.exitcode for w in workers if w.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT)]
    return 0 if stopping and not failed else 1


def serve(settings: Settings, config: IngestConfig, *, topic: str | None = None,
          log_level: str = "info") -> int:
    """Serve until SIGTERM/SIGINT; the exit code (non-zero: a worker failed)."""
    if config.workers == 1:
        build_server(settings, config, topic=topic, log_level=log_level).run()
        return 0
    if config.port == 0:
        raise ValueError("workers > 1 need a fixed port (each worker binds it)")
    logging.config.dictConfig(log_config(log_level.upper()))
    metrics_dir = tempfile.mkdtemp(prefix="aforo-ingest-metrics-")
    os.environ[MULTIPROC_DIR] = metrics_dir  # inherited by the spawned workers
    try:
        return _supervise(settings, config, topic, log_level)
    finally:
        os.environ.pop(MULTIPROC_DIR, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)
