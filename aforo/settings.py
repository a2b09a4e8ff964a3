"""Typed, validated settings for the local stack and the pipeline.

Read from `aforo.yaml` at the project root (or the file named by --config or
AFORO_CONFIG); every field has an embedded default so `make demo` needs no file
at all. A few environment variables override single values, which is how tests
run a stack of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class ConfigError(Exception):
    """A settings or catalog file that does not validate: file, path and value named."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_bool(kind: str, message: str) -> BeforeValidator:
    # pydantic's lax int and float take YAML's `true` as 1; environment strings still parse
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise PydanticCustomError(kind, message)
        return value
    return BeforeValidator(check)


Int = Annotated[int, _no_bool("int_type", "Input should be a valid integer")]
Float = Annotated[float, _no_bool("float_type", "Input should be a valid number")]


class TopicSettings(_Strict):
    name: str
    partitions: Int = Field(3, ge=1, le=1024)
    retention_ms: Int = Field(7 * 24 * 3600 * 1000, ge=-1)


TopicRole = Literal["usage_events", "dead_letters"]


def _default_topics() -> dict[TopicRole, TopicSettings]:
    return {
        "usage_events": TopicSettings(name="aforo.usage-events", partitions=3),
        "dead_letters": TopicSettings(name="aforo.dead-letters", partitions=1),
    }


class KafkaSettings(_Strict):
    host: str = "127.0.0.1"
    port: Int = Field(9092, ge=1, le=65535)
    controller_port: Int = Field(9093, ge=1, le=65535)
    heap: str = "768m"
    start_timeout_s: Float = Field(60.0, gt=0)
    topics: dict[TopicRole, TopicSettings] = Field(default_factory=_default_topics)

    @field_validator("topics", mode="before")
    @classmethod
    def _over_default_topics(cls, value: Any) -> Any:
        """A user changing one topic (or one of its fields) should not have to restate the rest."""
        if not isinstance(value, Mapping):
            return value
        merged: dict[Any, Any] = {role: topic.model_dump() for role, topic in _default_topics().items()}
        for role, given in value.items():
            merged[role] = ({**merged[role], **given} if role in merged and isinstance(given, Mapping)
                            else given)
        return merged

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def topic(self, role: str) -> TopicSettings:
        return self.topics[role]


class MeteringSettings(_Strict):
    """The metering job's knobs (see README: the job's guarantees)."""

    max_out_of_orderness_s: Int = Field(300, ge=0, description="watermark delay")
    idle_timeout_s: Int = Field(30, ge=1, description="a quiet partition stops holding windows")
    dedup_horizon_days: Int = Field(35, ge=1, description="how long an idempotency key is remembered")
    max_future_s: Int = Field(86400, ge=0, description="events further ahead of now are rejected")
    checkpoint_interval_s: Int = Field(10, ge=1)
    parallelism: Int = Field(2, ge=1)
    local_rest_port: Int = Field(0, ge=0, le=65535, description="MiniCluster REST port; 0 = any free one")


class FlinkSettings(_Strict):
    rest_port: Int = Field(8081, ge=1, le=65535)
    rpc_port: Int = Field(6123, ge=1, le=65535)
    taskmanager_slots: Int = Field(2, ge=1, le=64)
    start_timeout_s: Float = Field(90.0, gt=0)


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


# Folders: a relative one is taken from the file's folder (from the current one for a
# variable), and ~ is expanded, so that every process (a Flink worker, the collector)
# sees the same folder and Flink can be given it as a file:// URI.
_PATH_FIELDS = ("home", "jars_dir", "plans_dir", "catalog_dir")


def _absolute(value: Any, base: Path) -> Any:
    return base / Path(value).expanduser() if isinstance(value, str) and value else value


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file whose top level is a mapping (an empty file is {}); ConfigError otherwise."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:  # a folder, unreadable, ...
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
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


def format_validation_error(source: str, exc: ValidationError,
                            sources: Mapping[tuple[str, ...], str] | None = None) -> str:
    """One line per error: source, path, message, value; `sources` names other sources by path prefix."""
    lines = []
    for err in exc.errors():
        loc = tuple(str(p) for p in err["loc"] if p != "[key]")  # a bad mapping key: its path is the key
        path = ".".join(loc) or "(top level)"
        origin = next((name for keys, name in (sources or {}).items() if loc[:len(keys)] == keys), source)
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"{origin}: {path}: {err['msg']}{shown}")
    return "\n".join(lines)


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: Mapping[str, str] | None = None, named_by: str | None = None) -> Settings:
    """Load settings; a bad value raises ConfigError naming its source (file or variable), path and value.

    `environ` (default: os.environ) supplies AFORO_CONFIG and the overrides. A file
    the user named (`named_by`: "--config", say) must exist; the default one need not.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get("AFORO_CONFIG"):
        path, named_by = environ["AFORO_CONFIG"], "AFORO_CONFIG"
    path = Path(PROJECT_ROOT / "aforo.yaml" if path is None else path)
    raw: dict[str, Any] = {}
    if path.exists():
        raw = read_yaml_mapping(path)
        for key in _PATH_FIELDS:
            if key in raw:
                raw[key] = _absolute(raw[key], path.absolute().parent)
    elif named_by:
        raise ConfigError(f"{path}: {named_by} names a file that does not exist")
    from_env: dict[tuple[str, ...], str] = {}
    for var, keys in _ENV_OVERRIDES.items():
        if var not in environ:
            continue
        node: Any = raw
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):  # else the file's section is not a mapping, which is reported
            node[keys[-1]] = _absolute(environ[var], Path.cwd()) if keys[0] in _PATH_FIELDS else environ[var]
            from_env[keys] = var
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc, from_env)) from exc
