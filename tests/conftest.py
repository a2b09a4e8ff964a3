"""Shared fixtures: a real Kafka broker (and, when asked, a real Flink cluster) for the tests.

The test stack has its own home and ports, so it never touches a developer's
running `aforo stack`. It is started once per session and stopped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from aforo.settings import Settings, load_settings
from aforo.stack.flink import FlinkCluster
from aforo.stack.kafka import KafkaBroker

# AFORO_TEST_PORT_BASE lets two test sessions run side by side on one machine.
_BASE = int(os.environ.get("AFORO_TEST_PORT_BASE", "19000"))
TEST_PORTS = {
    "AFORO_KAFKA_PORT": str(_BASE + 92),
    "AFORO_KAFKA_CONTROLLER_PORT": str(_BASE + 93),
    "AFORO_FLINK_REST_PORT": str(_BASE + 81),
    "AFORO_FLINK_RPC_PORT": str(_BASE + 23),
}


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    home = tmp_path_factory.mktemp("aforo-home")
    env = {"AFORO_HOME": str(home), **TEST_PORTS}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def settings(stack_env: dict[str, str]) -> Settings:
    return load_settings()


@pytest.fixture(scope="session")
def kafka(settings: Settings) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(settings)
    broker.up()
    yield broker
    broker.down()


@pytest.fixture(scope="session")
def flink_cluster(settings: Settings, kafka: KafkaBroker) -> Iterator[FlinkCluster]:
    cluster = FlinkCluster(settings)
    cluster.up()
    yield cluster
    cluster.down()


@pytest.fixture
def fresh_topic(settings: Settings, kafka: KafkaBroker) -> str:
    """A new, empty topic of 3 partitions for one test."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)]).values():
        future.result()
    return name


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
