"""A small client for the ingestion API, for customers' own code (standard library only).

    from ingest.client import AforoClient

    with AforoClient("https://usage.example.com", "afk_...") as aforo:
        aforo.track("acme", "payment", value=Decimal("12.50"), idempotency_key="pay_123")
    # leaving the block flushes

Events are buffered and sent in batches. Every event gets its idempotency key
when it is tracked (yours, or a random one), and a batch that has to be sent
again (connection lost, 429, 503, 5xx) is sent with the same keys, so the
metering job counts it once. A batch the collector finds too large (413: over
the key's burst, the batch count or the body size) is sent again as two halves,
split further as need be. Events the API refuses for good (422 or 403 for
that event) are returned by `flush()`; they are never retried.
"""

from __future__ import annotations

import gzip
import http.client
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Self
from urllib.parse import urlsplit

RETRYABLE = frozenset({429, 500, 502, 503, 504})


class AforoError(Exception):
    """The API refused a whole request and sending it again will not help (400, 401, 403,
    413 for a single event)."""

    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        super().__init__(f"HTTP {status}: {error.get('field', '')}: {error.get('problem', body)}")
        self.status = status
        self.body = body


class AforoUnavailable(AforoError):
    """Still failing after every retry; the events were not acknowledged (send them later)."""


@dataclass
class FlushResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    return value


class AforoClient:
    def __init__(self, base_url: str, api_key: str, *, batch_size: int = 500,
                 max_retries: int = 8, backoff_s: float = 0.25, max_backoff_s: float = 30.0,
                 timeout_s: float = 30.0, compress: bool = True) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.api_key = api_key
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.compress = compress
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # One flush at a time: two would send the same first batch, and each then delete
        # a batch from the buffer, the second one unsent (and share one connection).
        self._flushing = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self.sleep = time.sleep

    # -- buffering ---------------------------------------------------------------

    def track(self, tenant_id: str, metric: str, value: Decimal | int | str | None = None, *,
              idempotency_key: str | None = None, timestamp: datetime | None = None,
              properties: Mapping[str, str | int | Decimal] | None = None,
              **fields: Any) -> str:
        """Buffer one event; return its idempotency key. Flushes when a batch is full."""
        event: dict[str, Any] = {"tenant_id": tenant_id, "metric": metric,
                                 "idempotency_key": idempotency_key or uuid.uuid4().hex}
        if value is not None:
            event["value"] = _json_value(value)
        if timestamp is not None:
            event["timestamp"] = _json_value(timestamp)
        if properties:
            event["properties"] = _json_value(properties)
        event.update({k: v for k, v in fields.items() if v is not None})
        with self._lock:
            self._buffer.append(event)
            full = len(self._buffer) >= self.batch_size
        if full:
            self.flush()
        return str(event["idempotency_key"])

    def flush(self) -> FlushResult:
        """Send everything buffered; raise AforoUnavailable (events kept) if Kafka stays away."""
        result = FlushResult()
        with self._flushing:
            while True:
                with self._lock:
                    batch = self._buffer[: self.batch_size]
                if not batch:
                    return result
                sent = self.send(batch)
                with self._lock:
                    del self._buffer[: len(batch)]
                result.accepted += sent.accepted
                result.rejected += sent.rejected

    @property
    def pending(self) -> int:
        return len(self._buffer)

    # -- sending -----------------------------------------------------------------

    def send(self, events: list[dict[str, Any]]) -> FlushResult:
        """POST one batch, retrying retryable failures with the same body (same keys)."""
        body = json.dumps(events, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"}
        if self.compress and len(body) > 1024:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            try:
                status, reply_headers, reply = self._post("/v1/events", body, headers)
            except (OSError, http.client.HTTPException) as exc:
                self.disconnect()
                status, reply_headers, reply = 0, {}, {"error": {"problem": str(exc)}}
            if status == 202 or (status in (403, 422) and "results" in reply):
                return FlushResult(
                    accepted=int(reply.get("accepted", 0)),
                    rejected=[{**r, "event": events[r["index"]]} for r in reply["results"]
                              if r["status"] != 202])
            if status == 413 and len(events) > 1:
                return self._halves(events)
            if status and status not in RETRYABLE:
                raise AforoError(status, reply)
            attempt += 1
            if attempt > self.max_retries:
                raise AforoUnavailable(status, reply)
            self.sleep(self._delay(attempt, reply_headers.get("retry-after")))

    def _halves(self, events: list[dict[str, Any]]) -> FlushResult:
        """Send a batch too large for the collector as two (the same keys: a half sent before
        a failure is counted once when the batch is sent again)."""
        half = len(events) // 2
        first, second = self.send(events[:half]), self.send(events[half:])
        return FlushResult(first.accepted + second.accepted,
                           first.rejected + [{**r, "index": r["index"] + half} for r in second.rejected])

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        backoff = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        backoff *= 0.5 + random.random() / 2  # jitter
        if retry_after and retry_after.isdigit():
            return max(float(retry_after), backoff)
        return backoff

    def _post(self, path: str, body: bytes, headers: dict[str, str]
              ) -> tuple[int, dict[str, str], Any]:
        if self._conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._conn = cls(self._host, self._port, timeout=self.timeout_s)
        self._conn.request("POST", self._prefix + path, body=body, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        reply_headers = {k.lower(): v for k, v in response.getheaders()}
        if response.getheader("connection", "").lower() == "close":
            self.disconnect()
        try:
            parsed = json.loads(data) if data else {}
        except ValueError:
            parsed = {"error": {"problem": data[:200].decode(errors="replace")}}
        return response.status, reply_headers, parsed

    def disconnect(self) -> None:
        """Close the connection (the buffer stays; the next send reconnects)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.disconnect()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The UsageEvent fields /v1/events takes as they are (event_type, event_time and
# source are mapped or set by the collector).
_FORWARDED = ("tenant_id", "event_type", "idempotency_key", "value", "properties", "api", "route",
              "method", "status", "latency_ms", "request_bytes", "response_bytes")


class CollectorForwarder:
    """Posts usage-event messages (Avro, as the generator makes them) to the collector's
    /v1/events as JSON batches: `aforo generate --collector` sends its traffic the way a
    customer's code would. Bytes that are not an event have no JSON form: counted as
    `undecodable`, never sent. Events the collector refuses are counted by problem."""

    def __init__(self, client: AforoClient, batch_size: int = 500) -> None:
        from aforo.events import EventError, decode  # the project's side, not a customer's

        self._decode, self._undecodable = decode, EventError
        self.client = client
        self.batch_size = batch_size
        self.accepted = 0
        self.rejected: dict[str, int] = {}
        self.undecodable = 0
        self._batch: list[dict[str, Any]] = []

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        try:
            event = self._decode(value)
        except self._undecodable:
            self.undecodable += 1
            return
        body = {name: _json_value(event[name]) for name in _FORWARDED if event.get(name) not in (None, {})}
        body["timestamp"] = _json_value(event["event_time"])
        self._batch.append(body)
        if len(self._batch) >= self.batch_size:
            self._post()

    def flush(self) -> None:
        if self._batch:
            self._post()

    def _post(self) -> None:
        result = self.client.send(self._batch)
        self._batch = []
        self.accepted += result.accepted
        for refused in result.rejected:
            problem = refused.get("error", {}).get("field", "") or str(refused.get("status"))
            self.rejected[problem] = self.rejected.get(problem, 0) + 1

    def counts(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": dict(sorted(self.rejected.items())),
                "undecodable": self.undecodable}


def wait_listening(port: int, process: Any, timeout_s: float = 60.0) -> bool:
    """Wait until a collector started as `process` (a Popen) accepts connections on
    127.0.0.1:`port`; False if it exited or the time ran out first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.2)
