"""A fast Avro encoder for the UsageEvent schema, generated from the schema file.

`aforo.events.encode` (fastavro) costs about 15 us an event. This module writes
the same bytes in a few: like `dataclasses` and `namedtuple`, it generates the
source of one straight-line function from the schema (one block a field) and
compiles it once. Only the types the schema uses are generated (string,
int/long and timestamp-millis, unions of null and one of those, a map of
strings); any other type makes `compile_encoder` fall back to fastavro, so a
schema change can never produce wrong bytes. A value of the wrong type raises
EventError naming the field; tests compare the bytes with fastavro's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aforo import events

Encoder = Callable[[Mapping[str, Any]], bytes]

_SMALL = 1 << 13
_LIMITS = {"int": (-(1 << 31), (1 << 31) - 1), "long": (-(1 << 63), (1 << 63) - 1)}


def _unsigned(z: int) -> bytes:
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Varints 14 bits at a time: the whole varint of z < 2**14, and two bytes of 14
# bits with more to follow. A timestamp (42 bits) is then three look-ups.
_LAST = tuple(_unsigned(z) for z in range(1 << 14))
_MORE = tuple(bytes(((z & 0x7F) | 0x80, (z >> 7) | 0x80)) for z in range(1 << 14))
_SMALL_LONGS = tuple(_LAST[(n << 1) ^ (n >> 63)] for n in range(-_SMALL, _SMALL))
# The varints of the bits above the lowest 14 seen lately: a timestamp's change every 16 s.
_HIGH: dict[int, bytes] = {}


def long_bytes(n: int) -> bytes:
    """Avro's zig-zag varint of a long."""
    if -_SMALL <= n < _SMALL:
        return _SMALL_LONGS[n + _SMALL]
    z = (n << 1) ^ (n >> 63)  # at least 2**14 here
    high = _HIGH.get(z >> 14)
    if high is None:
        high = _unsigned(z >> 14)
        if len(_HIGH) >= _CACHE_MAX:
            _HIGH.clear()
        _HIGH[z >> 14] = high
    return _MORE[z & 0x3FFF] + high


def _mismatch(field: str, expected: str, value: Any) -> events.EventError:
    return events.EventError(field, f"must be {expected}, got {type(value).__name__} {value!r:.60}")


def text_bytes(field: str, value: str) -> bytes:
    """Avro's string: the UTF-8 length, then the bytes."""
    try:
        b = value.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800" is valid JSON)
        raise events.EventError(field, f"is not valid Unicode text: {exc.reason} at "
                                       f"character {exc.start}") from None
    n = len(b)
    return (_SMALL_LONGS[n + _SMALL] if n < _SMALL else long_bytes(n)) + b


# Strings seen before, encoded (with a union's branch index in front where there is
# one): most fields of a batch repeat (tenant, event type, api, route, method,
# property names and values). Each cache is bounded and keeps only short strings.
_CACHE_MAX = 4096
_CACHE_CHARS = 128


def _cached(cache: dict[str, bytes], prefix: bytes, field: str, value: str) -> bytes:
    """The encoding of `value` with `prefix`, remembered (for the cache's next `get`)."""
    encoded = prefix + text_bytes(field, value)
    if len(value) <= _CACHE_CHARS:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[value] = encoded
    return encoded


_MAP_TEXT: dict[str, bytes] = {}  # keys and values of string maps


def _string_map(field: str, value: Any) -> bytes:
    if not isinstance(value, Mapping):
        raise _mismatch(field, "a map of strings", value)
    if not value:
        return b"\x00"
    out = [long_bytes(len(value))]
    get = _MAP_TEXT.get
    for k, v in value.items():
        if type(k) is not str or type(v) is not str:
            raise events.EventError(f"{field}.{k}", "keys and values must be strings")
        out += (get(k) or _cached(_MAP_TEXT, b"", f"{field}.{k}", k),
                get(v) or _cached(_MAP_TEXT, b"", f"{field}.{k}", v))
    out.append(b"\x00")
    return b"".join(out)


class _Generator:
    """The source of one encoder function: each field's bytes into a local, one join."""

    def __init__(self, uncached: frozenset[str]) -> None:
        self.uncached = uncached
        self.namespace: dict[str, Any] = {}
        self.parts: list[str] = []
        self.tables: dict[bytes, str] = {}  # small longs after a prefix, by prefix

    def constant(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def value(self, name: str, avro_type: Any, prefix: bytes, indent: str) -> list[str] | None:
        """Lines that set local `p` to the bytes of local `v` (not None), after `prefix`."""
        if isinstance(avro_type, dict):
            if avro_type.get("type") == "map" and avro_type.get("values") == "string":
                head = f"{prefix!r} + " if prefix else ""
                return [f"{indent}p = {head}_string_map({name!r}, v)"]
            if avro_type.get("type") in _LIMITS:
                return self.value(name, avro_type["type"], prefix, indent)
            return None
        if avro_type == "string":
            check = f"{indent}if type(v) is not str: raise _mismatch({name!r}, 'a string', v)"
            if name in self.uncached:
                head = f"{prefix!r} + " if prefix else ""
                return [check, f"{indent}p = {head}text_bytes({name!r}, v)"]
            cache = self.constant({})
            return [check, (f"{indent}p = {cache}.get(v) or _cached({cache}, {prefix!r}, "
                            f"{name!r}, v)")]
        if avro_type in _LIMITS:
            lo, hi = _LIMITS[avro_type]
            small = self.tables.get(prefix)
            if small is None:
                small = self.tables[prefix] = self.constant(tuple(prefix + b for b in _SMALL_LONGS))
            return [(f"{indent}if type(v) is not int or not {lo} <= v <= {hi}: "
                     f"raise _mismatch({name!r}, 'an {avro_type}', v)"),
                    (f"{indent}p = {small}[v + {_SMALL}] if {-_SMALL} <= v < {_SMALL} "
                     f"else {prefix!r} + long_bytes(v)")]
        return None

    def field(self, index: int, name: str, avro_type: Any, field: Mapping[str, Any]
              ) -> list[str] | None:
        if "default" in field:
            default = field["default"]
            lines = [f"v = get({name!r})" if default is None
                     else f"v = get({name!r}, {self.constant(default)})"]
        else:
            lines = [f"v = get({name!r}, _MISSING)",
                     f"if v is _MISSING: raise EventError({name!r}, 'is missing')"]
        if isinstance(avro_type, list):
            if len(avro_type) != 2 or "null" not in avro_type:
                return None
            null_index = avro_type.index("null")
            inner = self.value(name, avro_type[1 - null_index], long_bytes(1 - null_index),
                               "    ")
            if inner is None:
                return None
            lines += [f"if v is None: p = {long_bytes(null_index)!r}", "else:", *inner]
        else:
            body = self.value(name, avro_type, b"", "")
            if body is None:
                return None
            lines += body
        self.parts.append(f"p{index}")
        return [*lines, f"p{index} = p"]


def compile_encoder(schema: Mapping[str, Any], uncached: frozenset[str] = frozenset()
                    ) -> Encoder:
    """An encoder for records of `schema` (the .avsc JSON, not fastavro-parsed). The
    strings of the fields in `uncached` (unique per event) are not remembered."""
    gen = _Generator(uncached)
    lines = ["def encode(event):", "    get = event.get"]
    names = []
    for index, field in enumerate(schema["fields"]):
        code = gen.field(index, field["name"], field["type"], field)
        if code is None:
            return events.encode
        names.append(field["name"])
        lines += ["    " + line for line in code]
    lines += [f"    if len(event) > {len(names)} or not _names.issuperset(event):",
              "        raise EventError(sorted(set(event) - _names)[0], 'is not a field of UsageEvent')",
              f"    return b''.join(({', '.join(gen.parts)},))"]
    namespace: dict[str, Any] = {
        **gen.namespace, "long_bytes": long_bytes, "_mismatch": _mismatch,
        "_string_map": _string_map, "text_bytes": text_bytes, "_cached": _cached,
        "EventError": events.EventError, "_MISSING": object(), "_names": frozenset(names),
    }
    # Generated from the schema file of this repository, never from input: see the module doc.
    source = compile("\n".join(lines), f"<avro encoder for {schema.get('name')}>", "exec")
    exec(source, namespace)  # noqa: S102
    encoder: Encoder = namespace["encode"]
    return encoder


# -- UsageEvents of checked values -------------------------------------------------------

_EVENT_FIELDS = (
    ("idempotency_key", "string"), ("tenant_id", "string"), ("source", "string"),
    ("event_type", "string"), ("event_time", {"type": "long", "logicalType": "timestamp-millis"}),
    ("api", ["null", "string"]), ("route", ["null", "string"]), ("method", ["null", "string"]),
    ("status", ["null", "int"]), ("latency_ms", ["null", "int"]),
    ("request_bytes", ["null", "long"]), ("response_bytes", ["null", "long"]),
    ("value", ["null", "string"]), ("properties", {"type": "map", "values": "string"}),
)
_NULL = b"\x00"
_SOME_SMALL = tuple(b"\x02" + b for b in _SMALL_LONGS)  # the union's second branch, then n
_TENANTS: dict[str, bytes] = {}
_SOURCES: dict[str, bytes] = {}
_TYPES: dict[str, bytes] = {}
_APIS: dict[str, bytes] = {}
_ROUTES: dict[str, bytes] = {}
_METHODS: dict[str, bytes] = {}
_VALUES: dict[str, bytes] = {}


_MAPS: dict[tuple[tuple[str, str], ...], bytes] = {}  # whole string maps (a few entries)


def _checked_map(value: dict[str, str]) -> bytes:
    items = tuple(value.items())
    encoded = _MAPS.get(items)
    if encoded is None:
        encoded = _string_map("properties", value)
        if len(items) <= 4 and all(len(k) + len(v) <= _CACHE_CHARS for k, v in items):
            if len(_MAPS) >= _CACHE_MAX:
                _MAPS.clear()
            _MAPS[items] = encoded
    return encoded


def _checked_event(key: str, tenant: str, source: str, event_type: str, event_time: int,
                   api: str | None, route: str | None, method: str | None, status: int | None,
                   latency_ms: int | None, request_bytes: int | None,
                   response_bytes: int | None, value: str | None,
                   properties: dict[str, str]) -> bytes:
    # One expression, no calls in the common case: this runs for every event of a batch.
    n = len(key_bytes := key.encode())
    return b"".join((
        _SMALL_LONGS[n + _SMALL] if n < _SMALL else long_bytes(n), key_bytes,
        _TENANTS.get(tenant) or _cached(_TENANTS, b"", "tenant_id", tenant),
        _SOURCES.get(source) or _cached(_SOURCES, b"", "source", source),
        _TYPES.get(event_type) or _cached(_TYPES, b"", "event_type", event_type),
        long_bytes(event_time),
        _NULL if api is None else _APIS.get(api) or _cached(_APIS, b"\x02", "api", api),
        _NULL if route is None else _ROUTES.get(route) or _cached(_ROUTES, b"\x02", "route", route),
        _NULL if method is None else (_METHODS.get(method)
                                      or _cached(_METHODS, b"\x02", "method", method)),
        _NULL if status is None else _SOME_SMALL[status + _SMALL]
        if -_SMALL <= status < _SMALL else b"\x02" + long_bytes(status),
        _NULL if latency_ms is None else _SOME_SMALL[latency_ms + _SMALL]
        if -_SMALL <= latency_ms < _SMALL else b"\x02" + long_bytes(latency_ms),
        _NULL if request_bytes is None else _SOME_SMALL[request_bytes + _SMALL]
        if -_SMALL <= request_bytes < _SMALL else b"\x02" + long_bytes(request_bytes),
        _NULL if response_bytes is None else _SOME_SMALL[response_bytes + _SMALL]
        if -_SMALL <= response_bytes < _SMALL else b"\x02" + long_bytes(response_bytes),
        _NULL if value is None else _VALUES.get(value) or _cached(_VALUES, b"\x02", "value", value),
        _checked_map(properties) if properties else _NULL,
    ))


def _checked_event_by_schema(*values: Any) -> bytes:
    """`checked_event` for a schema that is no longer the one `_checked_event` writes."""
    return encode(dict(zip([name for name, _ in _EVENT_FIELDS], values, strict=True)))


SCHEMA_JSON: dict[str, Any] = json.loads(events.SCHEMA_PATH.read_text())
# The idempotency key is unique per event: remembering it would only evict the others.
encode: Encoder = compile_encoder(SCHEMA_JSON, uncached=frozenset({"idempotency_key"}))

# The bytes of a UsageEvent (the schema's fields as arguments, in order) whose
# values are known to have the schema's types: str (UTF-8 encodable: no lone
# surrogate), int in range, None only where the schema allows it, a dict of str.
# The typed path of /v1/events knows that much, so nothing is checked or looked up
# by name; tests compare the bytes with fastavro's. Should the schema no longer be
# the one `_checked_event` writes, the generated encoder does the work.
checked_event: Callable[..., bytes] = (
    _checked_event
    if tuple((f["name"], f["type"]) for f in SCHEMA_JSON["fields"]) == _EVENT_FIELDS
    else _checked_event_by_schema)
