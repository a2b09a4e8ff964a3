"""The job's compiled plan cache: one plan per job definition, whatever the home, ports and
topics; a new plan for any change the planner sees; a stored plan is loaded, not re-planned."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from aforo.settings import PROJECT_ROOT
from jobs import compiled_plan

EXAMPLE = PROJECT_ROOT / "catalog"

# Runs in its own process: PyFlink's JVM and FLINK_CONF_DIR stay out of pytest's.
SCRIPT = r'''
import json, sys
from pathlib import Path
from aforo.settings import load_settings
from jobs import metering

compiles = []
statement_set = metering._statement_set
def counted(t_env, sqls):  # called once per compilation, never for a loaded plan
    compiles.append(1)
    return statement_set(t_env, sqls)
metering._statement_set = counted

def plan(config, group):
    settings = load_settings(Path(config), environ={})
    compiled, _ = metering.compiled_job(settings, metering.JobOptions(group_prefix=group))
    return compiled, (len(compiles), sorted(p.name for p in settings.plans_dir.iterdir()))

configs = json.loads(sys.argv[1])
out = {"starts": []}
compiled = []
for config, group in configs:
    plan_json, seen = plan(config, group)
    compiled.append(plan_json)
    out["starts"].append(seen)
out["stateful"] = [metering.stateful_nodes(p) for p in compiled]
again, out["again"] = plan(configs[0][0], "again")
out["same_plan"] = json.loads(again.as_json_string()) == json.loads(compiled[0].as_json_string())
out["explains"] = "Deduplicate(" in again.explain()
stored = Path(sys.argv[2]) / out["starts"][0][1][0]
stored.write_text("{ not a plan")
_, out["after_corrupt"] = plan(configs[0][0], "again")
out["replaced"] = json.loads(stored.read_text())["flinkVersion"]
print(json.dumps(out))
'''


def _config(tmp_path: Path, name: str, port: int, topic: str, catalog: Path = EXAMPLE,
            horizon_days: int = 35) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "home": str(tmp_path / name), "catalog_dir": str(catalog), "plans_dir": str(tmp_path / "plans"),
        "kafka": {"port": port, "controller_port": port + 1,
                  "topics": {"usage_events": {"name": topic}, "dead_letters": {"name": f"{topic}-dlq"}}},
        "metering": {"dedup_horizon_days": horizon_days},
    }))
    return str(path)


@pytest.mark.flink
def test_one_plan_per_job_definition_loaded_instead_of_planned(tmp_path: Path) -> None:
    extra_metric = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, extra_metric)
    (extra_metric / "metrics" / "peak_latency.yaml").write_text(
        "key: peak_latency\nname: Peak latency\nunit: ms\naggregation: max\nvalue_field: latency_ms\n"
        "sources:\n  - event_type: api_call\n")
    configs = [
        (_config(tmp_path, "a", 19992, "events-a"), "group-a"),
        (_config(tmp_path, "b", 29992, "events-b"), "group-b"),  # elsewhere, same job
        (_config(tmp_path, "c", 19992, "events-a", horizon_days=40), "group-a"),  # state TTL
        (_config(tmp_path, "d", 19992, "events-a", catalog=extra_metric), "group-a"),  # new SQL
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    result = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(configs), str(tmp_path / "plans")],
                            env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])

    a, b, c, d = out["starts"]
    [plan_a] = a[1]
    assert a == [1, [plan_a]] and b == a, \
        "homes, ports, topics and consumer groups are not part of the plan: the second start loads it"
    assert c[0] == 2 and d[0] == 3 and len(d[1]) == 3, "the dedup horizon and the catalog's metrics are"
    assert out["again"] == d, "a start loads the stored plan"
    assert out["same_plan"] and out["explains"]
    assert out["after_corrupt"] == [4, d[1]] and out["replaced"] == "2.2", "a plan that does not load is replaced"

    # Node ids come from roles: a new metric changes the hourly aggregation's id, no other state's.
    def split(nodes: dict[str, str]) -> tuple[dict[str, str], set[str]]:
        windows = {node for node, role in nodes.items() if compiled_plan.is_window(role)}
        return {n: r for n, r in nodes.items() if n not in windows}, windows
    kept, windows = split(out["stateful"][0])
    kept_d, windows_d = split(out["stateful"][3])
    assert {r.split(" ")[0] for r in kept.values()} == {"source", "sink", "deduplicate", "over-aggregate"}
    assert len(kept) == 8 and kept_d == kept, "source, 4 sinks, the dedup and 2 running totals keep their ids"
    assert len(windows) == 2 and windows_d != windows, "the hourly aggregation's id changes with its accumulators"
    assert out["stateful"][2] == out["stateful"][0], "a new dedup horizon keeps every id (Flink adapts the TTL)"
