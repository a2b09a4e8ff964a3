"""The root flink-conf.yaml: staged as config.yaml for clusters, applied in code for jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aforo.settings import PROJECT_ROOT, ConfigError

FLINK_CONF = PROJECT_ROOT / "flink-conf.yaml"

# Keys a MiniCluster ignores in a cluster config file; jobs set them themselves.
# (A local run takes its TaskManager's managed memory from the job's settings.)
JOB_KEY_PREFIXES = ("execution.", "state.", "restart-strategy.", "table.", "python.",
                    "parallelism.", "pipeline.", "metrics.fetcher.",
                    "taskmanager.memory.managed.size")


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    value = str(node).lower() if isinstance(node, bool) else str(node)
    return {prefix[:-1]: value}


def load_flink_conf(path: Path = FLINK_CONF) -> dict[str, str]:
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: (top level): must be a mapping")
    return _flatten(loaded)


def job_settings(conf: dict[str, str] | None = None) -> dict[str, str]:
    conf = load_flink_conf() if conf is None else conf
    return {k: v for k, v in conf.items() if k.startswith(JOB_KEY_PREFIXES)}


def stage_config(conf_dir: Path, overrides: dict[str, str]) -> Path:
    """Write <conf_dir>/config.yaml: the root file plus the stack's ports and folders."""
    conf = load_flink_conf()
    conf.update(overrides)
    conf_dir.mkdir(parents=True, exist_ok=True)
    target = conf_dir / "config.yaml"
    header = f"# Staged from {FLINK_CONF} by aforo; edit that file, not this one.\n"
    target.write_text(header + yaml.safe_dump(conf, sort_keys=True, width=10_000))
    return target
