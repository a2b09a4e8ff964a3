"""YAML for pricing as code: numbers become Decimals from their text, never floats,
an integer is read in base 10 (YAML 1.1 reads `010` as octal 8, and `0x10` and `1:30`
as 16 and 90: here `010` is 10, and hex, binary and sexagesimal stay text for
validation to refuse), a date that does not exist (`2026-13-01`) stays text for
validation to refuse (PyYAML raises a ValueError for it, not a YAMLError), and a key
written twice in one mapping is an error instead of a silent overwrite."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode

_MERGE = "tag:yaml.org,2002:merge"
_BASE_10 = re.compile(r"[-+]?[0-9]+")
# libyaml's parser when PyYAML was built with it: pure-Python parsing was 90 % of
# loading a catalog of 10,000 customers (10 s).
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DecimalLoader(_SafeLoader):  # type: ignore[misc, valid-type]
    """SafeLoader whose floats are Decimals and whose mappings refuse duplicate keys."""

    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # an unhashable key; the base constructor reports it
                if duplicate:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r}", key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _decimal(loader: DecimalLoader, node: ScalarNode) -> Decimal | str:
    text = str(loader.construct_scalar(node))
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        return text  # `.inf`, sexagesimal: left as text for validation to refuse


def _integer(loader: DecimalLoader, node: ScalarNode) -> int | str:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if _BASE_10.fullmatch(text):
        return int(text)  # base 10, leading zeros and all
    return text  # `0x10`, `0b11`, `1:30`: left as text for validation to refuse


def _timestamp(loader: DecimalLoader, node: ScalarNode) -> Any:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError:
        return str(loader.construct_scalar(node))


DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)  # type: ignore[arg-type]
DecimalLoader.add_constructor("tag:yaml.org,2002:int", _integer)  # type: ignore[arg-type]
DecimalLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)  # type: ignore[arg-type]


def load_yaml(text: str) -> Any:
    """Parse YAML text; raises yaml.YAMLError (with line and column) on bad input."""
    return yaml.load(text, Loader=DecimalLoader)  # a SafeLoader subclass: no arbitrary objects
