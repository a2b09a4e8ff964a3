"""Typed, validated settings for the local stack and the pipeline.

Read from `aforo.yaml` (or the file named by AFORO_CONFIG); every field has an
embedded default so `make demo` needs no file at all. A few environment
variables override single values, which is how tests run a stack of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(Exception):
    """A settings or catalog file that does not validate: file, path and value named."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TopicSettings(_Strict):
    name: str
    partitions: int = Field(3, ge=1, le=1024)
    retention_ms: int = Field(7 * 24 * 3600 * 1000, ge=-1)


def _default_topics() -> dict[str, TopicSettings]:
    return {
        "usage_events": TopicSettings(name="aforo.usage-events", partitions=3),
        "dead_letters": TopicSettings(name="aforo.dead-letters", partitions=1),
    }


class KafkaSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    heap: str = "768m"
    start_timeout_s: float = Field(60.0, gt=0)
    topics: dict[str, TopicSettings] = Field(default_factory=_default_topics)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def topic(self, role: str) -> TopicSettings:
        return self.topics[role]


class MeteringSettings(_Strict):
    """The metering job's knobs (see README: the job's guarantees)."""

    max_out_of_orderness_s: int = Field(300, ge=0, description="watermark delay")
    idle_timeout_s: int = Field(30, ge=1, description="a quiet partition stops holding windows")
    dedup_horizon_days: int = Field(35, ge=1, description="how long an idempotency key is remembered")
    max_future_s: int = Field(86400, ge=0, description="events further ahead of now are rejected")
    checkpoint_interval_s: int = Field(10, ge=1)
    parallelism: int = Field(2, ge=1)
    local_rest_port: int = Field(0, ge=0, le=65535, description="MiniCluster REST port; 0 = any free one")


class FlinkSettings(_Strict):
    rest_port: int = Field(8081, ge=1, le=65535)
    rpc_port: int = Field(6123, ge=1, le=65535)
    taskmanager_slots: int = Field(2, ge=1, le=64)
    start_timeout_s: float = Field(90.0, gt=0)


class Settings(_Strict):
    home: Path = PROJECT_ROOT / ".aforo"
    jars_dir: Path = Path.home() / ".cache" / "aforo" / "jars"
    # The metering job's compiled plans, by content (jobs/compiled_plan.py); safe to delete.
    plans_dir: Path = Path.home() / ".cache" / "aforo" / "plans"
    catalog_dir: Path = PROJECT_ROOT / "catalog"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    flink: FlinkSettings = Field(default_factory=FlinkSettings)
    metering: MeteringSettings = Field(default_factory=MeteringSettings)

    @property
    def data_dir(self) -> Path:
        """Parquet tables written by the metering job."""
        return self.home / "data"


_ENV_OVERRIDES = {
    "AFORO_HOME": ("home",),
    "AFORO_JARS": ("jars_dir",),
    "AFORO_PLANS": ("plans_dir",),
    "AFORO_CATALOG": ("catalog_dir",),
    "AFORO_KAFKA_PORT": ("kafka", "port"),
    "AFORO_KAFKA_CONTROLLER_PORT": ("kafka", "controller_port"),
    "AFORO_FLINK_REST_PORT": ("flink", "rest_port"),
    "AFORO_FLINK_RPC_PORT": ("flink", "rpc_port"),
}


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is {}); ConfigError otherwise."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: (top level): must be a mapping (got {loaded!r})")
    return loaded


def read_stage_config(path: str | os.PathLike[str] | None, env_var: str,
                      what: str) -> tuple[str, Path | None, dict[str, Any]]:
    """A stage's optional YAML file (given, or named by `env_var`): (source label, file, mapping)."""
    if path is None:
        path = os.environ.get(env_var) or None
    if path is None:
        return "(defaults)", None, {}
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"{file}: {what} config file does not exist")
    return str(path), file, read_yaml_mapping(file)


def format_validation_error(source: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{source}: {path}: {err['msg']}{shown}")
    return "\n".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None) -> Settings:
    """Load settings; a bad file raises ConfigError naming file, path and value.

    `environ` (default: os.environ) supplies AFORO_CONFIG and the overrides.
    """
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get("AFORO_CONFIG") or (PROJECT_ROOT / "aforo.yaml")
    path = Path(path)
    raw: dict[str, Any] = {}
    if path.exists():
        raw = read_yaml_mapping(path)
    elif environ.get("AFORO_CONFIG"):
        raise ConfigError(f"{path}: AFORO_CONFIG names a file that does not exist")
    for var, keys in _ENV_OVERRIDES.items():
        if var in environ:
            node = raw
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = environ[var]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from exc
