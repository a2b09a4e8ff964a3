"""Running the collector: uvicorn on the app, JSON logs, a graceful stop.

On SIGTERM/SIGINT uvicorn stops accepting, lets in-flight requests finish
(they are waiting for Kafka's acks), then the app's shutdown flushes the producer.
"""

from __future__ import annotations

import uvicorn

from aforo.settings import Settings
from ingest.app import create_app
from ingest.config import IngestConfig
from ingest.logs import log_config


def build_server(settings: Settings, config: IngestConfig, *, topic: str | None = None,
                 log_level: str = "info") -> uvicorn.Server:
    app = create_app(settings, config, topic=topic)
    uv_config = uvicorn.Config(
        app, host=config.host, port=config.port, log_config=log_config(log_level.upper()),
        log_level=log_level, access_log=config.access_log, server_header=False,
        timeout_graceful_shutdown=int(config.ack_timeout_s + 5), lifespan="on",
    )
    return uvicorn.Server(uv_config)


def serve(settings: Settings, config: IngestConfig, *, topic: str | None = None,
          log_level: str = "info") -> None:
    build_server(settings, config, topic=topic, log_level=log_level).run()
