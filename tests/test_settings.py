"""Settings validate at load and point at the file, the path and the value."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from aforo.cli import cli
from aforo.flinkconf import job_settings, load_flink_conf, stage_config
from aforo.settings import _ENV_OVERRIDES, PROJECT_ROOT, ConfigError, load_settings


@pytest.fixture
def no_aforo_env(monkeypatch):
    """The developer's own AFORO_* variables must not leak into what is checked."""
    for var in (*_ENV_OVERRIDES, "AFORO_CONFIG"):
        monkeypatch.delenv(var, raising=False)


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
        ("kafka:\n  topics:\n    usage_event: {name: x}\n",
         "kafka.topics.usage_event: Input should be 'usage_events' or 'dead_letters' (got 'usage_event')"),
        # YAML's booleans are not numbers (pydantic's lax mode would take `true` as 1)
        ("metering:\n  parallelism: true\n", "metering.parallelism: Input should be a valid integer (got True)"),
        ("flink:\n  taskmanager_slots: yes\n",
         "flink.taskmanager_slots: Input should be a valid integer (got True)"),
        ("kafka:\n  start_timeout_s: true\n", "kafka.start_timeout_s: Input should be a valid number (got True)"),
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


def test_topics_given_are_merged_over_the_default_ones(tmp_path):
    path = tmp_path / "aforo.yaml"
    path.write_text("kafka:\n  topics:\n    usage_events: {name: mine}\n")
    topics = load_settings(path, environ={}).kafka.topics
    assert topics["usage_events"].name == "mine"
    assert topics["usage_events"].partitions == 3
    assert topics["dead_letters"].name == "aforo.dead-letters"
    assert topics["dead_letters"].partitions == 1


def test_a_bad_environment_override_is_reported_under_its_name(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "absent.yaml", environ={"AFORO_KAFKA_PORT": "abc"})
    assert str(err.value).startswith("AFORO_KAFKA_PORT: kafka.port: Input should be a valid integer")
    assert str(err.value).endswith("(got 'abc')")


def test_bad_values_from_file_and_environment_each_name_their_source(tmp_path, no_aforo_env):
    path = tmp_path / "aforo.yaml"
    path.write_text("kafka:\n  port: 9092\n  controller_port: x\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "stack", "status"], env={"AFORO_KAFKA_PORT": "abc"})
    assert result.exit_code == 2
    env_line, file_line = result.stderr.splitlines()
    assert env_line.startswith("error: AFORO_KAFKA_PORT: kafka.port: Input should be a valid integer")
    assert env_line.endswith("(got 'abc')")
    assert file_line.startswith(f"{path}: kafka.controller_port: Input should be a valid integer")
    assert file_line.endswith("(got 'x')")


def test_an_override_under_a_section_that_is_not_a_mapping_reports_the_file(tmp_path):
    path = tmp_path / "aforo.yaml"
    path.write_text("kafka:\n")
    with pytest.raises(ConfigError, match=r": kafka: Input should be a valid dictionary") as err:
        load_settings(path, environ={"AFORO_KAFKA_PORT": "9092"})
    assert str(err.value).startswith(f"{path}: ")


@pytest.mark.parametrize("env", [{}, {"AFORO_CONFIG": "/also/absent.yaml"}])
def test_a_missing_config_file_named_by_the_flag_fails(tmp_path, no_aforo_env, env):
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(cli, ["--config", str(missing), "stack", "status"], env=env)
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: --config names a file that does not exist\n"
    assert isinstance(result.exception, SystemExit)  # no traceback


def test_a_config_path_that_is_a_folder_fails_cleanly(tmp_path, no_aforo_env):
    result = CliRunner().invoke(cli, ["--config", str(tmp_path), "stack", "status"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {tmp_path}: cannot be read")


def test_help_says_where_the_settings_file_is_looked_up():
    # the file is found from the package, not the current folder
    result = CliRunner().invoke(cli, ["--help"])
    text = " ".join(result.output.split())
    assert f"default: {PROJECT_ROOT / 'aforo.yaml'} if present" in text
    assert "./aforo.yaml" not in text


def test_readme_lists_exactly_the_supported_environment_variables():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("### Settings\n", 1)[1].split("\n### ", 1)[0]
    assert set(re.findall(r"AFORO_[A-Z_]+", section)) == {*_ENV_OVERRIDES, "AFORO_CONFIG"}


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


def test_relative_folders_are_made_absolute_from_the_file_or_the_current_folder(tmp_path, monkeypatch, no_aforo_env):
    (tmp_path / "conf").mkdir()
    file = tmp_path / "conf" / "aforo.yaml"
    file.write_text("home: state/aforo\njars_dir: ~/jars\ncatalog_dir: /srv/catalog\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(file)
    assert settings.home == tmp_path / "conf" / "state" / "aforo"  # the file's folder, not the current one
    assert settings.jars_dir == Path.home() / "jars"
    assert settings.catalog_dir == Path("/srv/catalog")
    assert settings.data_dir.as_uri().startswith("file:///")  # what the job gives Flink

    from_env = load_settings(file, environ={"AFORO_HOME": "here", "AFORO_PLANS": "~/plans"})
    assert from_env.home == tmp_path / "here"
    assert from_env.plans_dir == Path.home() / "plans"


@pytest.mark.parametrize("how", ["--config", "AFORO_CONFIG"])
def test_a_relative_config_file_is_handed_on_absolute(tmp_path, monkeypatch, no_aforo_env, how):
    # processes the command starts (`flink run` runs in the project root) read AFORO_CONFIG
    (tmp_path / "mine.yaml").write_text(f"home: {tmp_path / 'home'}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFORO_CONFIG", "mine.yaml")  # also restores the variable the CLI sets
    if how == "--config":
        monkeypatch.delenv("AFORO_CONFIG")
    args = ["--config", "mine.yaml"] if how == "--config" else []
    result = CliRunner().invoke(cli, [*args, "catalog", "validate"])
    assert result.exit_code == 0, result.output
    assert os.environ["AFORO_CONFIG"] == str(tmp_path / "mine.yaml")


def test_relative_folders_in_the_environment_are_handed_on_absolute(tmp_path, monkeypatch, no_aforo_env):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AFORO_HOME", "home")
    monkeypatch.setenv("AFORO_PLANS", "~/plans")
    result = CliRunner().invoke(cli, ["catalog", "validate"])
    assert result.exit_code == 0, result.output
    assert os.environ["AFORO_HOME"] == str(tmp_path / "home")
    assert os.environ["AFORO_PLANS"] == os.path.expanduser("~/plans")
