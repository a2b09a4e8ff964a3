"""The HTTP routes: thin wrappers that read a body, pick the format parser and let
the Ingestor do the rest. Built by `create_app`, served by uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from aforo.settings import Settings
from ingest import openapi
from ingest.body import Budget, json_values, parse_json, read_body
from ingest.catalogs import CatalogHolder
from ingest.config import IngestConfig
from ingest.errors import IngestError, UnsupportedMediaType
from ingest.formats import apigee, aws, azure, collector, kong, nginx, typed
from ingest.keys import Authenticator, KeyStore
from ingest.metrics import CONTENT_TYPE_LATEST, Metrics
from ingest.ratelimit import RateLimiter
from ingest.records import Candidate, Context, flatten
from ingest.service import Ingestor, Outcome
from ingest.sink import KafkaSink
from ingest.syslog import SyslogListener

log = logging.getLogger("ingest")

Parser = Callable[[bytes, Context, Budget], tuple[list[Candidate], bool]]
Endpoint = Callable[[Request], Awaitable[Response]]

JSON = "application/json"
CE = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"


def _media_type(request: Request) -> str:
    return (request.headers.get("content-type") or JSON).split(";")[0].strip().lower()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class Json(JSONResponse):
    """A JSON reply rendered by msgspec (a batch's 1000 results in a fraction of json's time)."""

    def render(self, content: Any) -> bytes:
        try:
            return _json_encode(content)
        except UnicodeEncodeError:  # a lone surrogate a sender wrote ("\ud800" is valid JSON),
            return json.dumps(content, separators=(",", ":")).encode()  # echoed as its escape


_json_encode = msgspec.json.Encoder().encode


def _error(exc: IngestError) -> Json:
    headers = {}
    if exc.retry_after_s is not None:
        headers["Retry-After"] = str(exc.retry_after_s)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="aforo"'
    return Json(exc.body(), exc.status, headers=headers)


def _gateway(module: Any) -> Parser:
    def parse(data: bytes, ctx: Context, budget: Budget) -> tuple[list[Candidate], bool]:
        if module is nginx:
            data = nginx.utf8(data)
        records = flatten(json_values(data), ctx.limits.max_gateway_records)
        return module.parse(records, ctx), True
    return parse


def _events(media: str) -> Parser:
    def parse(data: bytes, ctx: Context, budget: Budget) -> tuple[list[Candidate], bool]:
        if media == CE:
            return collector.cloudevents(parse_json(data), ctx, batch=False)
        if media == CE_BATCH:
            return collector.cloudevents(parse_json(data), ctx, batch=True)
        return typed.events(data, ctx)
    return parse


def create_app(settings: Settings, config: IngestConfig, *, topic: str | None = None,
               keystore: KeyStore | None = None) -> FastAPI:
    """The collector for `settings`' Kafka and catalog (`topic` overrides the usage topic)."""
    topic = topic or settings.kafka.topic("usage_events").name
    # The gauges read the sink, defined next (the lambdas look it up when scraped).
    metrics = Metrics(lambda: sink.queue_depth(), lambda: 1.0 if sink.up else 0.0)
    sink = KafkaSink(settings.kafka.bootstrap, topic, ack_timeout_s=config.ack_timeout_s,
                     retry_after_s=config.retry_after_s,
                     message_timeout_s=config.message_timeout_s, linger_ms=config.linger_ms,
                     batch_linger_ms=config.batch_linger_ms,
                     queue_max_messages=config.queue_max_messages, overrides=config.producer,
                     on_ack=metrics.on_ack)
    catalog = CatalogHolder(settings.catalog_dir, config.catalog_reload_s,
                            on_reload=lambda result: metrics.catalog_reloads.labels(result).inc())
    ingestor = Ingestor(sink, catalog, Authenticator(keystore or KeyStore.under(settings.home)),
                        RateLimiter(config.rate_limit.events_per_s, config.rate_limit.burst),
                        metrics)
    limits = config.limits
    syslog = SyslogListener(ingestor, limits) if config.syslog_port else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(sink.start)
        sink.poll_on(asyncio.get_running_loop())
        if syslog is not None:
            await syslog.start(config.syslog_host, config.syslog_port,
                               shared=config.workers > 1)
        reloader = asyncio.create_task(_reload_catalog(catalog, config.catalog_reload_s))
        gauges = asyncio.create_task(_every(1.0, metrics.refresh))
        log.info("collector started", extra={"topic": topic, "bootstrap": sink.bootstrap,
                                             "kafka_up": sink.up})
        try:
            yield
        finally:
            reloader.cancel()
            gauges.cancel()
            metrics.close()
            if syslog is not None:
                syslog.close()
            left = await asyncio.to_thread(sink.close, config.shutdown_flush_s)
            log.info("collector stopped", extra={"undelivered": left})

    app = FastAPI(title="Aforo ingestion API", version="1", lifespan=lifespan,
                  description="Usage events and gateway logs into Kafka, acknowledged only "
                              "once Kafka has them. See docs/ingestion.md.")
    app.state.ingestor = ingestor
    app.state.syslog = syslog

    async def process(request: Request, source: str, endpoint: str, parse: Parser,
                      secret: str | None = None) -> Outcome | IngestError:
        try:
            key = ingestor.authenticate(secret if secret is not None else _bearer(request), source)
            budget = Budget(limits.max_decoded_bytes)
            data = await read_body(request.stream(), request.headers.get("content-length"),
                                   request.headers.get("content-encoding"),
                                   limits.max_body_bytes, budget)
            ctx = Context(limits, int(time.time() * 1000))
            candidates, batch = parse(data, ctx, budget)
            outcome = await ingestor.ingest(source, key, candidates, batch)
        except IngestError as exc:
            if exc.status not in (429, 503):
                ingestor.count_refused(source, exc)
            metrics.requests.labels(endpoint, str(exc.status)).inc()
            return exc
        metrics.requests.labels(endpoint, str(outcome.status)).inc()
        return outcome

    async def handle(request: Request, source: str, endpoint: str, parse: Parser) -> Response:
        result = await process(request, source, endpoint, parse)
        if isinstance(result, IngestError):
            return _error(result)
        return Json(result.body(), result.status)

    replies: dict[int | str, dict[str, Any]] = {
        202: {"model": openapi.IngestReply, "description": "accepted (per-event results)"},
        422: {"model": openapi.IngestReply, "description": "no event accepted"},
        **openapi.ERRORS,
    }

    direct: dict[str, Endpoint] = {}

    def post(path: str, **route: Any) -> Callable[[Endpoint], Endpoint]:
        """Declare a POST route on FastAPI (its OpenAPI entry) and serve it directly."""
        def register(endpoint: Endpoint) -> Endpoint:
            app.add_api_route(path, endpoint, methods=["POST"], **route)
            direct[path] = endpoint
            return endpoint
        return register

    @post("/v1/events", status_code=202, responses=replies, tags=["events"],
          openapi_extra=openapi.body(
              (JSON, openapi.one_or_many(openapi.Event)),
              (CE, openapi.CloudEvent.model_json_schema()),
              (CE_BATCH, {"type": "array", "items": openapi.CloudEvent.model_json_schema()})))
    async def post_events(request: Request) -> Response:
        """One event or a batch (a JSON array); CloudEvents structured or batch."""
        media = _media_type(request)
        if media not in (JSON, CE, CE_BATCH):
            return _error(UnsupportedMediaType("Content-Type", f"{media!r}: send {JSON}, {CE} "
                                                               f"or {CE_BATCH}"))
        return await handle(request, collector.SOURCE, "events", _events(media))

    gateway_replies = {code: reply for code, reply in replies.items() if code != 422}
    gateway_body = openapi.body((JSON, openapi.GATEWAY_RECORD))
    for path, module, doc in (
        ("/v1/gateways/kong", kong, "Kong http-log plugin (one object or an array)."),
        ("/v1/gateways/azure-apim", azure, "Azure APIM send-one-way-request JSON."),
        ("/v1/gateways/apigee", apigee, "Apigee JavaScript / MessageLogging JSON."),
        ("/v1/gateways/nginx", nginx, "nginx `escape=json` access-log lines (NDJSON)."),
    ):
        post(path, status_code=202, responses=gateway_replies, tags=["gateways"],
             openapi_extra=gateway_body, summary=doc,
             name=f"gateway_{module.SOURCE}")(_gateway_route(handle, module))

    @post("/v1/gateways/aws/cloudwatch", status_code=202, responses=gateway_replies,
          tags=["gateways"], openapi_extra=openapi.body((JSON, {"type": "object"})))
    async def aws_cloudwatch(request: Request) -> Response:
        """A CloudWatch Logs subscription event (`{"awslogs": {"data": ...}}`) of API
        Gateway JSON access logs, as a forwarding Lambda receives it."""

        def parse(data: bytes, ctx: Context, budget: Budget) -> tuple[list[Candidate], bool]:
            return aws.cloudwatch(parse_json(data), ctx, budget), True
        return await handle(request, aws.SOURCE, "aws-cloudwatch", parse)

    @post("/v1/gateways/aws/firehose", responses={200: {"model": openapi.FirehoseReply}},
          tags=["gateways"], openapi_extra=openapi.body((JSON, {"type": "object"})))
    async def aws_firehose(request: Request) -> Response:
        """Kinesis Firehose HTTP endpoint delivery of API Gateway access logs. The key is
        the `X-Amz-Firehose-Access-Key` header; the reply is Firehose's contract: 200
        with requestId and timestamp once Kafka has the records (records refused for
        good, such as unknown consumers, are counted, not retried), else the error's
        status with `errorMessage` (Firehose retries all but 413)."""
        request_id = request.headers.get("x-amz-firehose-request-id", "")

        def parse(data: bytes, ctx: Context, budget: Budget) -> tuple[list[Candidate], bool]:
            nonlocal request_id
            request_id, candidates = aws.firehose(parse_json(data), ctx, budget)
            return candidates, True
        secret = request.headers.get("x-amz-firehose-access-key") or _bearer(request) or ""
        result = await process(request, aws.SOURCE, "aws-firehose", parse, secret=secret)
        body: dict[str, Any] = {"requestId": request_id, "timestamp": int(time.time() * 1000)}
        if not isinstance(result, IngestError):
            return Json(body, 200)
        body["errorMessage"] = str(result)
        headers = {"Retry-After": str(result.retry_after_s)} if result.retry_after_s else {}
        return Json(body, result.status, headers=headers)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is serving."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "Kafka unreachable"}})
    async def readyz() -> Response:
        """Ready when Kafka answers (checked every 5 s, every second while down)."""
        body = {"kafka": "ok" if sink.up else sink.reason, "topic": topic,
                "queue_depth": sink.queue_depth()}
        return JSONResponse(body, 200 if sink.up else 503)

    @app.get("/metrics", tags=["operations"])
    async def prometheus() -> Response:
        """Prometheus text format."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(DirectRoutes, routes=direct)
    return app


class DirectRoutes:
    """Serves the POST endpoints straight from ASGI, before FastAPI's router.

    The endpoints stay declared on FastAPI, which documents them (/docs,
    /openapi.json) and answers other methods on their paths; only the POSTs skip
    FastAPI's per-request machinery (routing, dependency solving), which costs
    about 120 us a request on a 2-core VM: as much as all the work of a
    single-event request. The endpoints take a plain Starlette Request either way.
    """

    def __init__(self, app: ASGIApp, routes: dict[str, Endpoint]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.routes.get(scope["path"])
            if endpoint is not None:
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _gateway_route(handle: Any, module: Any) -> Callable[[Request], Any]:
    parse = _gateway(module)

    async def route(request: Request) -> Response:
        response: Response = await handle(request, module.SOURCE, module.SOURCE, parse)
        return response
    route.__doc__ = module.__doc__
    return route


async def _every(seconds: float, call: Callable[[], None]) -> None:
    while True:
        call()
        await asyncio.sleep(seconds)


async def _reload_catalog(catalog: CatalogHolder, every_s: float) -> None:
    if every_s <= 0:
        return
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(catalog.maybe_reload)
