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
what maps a savepoint's state onto them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

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
        "config": {k: v for k, v in sorted(config.items()) if k.startswith("table.")},
        # The project's own format jar is named by a digest of its sources.
        "jars": sorted(u.rsplit("/", 1)[-1] for u in config.get("pipeline.jars", "").split(";") if u),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:24]


def cached_plan(t_env: TableEnvironment, plans_dir: Path, key: str,
                compile_plan: Callable[[], CompiledPlan]) -> CompiledPlan:
    """The plan stored under `key`, or a freshly compiled one (then stored).

    The tables and functions the plan names must be registered in `t_env`. A
    stored plan that no longer loads is compiled again and replaced.
    """
    path = plans_dir / f"metering-{key}.json"
    if path.exists():
        try:
            loaded = t_env.load_plan(PlanReference.from_file(path))
            # PyFlink 2.2's load_plan gives the plan the Java TableEnvironment, on
            # which execute() then fails (no _before_execute): give it the Python one.
            return CompiledPlan(loaded._j_compiled_plan, t_env)
        except TableException as exc:
            log.warning("compiled plan %s does not load (%s); compiling it again", path, exc)
    plan = compile_plan()
    plans_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(plan.as_json_string())
    partial.replace(path)  # atomic: a concurrent start reads a whole plan or none
    return plan
