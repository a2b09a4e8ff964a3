"""Reading request bodies within limits: size on the wire, gzip with bounded
decompression (a 10 KB gzip bomb stops at the limit, it is never inflated to
gigabytes), and JSON whose numbers keep their exact decimal text."""

from __future__ import annotations

import binascii
import json
import zlib
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

from ingest.errors import Malformed, TooLarge, UnsupportedMediaType

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 64 * 1024


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent past Decimal's range (1e9999999999999999999)
        raise ValueError(f"the number {text:.60} is out of range") from None


def parse_json(data: bytes | str, field: str = "body") -> Any:
    """JSON with every non-integer number as a Decimal made from its text; NaN and
    Infinity refused. Raises Malformed naming the line and column."""
    try:
        text = data.decode() if isinstance(data, bytes) else data  # JSON is UTF-8 (RFC 8259)
        return json.loads(text, parse_float=_decimal, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise Malformed(field, f"not valid JSON: {exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}") from None
    except UnicodeDecodeError as exc:
        raise Malformed(field, f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    except (ValueError, RecursionError) as exc:
        raise Malformed(field, f"not usable JSON: {exc}") from None


def json_values(data: bytes, field: str = "body") -> list[tuple[int, Any]]:
    """The JSON value of the body, or one value a line when the body is
    newline-delimited JSON. Returns (line number, value); line 0 means the whole body.
    A bad line in NDJSON is returned as a Malformed value, so the other lines
    still count."""
    try:
        return [(0, parse_json(data, field))]
    except Malformed as whole:
        if data.count(b"\n") < 1 or "Extra data" not in whole.problem:
            raise
    values: list[tuple[int, Any]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            try:
                values.append((number, parse_json(line, f"line {number}")))
            except Malformed as exc:
                values.append((number, exc))
    return values


class Budget:
    """Bytes that decoding may still produce for one request (shared by every
    nested gzip member of a Firehose request)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, n: int, field: str) -> None:
        self.left -= n
        if self.left < 0:
            raise TooLarge(field, f"decodes to more than {self.limit} bytes")


def gunzip(data: bytes, budget: Budget, field: str) -> bytes:
    """Inflate gzip (or zlib) data without ever holding more than the budget. Gzip
    members one after the other (`cat a.gz b.gz`) are one stream, as for gzip -d;
    any other bytes after the end are refused, never dropped."""
    parts = []
    try:
        while True:
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, auto-detected
            chunk = inflater.decompress(data, budget.left + 1)
            while True:
                budget.take(len(chunk), field)
                parts.append(chunk)
                if inflater.eof or not inflater.unconsumed_tail:
                    break
                chunk = inflater.decompress(inflater.unconsumed_tail, budget.left + 1)
            if not inflater.eof:
                raise Malformed(field, "gzip data is truncated")
            data = inflater.unused_data
            if not data:
                break
            if not is_gzip(data):
                raise Malformed(field, f"{len(data)} bytes after the end of the gzip data")
    except zlib.error as exc:
        raise Malformed(field, f"not valid gzip data: {exc}") from None
    return b"".join(parts)


def is_gzip(data: bytes) -> bool:
    return data[:2] == _GZIP_MAGIC


def b64decode(text: Any, field: str, max_bytes: int) -> bytes:
    if not isinstance(text, str):
        raise Malformed(field, f"must be a base64 string, got {type(text).__name__}")
    if len(text) > max_bytes * 4 // 3 + 4:
        raise TooLarge(field, f"base64 data longer than {max_bytes} bytes decoded")
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Malformed(field, f"not valid base64: {exc}") from None


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None,
                    content_encoding: str | None, max_body_bytes: int, budget: Budget) -> bytes:
    """The request body, decoded. 413 as soon as the sent or decoded size passes its limit."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise Malformed("Content-Length", f"not a number: {content_length!r}") from None
        if declared > max_body_bytes:
            raise TooLarge("body", f"{declared} bytes, at most {max_body_bytes} allowed")
    parts = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_body_bytes:
            raise TooLarge("body", f"more than {max_body_bytes} bytes, at most that allowed")
        parts.append(chunk)
    data = b"".join(parts)
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return gunzip(data, budget, "body")
    if encoding != "identity":
        raise UnsupportedMediaType("Content-Encoding", f"{encoding!r} is not supported "
                                                       "(gzip, deflate or none)")
    budget.take(len(data), "body")
    return data
