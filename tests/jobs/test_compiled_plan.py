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

EXAMPLE = PROJECT_ROOT / "catalog"

# Runs in its own process: PyFlink's JVM and FLINK_CONF_DIR stay out of pytest's.
SCRIPT = r'''
import json, sys
from pathlib import Path
from aforo.catalog import load_catalog
from aforo.settings import load_settings
from jobs import compiled_plan, metering, metering_sql
from jobs.environment import create_table_env
from udfs.rating import rating_result_types

def prepared(config, group):
    settings = load_settings(Path(config), environ={})
    catalog = load_catalog(settings.catalog_dir)
    t_env = create_table_env(settings, streaming=True, extra=metering.job_config(settings))
    tables = metering.register(t_env, settings, catalog, metering.JobOptions(group_prefix=group))
    sqls = metering_sql.metering_statements(catalog)
    return settings, t_env, compiled_plan.plan_key(t_env, tables, sqls, rating_result_types()), sqls

out = {"keys": []}
for config, group in json.loads(sys.argv[1]):
    out["keys"].append(prepared(config, group)[2])

settings, t_env, key, sqls = prepared(json.loads(sys.argv[1])[0][0], "g")
compiles = []
def compile_plan():
    compiles.append(1)
    return metering._statement_set(t_env, sqls).compile_plan()
plans = Path(sys.argv[2])
first = compiled_plan.cached_plan(t_env, plans, key, compile_plan)
out["after_first"] = (len(compiles), sorted(p.name for p in plans.iterdir()))
settings, t_env, key, sqls = prepared(json.loads(sys.argv[1])[1][0], "other")
second = compiled_plan.cached_plan(t_env, plans, key, compile_plan)
out["after_second"] = len(compiles)
out["same_plan"] = json.loads(first.as_json_string()) == json.loads(second.as_json_string())
out["explains"] = "Deduplicate(" in second.explain()
(plans / f"metering-{key}.json").write_text("{ not a plan")
compiled_plan.cached_plan(t_env, plans, key, compile_plan)
out["after_corrupt"] = len(compiles)
out["replaced"] = json.loads((plans / f"metering-{key}.json").read_text())["flinkVersion"]
print(json.dumps(out))
'''


def _config(tmp_path: Path, name: str, port: int, topic: str, catalog: Path = EXAMPLE,
            horizon_days: int = 35) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "home": str(tmp_path / name), "catalog_dir": str(catalog),
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

    a, b, c, d = out["keys"]
    assert a == b, "homes, ports, topics and consumer groups are not part of the plan"
    assert len({a, c, d}) == 3, "the dedup horizon and the catalog's metrics are"
    assert out["after_first"] == [1, [f"metering-{a}.json"]]
    assert out["after_second"] == 1, "the second start loads the stored plan"
    assert out["same_plan"] and out["explains"]
    assert out["after_corrupt"] == 2 and out["replaced"] == "2.2", "a plan that does not load is replaced"
