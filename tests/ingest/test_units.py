"""Rate limiter, body decoding and config loading, without a server."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import pytest

from aforo.settings import ConfigError
from ingest.body import Budget, gunzip, json_values, read_body
from ingest.config import load_ingest_config
from ingest.errors import Malformed, RateLimited, TooLarge
from ingest.ratelimit import RateLimiter


def test_token_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(events_per_s=100, burst=200, clock=lambda: now[0])
    limiter.take("k", 200)
    with pytest.raises(RateLimited) as caught:
        limiter.take("k", 50)
    assert caught.value.retry_after_s == 1
    now[0] = 0.5  # 50 tokens back
    limiter.take("k", 50)
    with pytest.raises(TooLarge, match="201 events exceed this key's burst of 200"):
        limiter.take("k", 201)  # could never be let through: 413, not a retry
    limiter.take("other", 200)


def test_a_per_key_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(events_per_s=1000, burst=2000, clock=lambda: now[0])
    limiter.take("slow", 20, rate_per_s=10)
    with pytest.raises(RateLimited) as caught:
        limiter.take("slow", 20, rate_per_s=10)
    assert caught.value.retry_after_s == 2
    with pytest.raises(TooLarge, match="exceed this key's burst of 20; send at most 20"):
        limiter.take("slow", 21, rate_per_s=10)  # the burst is twice the key's rate


def test_gunzip_is_bounded() -> None:
    data = gzip.compress(b"x" * 10_000)
    assert gunzip(data, Budget(10_000), "b") == b"x" * 10_000
    with pytest.raises(TooLarge):
        gunzip(data, Budget(9_999), "b")
    with pytest.raises(Malformed, match="truncated"):
        gunzip(data[:20], Budget(10_000), "b")


def test_read_body_refuses_a_declared_length_early() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        raise AssertionError("must not read")
        yield b""

    with pytest.raises(TooLarge, match="2000 bytes, at most 1000"):
        asyncio.run(read_body(chunks(), "2000", None, 1000, Budget(10_000)))


def test_ndjson_and_json() -> None:
    assert json_values(b'{"a": 1.10}') == [(0, {"a": __import__("decimal").Decimal("1.10")})]
    values = json_values(b'{"a": 1}\n\n{"b": 2}\n[{"c": 3}]\n')
    assert [v for _, v in values] == [{"a": 1}, {"b": 2}, [{"c": 3}]]
    assert [n for n, _ in values] == [1, 3, 4]


def test_config_file_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "ingest.yaml"
    path.write_text("limits:\n  max_batch_events: 0\n")
    with pytest.raises(ConfigError, match=r"limits.max_batch_events: Input should be greater"):
        load_ingest_config(path)
    path.write_text("limits:\n  max_batch_events: 50\nport: 9999\n")
    config = load_ingest_config(path, port=8000)
    assert config.limits.max_batch_events == 50 and config.port == 8000
    with pytest.raises(ConfigError, match="does not exist"):
        load_ingest_config(tmp_path / "nope.yaml")
    path.write_text("limits:\n  max_batch_events: true\n")  # YAML's true is not the number 1
    with pytest.raises(ConfigError, match=r"limits.max_batch_events: Input should be a valid integer \(got True\)"):
        load_ingest_config(path)
