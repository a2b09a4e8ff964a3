"""What the CLI prints must stay text: `aforo job explain --plan` through its printing
helper (the plan itself needs a JVM, ~30 s)."""

from __future__ import annotations

from types import SimpleNamespace

from click.testing import CliRunner

from aforo.cli.job import printable
from aforo.settings import load_settings


def test_plan_printing_escapes_the_nul_of_chr0_and_keeps_the_layout() -> None:
    plan = "Calc(select=[REGEXP_EXTRACT(a0, '[^\x00]*$', 0) AS q])\n\t+- Exchange\x1b\r\n"
    shown = printable(plan)
    assert shown == "Calc(select=[REGEXP_EXTRACT(a0, '[^\\u0000]*$', 0) AS q])\n\t+- Exchange\\u001b\\u000d\n"
    assert all(c.isprintable() or c in "\n\t" for c in shown)


def test_job_run_says_when_kafka_cannot_be_reached_before_starting_flink(tmp_path) -> None:
    from aforo.cli.job import job

    settings = load_settings(environ={"AFORO_HOME": str(tmp_path), "AFORO_KAFKA_PORT": "1"})
    result = CliRunner().invoke(job, ["run", "--bounded"], obj=SimpleNamespace(get=lambda: settings))
    assert result.exit_code == 2, result.output
    # one line, not librdkafka's KafkaException traceback
    assert result.stderr == ("error: Kafka at 127.0.0.1:1 cannot be reached to read topic"
                             " 'aforo.usage-events' (usage_events) (is the stack up? `aforo stack up`)\n")
