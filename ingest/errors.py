"""The collector's errors. Each says what failed, which HTTP status it is, and
whether sending the same request again can help (`retryable`)."""

from __future__ import annotations

from aforo.events import EventError

__all__ = [
    "EventError", "Forbidden", "IngestError", "Malformed", "RateLimited", "TooLarge",
    "Unauthorized", "Unavailable", "UnsupportedMediaType",
]


class IngestError(Exception):
    """A whole request refused. `field` names the part of the request at fault."""

    status = 400
    code = "bad_request"
    retryable = False

    def __init__(self, field: str, problem: str, *, retry_after_s: int | None = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
        self.retry_after_s = retry_after_s

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "field": self.field, "problem": self.problem,
                          "retryable": self.retryable}}


class Malformed(IngestError):
    """The body is not what the endpoint reads (not JSON, wrong shape, bad gzip)."""


class Unauthorized(IngestError):
    status = 401
    code = "unauthorized"


class Forbidden(IngestError):
    status = 403
    code = "forbidden"


class TooLarge(IngestError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(IngestError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(IngestError):
    status = 429
    code = "rate_limited"
    retryable = True


class Unavailable(IngestError):
    """Kafka did not take the events (down, slow or the producer queue is full).
    Nothing of the request is acknowledged; send it again with the same keys."""

    status = 503
    code = "unavailable"
    retryable = True
