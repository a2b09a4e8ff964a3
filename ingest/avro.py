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


def long_bytes(n: int) -> bytes:
    """Avro's zig-zag varint of a long."""
    if -_SMALL <= n < _SMALL:
        return _SMALL_LONGS[n + _SMALL]
    z = (n << 1) ^ (n >> 63)
    parts = []
    while z >= 1 << 14:
        parts.append(_MORE[z & 0x3FFF])
        z >>= 14
    parts.append(_LAST[z])
    return b"".join(parts)


def _mismatch(field: str, expected: str, value: Any) -> events.EventError:
    return events.EventError(field, f"must be {expected}, got {type(value).__name__} {value!r:.60}")


def _string_map(field: str, value: Any) -> list[bytes]:
    if not isinstance(value, Mapping):
        raise _mismatch(field, "a map of strings", value)
    out = [long_bytes(len(value))] if value else []
    for k, v in value.items():
        if type(k) is not str or type(v) is not str:
            raise events.EventError(f"{field}.{k}", "keys and values must be strings")
        kb, vb = k.encode(), v.encode()
        out += (long_bytes(len(kb)), kb, long_bytes(len(vb)), vb)
    out.append(b"\x00")
    return out


def _value_code(name: str, avro_type: Any, indent: str) -> list[str] | None:
    """Lines that append the encoding of local `v` (not None) to `out`."""
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "map" and avro_type.get("values") == "string":
            return [(f"{indent}out += (b'\\x00',) if type(v) is dict and not v "
                     f"else _string_map({name!r}, v)")]
        if avro_type.get("type") in _LIMITS:
            return _value_code(name, avro_type["type"], indent)
        return None
    if avro_type == "string":
        return [f"{indent}if type(v) is not str: raise _mismatch({name!r}, 'a string', v)",
                f"{indent}b = v.encode()",
                f"{indent}n = len(b)",
                f"{indent}out += (_SMALL_LONGS[n + {_SMALL}] if n < {_SMALL} else long_bytes(n), b)"]
    if avro_type in _LIMITS:
        lo, hi = _LIMITS[avro_type]
        return [(f"{indent}if type(v) is not int or not {lo} <= v <= {hi}: "
                 f"raise _mismatch({name!r}, 'an {avro_type}', v)"),
                (f"{indent}out.append(_SMALL_LONGS[v + {_SMALL}] if {-_SMALL} <= v < {_SMALL} "
                 "else long_bytes(v))")]
    return None


def _field_code(name: str, avro_type: Any, field: Mapping[str, Any]) -> list[str] | None:
    if "default" in field:
        lines = [f"v = event.get({name!r}, _defaults[{name!r}])"]
    else:
        lines = [f"v = event.get({name!r}, _MISSING)",
                 f"if v is _MISSING: raise EventError({name!r}, 'is missing')"]
    if isinstance(avro_type, list):
        if len(avro_type) != 2 or "null" not in avro_type:
            return None
        null_index = avro_type.index("null")
        inner = _value_code(name, avro_type[1 - null_index], "    ")
        if inner is None:
            return None
        return lines + [f"if v is None: out.append({long_bytes(null_index)!r})",
                        "else:", f"    out.append({long_bytes(1 - null_index)!r})", *inner]
    body = _value_code(name, avro_type, "")
    return None if body is None else lines + body


def compile_encoder(schema: Mapping[str, Any]) -> Encoder:
    """An encoder for records of `schema` (the .avsc JSON, not fastavro-parsed)."""
    lines = ["def encode(event):", "    out = []"]
    names = []
    defaults = {}
    for field in schema["fields"]:
        code = _field_code(field["name"], field["type"], field)
        if code is None:
            return events.encode
        names.append(field["name"])
        if "default" in field:
            defaults[field["name"]] = field["default"]
        lines += ["    " + line for line in code]
    lines += [f"    if len(event) > {len(names)} or not _names.issuperset(event):",
              "        raise EventError(sorted(set(event) - _names)[0], 'is not a field of UsageEvent')",
              "    return b''.join(out)"]
    namespace: dict[str, Any] = {
        "long_bytes": long_bytes, "_SMALL_LONGS": _SMALL_LONGS, "_mismatch": _mismatch, "_string_map": _string_map,
        "EventError": events.EventError, "_MISSING": object(), "_defaults": defaults,
        "_names": frozenset(names),
    }
    # Generated from the schema file of this repository, never from input: see the module doc.
    source = compile("\n".join(lines), f"<avro encoder for {schema.get('name')}>", "exec")
    exec(source, namespace)  # noqa: S102
    encoder: Encoder = namespace["encode"]
    return encoder


SCHEMA_JSON: dict[str, Any] = json.loads(events.SCHEMA_PATH.read_text())
encode: Encoder = compile_encoder(SCHEMA_JSON)
