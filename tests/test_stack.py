"""The stack's lifecycle on its own home and ports: up, up again, status, a killed broker, down."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.kafka


def _aforo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aforo", *args], env=env, capture_output=True,
                          text=True, timeout=180)


@pytest.fixture
def own_stack_env(tmp_path, settings):
    env = dict(os.environ)
    base = settings.kafka.port + 10_000  # beside the session stack's ports
    env.update(AFORO_HOME=str(tmp_path / "home"), AFORO_KAFKA_PORT=str(base),
               AFORO_KAFKA_CONTROLLER_PORT=str(base + 1), AFORO_FLINK_REST_PORT=str(base + 2))
    yield env
    _aforo(env, "stack", "down")


def _kafka_pid(env: dict[str, str]) -> int:
    from pathlib import Path
    return int((Path(env["AFORO_HOME"]) / "kafka" / "kafka.pid").read_text())


def test_up_twice_status_killed_broker_and_down(own_stack_env):
    env = own_stack_env
    first = _aforo(env, "stack", "up")
    assert first.returncode == 0, first.stderr
    assert "kafka: running" in first.stdout and env["AFORO_KAFKA_PORT"] in first.stdout
    pid = _kafka_pid(env)

    again = _aforo(env, "stack", "up")
    assert again.returncode == 0, again.stderr
    assert _kafka_pid(env) == pid, "a second `up` must not start a second broker"

    # Settings changed under a running broker: said at once, not waited on for 60 s as unhealthy
    port, controller = env["AFORO_KAFKA_PORT"], env["AFORO_KAFKA_CONTROLLER_PORT"]
    started = time.monotonic()
    moved = _aforo(dict(env, AFORO_KAFKA_PORT=str(int(port) + 5)), "stack", "up")
    assert moved.returncode == 1 and time.monotonic() - started < 30
    assert moved.stderr == (f"error: the broker of {env['AFORO_HOME']}/kafka (pid {pid}) runs on "
                            f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}, not on the settings' "
                            f"PLAINTEXT://127.0.0.1:{int(port) + 5},CONTROLLER://127.0.0.1:{controller}: "
                            "`aforo stack down`, then `aforo stack up` to apply them\n")

    status = _aforo(env, "stack", "status")
    assert status.returncode == 0
    assert f"kafka: running (pid {pid}" in status.stdout
    assert "flink: stopped" in status.stdout

    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    dead = _aforo(env, "stack", "status")
    assert dead.returncode == 1
    assert "kafka: stopped" in dead.stdout

    # The stale pid file is handled: `up` starts a new broker on the same data.
    restarted = _aforo(env, "stack", "up")
    assert restarted.returncode == 0, restarted.stderr
    assert _kafka_pid(env) != pid

    down = _aforo(env, "stack", "down")
    assert "kafka: stopped" in down.stdout
    assert "kafka: was not running" in _aforo(env, "stack", "down").stdout
    assert _aforo(env, "stack", "status").returncode == 1


def test_up_refuses_a_port_taken_by_someone_else(own_stack_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _aforo(dict(own_stack_env, AFORO_KAFKA_PORT=str(port)), "stack", "up")
    assert result.returncode == 1
    # one line naming the problem, not a traceback
    assert result.stderr == (f"error: port {port} is taken by a process this stack did not start; "
                             "stop it or set kafka.port in aforo.yaml (or AFORO_KAFKA_PORT)\n")


def test_up_applies_a_changed_retention_and_names_a_partition_count_it_cannot_change(settings, kafka):
    from confluent_kafka.admin import ConfigResource

    from aforo.stack.kafka import KafkaBroker

    name = f"test-topic-settings-{uuid.uuid4().hex[:8]}"

    def broker(partitions: int, retention_ms: int) -> KafkaBroker:
        topics = {**settings.kafka.topics, "dead_letters": settings.kafka.topics["dead_letters"].model_copy(
            update={"name": name, "partitions": partitions, "retention_ms": retention_ms})}
        return KafkaBroker(settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topics": topics})}))

    assert broker(2, 3_600_000).create_topics() == []  # created as the settings say
    admin = kafka.admin()
    deadline = time.monotonic() + 10  # until the broker's metadata has it (else it is created again)
    while name not in admin.list_topics(timeout=10).topics and time.monotonic() < deadline:
        time.sleep(0.1)
    assert broker(2, 3_600_000).create_topics() == []  # and nothing to say again
    assert broker(4, 7_200_000).create_topics() == [
        f"topic {name}: 2 partitions, the settings say 4; kept (a new topic name, or the old topic deleted, "
        "takes the new count)",
        f"topic {name}: retention.ms 3600000 -> 7200000",
    ]
    resource = ConfigResource("topic", name)
    assert admin.describe_configs([resource])[resource].result()["retention.ms"].value == "7200000"
    assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 2


@pytest.mark.flink
def test_flink_up_says_at_once_when_the_running_cluster_has_other_ports(settings, flink_cluster):
    from aforo.stack.flink import FlinkCluster
    from aforo.stack.process import StackError

    assert FlinkCluster(settings).up().startswith("running")  # up twice is harmless
    f = settings.flink
    moved = settings.model_copy(update={"flink": f.model_copy(update={"rest_port": f.rest_port + 7})})
    started = time.monotonic()
    with pytest.raises(StackError) as raised:
        FlinkCluster(moved).up()
    assert time.monotonic() - started < 10  # not start_timeout_s (90 s) waited on a port nothing opens
    assert str(raised.value) == (
        f"the Flink cluster of {settings.home / 'flink'} runs on REST port {f.rest_port}, RPC port {f.rpc_port}, "
        f"not on the settings' REST port {f.rest_port + 7}, RPC port {f.rpc_port}: `aforo stack down`, then "
        "`aforo stack up --flink` to apply them")
    assert FlinkCluster(settings).up().startswith("running")
