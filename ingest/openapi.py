"""Request and response shapes for the OpenAPI page at /docs.

The routes parse bodies themselves (numbers must stay exact decimals, gateways
send what they send), so these models only describe; they validate nothing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Event(BaseModel):
    tenant_id: str = Field(examples=["acme"])
    metric: str | None = Field(None, description="the event type; or give `event_type`",
                               examples=["payment"])
    event_type: str | None = None
    value: str | float | None = Field(None, description="a decimal, kept exact (JSON number "
                                                        "text or a string)", examples=["12.50"])
    idempotency_key: str = Field(examples=["pay_01HZX3"])
    timestamp: str | None = Field(None, description="RFC 3339; default: time of receipt",
                                  examples=["2026-11-27T10:00:00Z"])
    properties: dict[str, str | float] | None = Field(None, examples=[{"region": "eu"}])
    api: str | None = None
    route: str | None = None
    method: str | None = None
    status: int | None = None
    latency_ms: int | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None


class CloudEvent(BaseModel):
    specversion: str = Field(examples=["1.0"])
    id: str
    source: str
    type: str = Field(description="the event type (api_call, payment, ...)")
    time: str | None = None
    subject: str | None = None
    tenantid: str | None = Field(None, description="extension attribute: the tenant")
    datacontenttype: str | None = None
    data: dict[str, Any] | None = Field(None, description="value, properties, api, route, ...")


class FieldError(BaseModel):
    field: str
    problem: str


class Result(BaseModel):
    index: int
    status: int = Field(description="202 accepted, 403 not this key's tenant, 422 invalid "
                                    "or unknown consumer")
    idempotency_key: str | None = None
    error: FieldError | None = None


class IngestReply(BaseModel):
    accepted: int
    rejected: int
    results: list[Result]


class ErrorDetail(FieldError):
    code: str
    retryable: bool


class ErrorReply(BaseModel):
    error: ErrorDetail


class FirehoseReply(BaseModel):
    requestId: str
    timestamp: int
    errorMessage: str | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text} for code, text in {
        400: "malformed body", 401: "no or unknown key", 403: "key not allowed here",
        413: "body, batch or decoded size over a limit, or more events than the key's burst",
        415: "unsupported content type",
        429: "rate limited (Retry-After)", 503: "Kafka unavailable (Retry-After); send again",
    }.items()
}


def body(*schemas: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """openapi_extra for a request body of the given (media type, JSON schema)s."""
    return {"requestBody": {"required": True, "content": {
        media: {"schema": schema} for media, schema in schemas}}}


def one_or_many(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    return {"oneOf": [schema, {"type": "array", "items": schema}]}


GATEWAY_RECORD: dict[str, Any] = {
    "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}],
    "description": "the gateway's own log JSON (see docs/ingestion.md); NDJSON also read",
}
