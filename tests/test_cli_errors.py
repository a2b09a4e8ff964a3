"""What the CLI prints must stay text: `aforo job explain --plan` through its printing
helper (the plan itself needs a JVM, ~30 s)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import yaml
from click.testing import CliRunner

from aforo.cli.job import job, printable
from aforo.settings import PROJECT_ROOT, Settings, load_settings


def test_plan_printing_escapes_the_nul_of_chr0_and_keeps_the_layout() -> None:
    plan = "Calc(select=[REGEXP_EXTRACT(a0, '[^\x00]*$', 0) AS q])\n\t+- Exchange\x1b\r\n"
    shown = printable(plan)
    assert shown == "Calc(select=[REGEXP_EXTRACT(a0, '[^\\u0000]*$', 0) AS q])\n\t+- Exchange\\u001b\\u000d\n"
    assert all(c.isprintable() or c in "\n\t" for c in shown)


def test_job_run_says_when_kafka_cannot_be_reached_before_starting_flink(tmp_path) -> None:
    settings = load_settings(environ={"AFORO_HOME": str(tmp_path), "AFORO_KAFKA_PORT": "1"})
    result = CliRunner().invoke(job, ["run", "--bounded"], obj=SimpleNamespace(get=lambda: settings))
    assert result.exit_code == 2, result.output
    # one line, not librdkafka's KafkaException traceback
    assert result.stderr == ("error: Kafka at 127.0.0.1:1 cannot be reached to read topic"
                             " 'aforo.usage-events' (usage_events) (is the stack up? `aforo stack up`)\n")


def _job_run(tmp_path: Path, settings: Settings, kafka_port: int, topic: str,
             *command: str) -> subprocess.CompletedProcess[str]:
    """`aforo job <command>` (default `run --bounded`) with its own home, reading `topic` from Kafka
    at `kafka_port`."""
    config = tmp_path / "aforo.yaml"
    config.write_text(yaml.safe_dump({
        "home": str(tmp_path / "home"),
        "kafka": {"port": kafka_port, "controller_port": settings.kafka.controller_port,
                  "topics": {"usage_events": {"name": topic, "partitions": 3}}},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    return subprocess.run([sys.executable, "-m", "aforo", "job", *(command or ("run",)), "--bounded"], cwd=PROJECT_ROOT,
                          env={**env, "AFORO_CONFIG": str(config)}, capture_output=True, text=True, timeout=120)


def test_a_submit_to_no_cluster_names_the_jobmanager_in_one_line(tmp_path: Path, settings: Settings,
                                                                  kafka) -> None:  # type: ignore[no-untyped-def]
    topic = settings.kafka.topic("usage_events").name
    run = _job_run(tmp_path, settings, settings.kafka.port, topic, "submit", "--jobmanager", "localhost:1")
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stderr == ("Error: no Flink cluster answers at localhost:1 (--jobmanager: its REST endpoint, "
                          "HOST:PORT; `aforo stack up --flink` starts one)\n")


def test_a_stop_given_a_rest_address_that_is_no_url_names_the_flag(settings: Settings) -> None:
    stop = CliRunner().invoke(job, ["stop", "--rest", "localhost:8081"], obj=SimpleNamespace(get=lambda: settings))
    assert stop.exit_code == 2 and stop.exception is not None and not isinstance(stop.exception, ValueError)
    assert "Invalid value for '--rest': not an http(s) URL: 'localhost:8081'" in stop.output
