"""The collector's own settings: where it listens, its limits, how it talks to Kafka.

Read from a YAML file (`aforo ingest serve --ingest-config FILE`, or the file
named by AFORO_INGEST_CONFIG); every field has a default, so no file is needed.
Kafka's address and topic come from the project settings (`aforo.settings`).
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aforo.settings import ConfigError, Float, Int, format_validation_error, read_stage_config

MiB = 1024 * 1024


class Limits(BaseModel):
    """What one request and one event may hold. Larger is refused with 413 or 422."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: Int = Field(8 * MiB, ge=1024, description="request body as sent (compressed)")
    max_decoded_bytes: Int = Field(32 * MiB, ge=1024, description="body after gzip decoding")
    max_batch_events: Int = Field(1000, ge=1, description="events in one /v1/events request")
    max_gateway_records: Int = Field(10000, ge=1, description="records in one gateway request")
    max_id_chars: Int = Field(256, ge=8, description="tenant_id, idempotency_key, event_type")
    max_text_chars: Int = Field(2048, ge=16, description="api, route, method, property values")
    max_properties: Int = Field(64, ge=0)
    max_property_key_chars: Int = Field(128, ge=1)
    max_future_s: Int = Field(3600, ge=0, description="how far ahead of now an event time may be")


class RateLimit(BaseModel):
    """A token bucket per API key, counted in events (a batch of 500 costs 500)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    events_per_s: Float = Field(100_000.0, gt=0)
    burst: Int = Field(200_000, ge=1)


class IngestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: Int = Field(8088, ge=0, le=65535)
    workers: Int = Field(1, ge=1, le=64, description="processes serving the port (uvicorn workers)")
    syslog_host: str = "127.0.0.1"
    syslog_port: Int = Field(5140, ge=0, le=65535, description="UDP syslog for nginx; 0 = off")
    limits: Limits = Field(default_factory=Limits)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    ack_timeout_s: Float = Field(5.0, gt=0, description="wait this long for Kafka's acks, then 503")
    retry_after_s: Int = Field(5, ge=1, description="the Retry-After of a 503")
    message_timeout_s: Float = Field(60.0, gt=0, description="librdkafka's delivery timeout")
    # 0: a lone event leaves at once (librdkafka's default 5 ms is added to every
    # single-event request); under load, messages batch anyway while requests are in flight.
    linger_ms: Float = Field(0.0, ge=0, description="producer batching delay (latency vs. batching)")
    # Requests of more than a few events go to a second producer that waits this long
    # for more messages: fewer, larger produce requests (see ingest/sink.py).
    batch_linger_ms: Float = Field(5.0, ge=0, description="batching delay of the batches' producer")
    queue_max_messages: Int = Field(500_000, ge=1000, description="producer queue; full -> 503")
    shutdown_flush_s: Float = Field(15.0, ge=0)
    catalog_reload_s: Float = Field(10.0, ge=0, description="re-read the catalog when it changed; 0 = never")
    access_log: bool = False
    producer: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="extra librdkafka settings (not acks / idempotence)")

    @field_validator("producer")
    @classmethod
    def _durable(cls, value: dict[str, object]) -> dict[str, object]:
        fixed = sorted(set(value) & {"acks", "request.required.acks", "enable.idempotence"})
        if fixed:
            raise ValueError(f"{fixed[0]} cannot be changed: the collector is always "
                             "idempotent with acks=all")
        return value


def load_ingest_config(path: str | os.PathLike[str] | None = None,
                       **overrides: Any) -> IngestConfig:
    """Load the collector's settings; a bad file raises ConfigError naming file, path and value."""
    source, _, raw = read_stage_config(path, "AFORO_INGEST_CONFIG", "ingest")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return IngestConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc
