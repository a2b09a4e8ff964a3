"""The collector's core, below the HTTP routes: authenticate a key, rate-limit it,
resolve each record's tenant, check the key may write it, encode, and hand the
events to Kafka, answering only after Kafka's acks.

Events the metering job would dead-letter whole (a quantity a metric of the
catalog reads that is not a non-negative decimal it can hold) get a 422 naming
the field, so the sender can fix them and their other usage is not lost.

Records that cannot be attributed (a consumer the catalog does not know) are not
dropped silently: each gets a 422 in the response naming the field and value,
is counted in `aforo_ingest_events_rejected_total{reason="unknown_consumer"}`
and is logged (one line a request). Nothing is written for them to Kafka.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aforo.events import EventError, message_key
from ingest.avro import encode
from ingest.catalogs import CatalogHolder
from ingest.errors import Forbidden, IngestError, RateLimited, Unauthorized, Unavailable
from ingest.formats.collector import SOURCE as COLLECTOR
from ingest.keys import ApiKey, Authenticator
from ingest.metrics import Metrics
from ingest.ratelimit import RateLimiter
from ingest.records import FORBIDDEN, UNKNOWN_CONSUMER, Candidate
from ingest.sink import KafkaSink

log = logging.getLogger("ingest")

ACCEPTED = 202


@dataclass
class Outcome:
    status: int
    accepted: int
    rejected: int
    results: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "results": self.results}


def _rejection(c: Candidate, status: int, exc: EventError) -> dict[str, Any]:
    out: dict[str, Any] = {"index": c.index, "status": status,
                           "error": {"field": exc.field, "problem": exc.problem}}
    if c.key is not None:
        out["idempotency_key"] = c.key
    return out


class Ingestor:
    def __init__(self, sink: KafkaSink, catalog: CatalogHolder, auth: Authenticator,
                 limiter: RateLimiter, metrics: Metrics) -> None:
        self.sink = sink
        self.catalog = catalog
        self.auth = auth
        self.limiter = limiter
        self.metrics = metrics

    def authenticate(self, secret: str | None, source: str) -> ApiKey:
        if not secret:
            raise Unauthorized("Authorization", "missing: send `Authorization: Bearer <api key>`")
        key = self.auth.lookup(secret)
        if key is None:
            raise Unauthorized("Authorization", "unknown or revoked API key")
        if not key.may_post(source):
            raise Forbidden("Authorization", f"key {key.id} is scoped to "
                                             f"{', '.join(sorted(key.gateways))}, not {source}")
        return key

    def resolve(self, c: Candidate, source: str, key: ApiKey | None) -> tuple[int, EventError] | None:
        """Fill in the tenant and check the key may write it; (status, why) if not."""
        assert c.event is not None
        if c.credentials:
            tenant = None
            for _, value in c.credentials:
                tenant = self.catalog.tenant_for(value)
                if tenant is not None:
                    break
            if tenant is None:
                c.reason = UNKNOWN_CONSUMER
                name, value = c.credentials[0]
                return 422, EventError(name, f"{value!r:.80} is not a consumer or API key of any "
                                             "tenant in the catalog")
            c.event["tenant_id"] = tenant
        tenant = c.event["tenant_id"]
        if key is not None and not key.may_write(tenant, source):
            c.reason = FORBIDDEN
            return 403, EventError("tenant_id", f"key {key.id} may not write usage of tenant "
                                                f"{tenant!r:.80}")
        return None

    def prepare(self, source: str, key: ApiKey | None, candidates: list[Candidate]
                ) -> tuple[list[tuple[bytes, bytes]], list[dict[str, Any]], Counter[str]]:
        """Encode what can be sent; the results of the rest; rejections by reason."""
        messages: list[tuple[bytes, bytes]] = []
        results: list[dict[str, Any]] = []
        reasons: Counter[str] = Counter()
        for c in candidates:
            refusal = (422, c.error) if c.error is not None else self.resolve(c, source, key)
            if refusal is None:
                assert c.event is not None
                try:
                    self.catalog.check_quantities(c.event)
                    if c.message is not None and not c.credentials:
                        messages.append(c.message)
                    else:  # encode first: it names a field that is not valid Unicode
                        value = encode(c.event)
                        messages.append((message_key(c.event), value))
                except EventError as exc:
                    refusal = (422, exc)
            if refusal is None:
                results.append({"index": c.index, "status": ACCEPTED, "idempotency_key": c.key})
            else:
                results.append(_rejection(c, *refusal))
                reasons[c.reason] += 1
        return messages, results, reasons

    async def ingest(self, source: str, key: ApiKey | None, candidates: list[Candidate],
                     batch: bool) -> Outcome:
        """Send the valid records and wait for Kafka; raise IngestError for the whole request."""
        if key is not None:
            try:
                self.limiter.take(key.id, len(candidates), key.rate_per_s)
            except RateLimited as exc:  # a TooLarge is counted as the other 413s, by the app
                self.count_refused(source, exc, len(candidates))
                raise
        self.metrics.batch_size.observe(len(candidates))
        messages, results, reasons = self.prepare(source, key, candidates)
        try:
            await self.sink.send(messages)
        except Unavailable:
            self.metrics.rejected.labels(source, "kafka_unavailable").inc(len(messages))
            raise
        self.metrics.accepted.labels(source).inc(len(messages))
        for reason, n in reasons.items():
            self.metrics.rejected.labels(source, reason).inc(n)
        rejected = len(results) - len(messages)
        if rejected:
            examples = [r for r in results if r["status"] != ACCEPTED][:3]
            log.warning("refused %d of %d %s records", rejected, len(results), source,
                        extra={"source": source, "key_id": key.id if key else None,
                               "reasons": dict(reasons), "examples": examples})
        # A gateway's request answers 202 once read, whatever its records' own: a gateway
        # sends a refused request again (Kong's queue for up to its max_retry_time, the
        # calls behind it waiting), and no retry fixes a refused record.
        status = self._status(results, len(messages), batch) if source == COLLECTOR else ACCEPTED
        return Outcome(status, len(messages), rejected, results)

    @staticmethod
    def _status(results: list[dict[str, Any]], accepted: int, batch: bool) -> int:
        if not batch and len(results) == 1:
            return int(results[0]["status"])
        if accepted or not results:
            return ACCEPTED
        statuses = {r["status"] for r in results}
        return statuses.pop() if len(statuses) == 1 else 422

    def count_refused(self, source: str, exc: IngestError, events: int = 1) -> None:
        self.metrics.rejected.labels(source, exc.code).inc(events)
