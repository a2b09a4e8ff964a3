"""Aforo ingestion: the HTTP collector for usage events and gateway logs.

    create_app(settings, config)    the FastAPI app (ingest.app)
    serve(settings, config)         run it under uvicorn (ingest.server)
    load_ingest_config(path)        the collector's settings (ingest.config)
    AforoClient(base_url, api_key)  a batching, retrying client (ingest.client)

Formats live in ingest.formats (one module a gateway), Kafka in ingest.sink,
keys in ingest.keys. See docs/ingestion.md.
"""

from __future__ import annotations

import importlib

from ingest.client import AforoClient, AforoError, AforoUnavailable

# The server side (fastapi, pydantic, confluent-kafka) loads only when asked for,
# so `from ingest import AforoClient` needs the standard library alone.
_LAZY = {
    "create_app": "ingest.app", "serve": "ingest.server", "IngestConfig": "ingest.config",
    "Limits": "ingest.config", "RateLimit": "ingest.config", "load_ingest_config": "ingest.config",
}

__all__ = [
    "AforoClient", "AforoError", "AforoUnavailable", "IngestConfig", "Limits", "RateLimit",
    "create_app", "load_ingest_config", "serve",
]


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(name)
    return getattr(importlib.import_module(_LAZY[name]), name)
