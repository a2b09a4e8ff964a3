"""Running the collector: uvicorn on the app, JSON logs, a graceful stop.

On SIGTERM/SIGINT uvicorn stops accepting, lets in-flight requests finish
(they are waiting for Kafka's acks), then the app's shutdown flushes the producer.

With `workers: N` (N > 1) uvicorn's supervisor runs N processes on the one
listening socket, each with its own app and Kafka producer; one Python process
does not get past one core. The supervisor passes SIGTERM on to every worker,
which stops as above. The workers' metrics are summed through prometheus_client's
multiprocess mode (a temporary folder of the supervisor), so any worker's
/metrics answers for all of them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import uvicorn
from fastapi import FastAPI

from aforo.settings import Settings
from ingest.app import create_app
from ingest.config import IngestConfig
from ingest.logs import log_config
from ingest.metrics import MULTIPROC_DIR

# What the supervisor tells its workers: settings, config and topic, as JSON.
WORKER_SPEC = "AFORO_INGEST_WORKER_SPEC"


def _options(config: IngestConfig, log_level: str) -> dict[str, object]:
    return {
        "host": config.host, "port": config.port, "log_config": log_config(log_level.upper()),
        "log_level": log_level, "access_log": config.access_log, "server_header": False,
        "timeout_graceful_shutdown": int(config.ack_timeout_s + 5), "lifespan": "on",
    }


def build_server(settings: Settings, config: IngestConfig, *, topic: str | None = None,
                 log_level: str = "info") -> uvicorn.Server:
    """One process serving the app (`workers: 1`)."""
    app = create_app(settings, config, topic=topic)
    return uvicorn.Server(uvicorn.Config(app, **_options(config, log_level)))  # type: ignore[arg-type]


def worker_app() -> FastAPI:
    """The app of one worker process, from the supervisor's WORKER_SPEC."""
    spec = json.loads(os.environ[WORKER_SPEC])
    return create_app(Settings.model_validate(spec["settings"]),
                      IngestConfig.model_validate(spec["config"]), topic=spec["topic"])


def serve(settings: Settings, config: IngestConfig, *, topic: str | None = None,
          log_level: str = "info") -> None:
    if config.workers == 1:
        build_server(settings, config, topic=topic, log_level=log_level).run()
        return
    metrics_dir = tempfile.mkdtemp(prefix="aforo-ingest-metrics-")
    os.environ[MULTIPROC_DIR] = metrics_dir
    os.environ[WORKER_SPEC] = json.dumps({"settings": settings.model_dump(mode="json"),
                                          "config": config.model_dump(mode="json"),
                                          "topic": topic})
    try:
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=config.workers,
                    **_options(config, log_level))  # type: ignore[arg-type]
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
