"""The job's compiled plan (Flink's JSON ExecNode graph), cached by what it is made of.

Parsing, validating and optimising the job's SQL takes 5-8 s of a cold JVM at
every start. A compiled plan skips all of it: Flink loads the optimised graph
and only generates the operators' code. The cache key covers everything the
planner reads: the SQL, the tables' schemas and their planning-relevant
options, the functions' result types, the `table.*` settings and the Flink
version. Addresses, paths, topic names and consumer groups are left out: a
plan refers to its tables by name and takes their options from the tables
registered when it is loaded, so one plan serves every home, test and port.

Operators of a job built from a compiled plan carry stable UIDs (`<node
id>_<operator>`, Flink's `table.exec.uid.generation: PLAN_ONLY`), which is
what maps a savepoint's state onto them. The planner numbers nodes in plan
order, so a new metric would shift every later node's id; the stored plan
numbers them instead by their *role* (`node_roles`): the source, the sinks,
the dedup and the running totals keep their ids whatever the metrics are, and
a window aggregation is named by its accumulators, so a change of metrics
changes its id, and only its.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pyflink.table import PlanReference, TableDescriptor, TableEnvironment
from pyflink.table.compiled_plan import CompiledPlan
from pyflink.util.exceptions import TableException

log = logging.getLogger(__name__)

# Where the tables are, not what they are: none of these shape the plan.
_LOCATION_OPTIONS = frozenset({
    "properties.bootstrap.servers", "topic", "properties.group.id", "path",
    "sink.transactional-id-prefix", "value.aforo-usage-event.chaos.fail-marker",
})


def plan_key(t_env: TableEnvironment, tables: Mapping[str, TableDescriptor], statements: list[str],
             result_types: Mapping[str, str]) -> str:
    from pyflink.version import __version__ as flink_version
    config = t_env.get_config().get_configuration().to_dict()
    described = {
        "flink": flink_version,
        "statements": statements,
        "tables": {name: {"schema": str(d.get_schema()), "partitioned_by": list(d.get_partition_keys()),
                          "options": {k: v for k, v in sorted(d.get_options().items())
                                      if k not in _LOCATION_OPTIONS}}
                   for name, d in sorted(tables.items())},
        "functions": dict(sorted(result_types.items())),
        "node_ids": "by role",  # how the stored plan numbers its nodes (with_role_ids)
        "config": {k: v for k, v in sorted(config.items()) if k.startswith("table.")},
        # The project's own format jar is named by a digest of its sources.
        "jars": sorted(u.rsplit("/", 1)[-1] for u in config.get("pipeline.jars", "").split(";") if u),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


# Node types whose operators keep no state: their ids may change freely.
_STATELESS = frozenset({"calc", "exchange", "correlate", "python-calc", "union",
                        "local-window-aggregate", "python-correlate", "watermark-assigner"})
# Node types whose state is an hourly aggregation, shaped by the catalog's metrics.
WINDOW_KINDS = frozenset({"group-window-aggregate", "global-window-aggregate", "window-aggregate"})
# Node types whose state does not depend on the metrics: numbered by their order of kind.
_BY_ORDER = frozenset({"deduplicate", "over-aggregate"})


def _kind(node: Mapping[str, Any]) -> str:
    return str(node["type"]).rsplit("_", 1)[0].removeprefix("stream-exec-")


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def node_roles(plan: Mapping[str, Any]) -> dict[int, str]:
    """Each node's role, by node id: what its state is, in terms that a change of metrics keeps.

    Sources and sinks by their table; the dedup and the running totals by their
    order; a window aggregation (and any node type not known here) by its
    content, so that new accumulators make a new role.
    """
    seen: Counter[str] = Counter()
    roles = {}
    for node in plan["nodes"]:
        kind = _kind(node)
        if kind == "table-source-scan":
            role = f"source {node['scanTableSource']['table']['identifier']}"
        elif kind == "sink":
            role = f"sink {node['dynamicTableSink']['table']['identifier']}"
        elif kind in _STATELESS or kind in _BY_ORDER:
            role = kind
        else:
            # (its operator settings, such as the state TTL, change no accumulator)
            role = f"{kind} {_digest({k: v for k, v in node.items() if k not in ('id', 'configuration')})}"
        seen[role] += 1
        roles[node["id"]] = role if seen[role] == 1 else f"{role} #{seen[role]}"
    return roles


def _role_id(role: str) -> int:
    return int(hashlib.sha256(role.encode()).hexdigest()[:7], 16) + 1  # a positive Java int


def with_role_ids(plan: Mapping[str, Any], window_generation: int = 0) -> dict[str, Any]:
    """The plan with each node numbered by its role (edges renumbered alike).

    A window generation other than 0 numbers the hourly aggregations anew (the
    same roles, other ids), so that a start leaves their state behind: after a
    drained stop, whose windows hold nothing to bill but a watermark at the end
    of time that Flink's window table function would restore (jobs/savepoints.py).
    """
    roles = node_roles(plan)
    ids = {old: _role_id(f"{role} generation {window_generation}"
                         if window_generation and is_window(role) else role)
           for old, role in roles.items()}
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"two node roles share an id: {sorted(roles.values())}")
    return {**plan,
            "nodes": [{**node, "id": ids[node["id"]]} for node in plan["nodes"]],
            "edges": [{**edge, "source": ids[edge["source"]], "target": ids[edge["target"]]}
                      for edge in plan["edges"]]}


def _role_kind(role: str) -> str:
    return role.split(" ", 1)[0]


def stateful_nodes(plan: Mapping[str, Any]) -> dict[str, str]:
    """{node id: role} of the nodes that keep state: what a savepoint of this plan holds."""
    return {str(node_id): role for node_id, role in node_roles(plan).items()
            if _role_kind(role) not in _STATELESS}


def is_window(role: str) -> bool:
    return _role_kind(role) in WINDOW_KINDS


def cached_plan(t_env: TableEnvironment, plans_dir: Path, key: str,
                compile_plan: Callable[[], CompiledPlan], window_generation: int = 0) -> CompiledPlan:
    """The plan stored under `key` (its hourly aggregations in `window_generation`), or a
    freshly compiled one (then stored).

    The tables and functions the plan names must be registered in `t_env`. A
    stored plan that no longer loads is compiled again and replaced.
    """
    path = plans_dir / f"metering-{key}.json"
    target = path.with_name(f"metering-{key}-windows-{window_generation}.json") if window_generation else path
    for again in (False, True):
        if again or not path.exists():
            _store(path, with_role_ids(json.loads(compile_plan().as_json_string())))
        if target != path and (again or not target.exists()):
            _store(target, with_role_ids(json.loads(path.read_text()), window_generation))
        try:
            return _load(t_env, target)
        except TableException as exc:
            if again:
                raise
            log.warning("compiled plan %s does not load (%s); compiling it again", target, exc)
    raise AssertionError("unreachable")


def _store(path: Path, plan: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(plan, indent=2))
    partial.replace(path)  # atomic: a concurrent start reads a whole plan or none


def _load(t_env: TableEnvironment, path: Path) -> CompiledPlan:
    loaded = t_env.load_plan(PlanReference.from_file(path))
    # PyFlink 2.2's load_plan gives the plan the Java TableEnvironment, on
    # which execute() then fails (no _before_execute): give it the Python one.
    return CompiledPlan(loaded._j_compiled_plan, t_env)
