"""Settings validate at load and point at the file, the path and the value."""

from __future__ import annotations

import pytest

from aforo.flinkconf import job_settings, load_flink_conf, stage_config
from aforo.settings import ConfigError, load_settings


def test_defaults_without_a_file(tmp_path, monkeypatch):
    for var in ("AFORO_KAFKA_PORT", "AFORO_HOME"):
        monkeypatch.delenv(var, raising=False)
    settings = load_settings(tmp_path / "absent.yaml")
    assert settings.kafka.bootstrap == "127.0.0.1:9092"
    assert settings.kafka.topic("usage_events").name == "aforo.usage-events"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kafka:\n  port: nine\n", "kafka.port: Input should be a valid integer"),
        ("kafka:\n  port: 70000\n", "kafka.port: Input should be less than or equal to 65535 (got 70000)"),
        ("kafka:\n  topics:\n    usage_events:\n      name: x\n      partitions: 0\n",
         "kafka.topics.usage_events.partitions: Input should be greater than or equal to 1 (got 0)"),
        ("flink:\n  slots: 2\n", "flink.slots: Extra inputs are not permitted"),
        ("- a list\n", "(top level): must be a mapping"),
    ],
)
def test_bad_settings_name_file_path_and_value(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv("AFORO_KAFKA_PORT", raising=False)
    path = tmp_path / "aforo.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_flink_conf_is_staged_as_config_yaml_with_stack_values(tmp_path):
    target = stage_config(tmp_path, {"rest.port": "18081"})
    assert target.name == "config.yaml"
    staged = load_flink_conf(target)
    assert staged["rest.port"] == "18081"
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in staged["env.java.opts.all"]
    assert staged["state.backend.type"] == "rocksdb"


def test_job_level_keys_are_the_ones_a_minicluster_ignores():
    keys = job_settings()
    assert keys["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    assert keys["execution.checkpointing.incremental"] == "true"
    assert keys["restart-strategy.type"] == "fixed-delay"
    assert "jobmanager.memory.process.size" not in keys
    # a local MiniCluster sizes RocksDB's memory from the job's settings (else 128 MB)
    assert keys["taskmanager.memory.managed.size"] == "512m"
    assert "taskmanager.memory.process.size" not in keys
