"""A single-node KRaft Kafka broker on loopback, run from the Maven Central jars."""

from __future__ import annotations

import base64
import logging
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from aforo.jars import ensure_jars, jar_dir, require_tool
from aforo.settings import Settings, TopicSettings
from aforo.stack.process import PidFile, StackError, port_open, spawn_daemon

_quiet = logging.getLogger("aforo.stack.kafka.client")
_quiet.propagate = False
_quiet.addHandler(logging.NullHandler())

_LOG4J2 = """\
Configuration:
  name: aforo-kafka
  Appenders:
    RollingFile:
      name: file
      fileName: "{log_dir}/server.log"
      filePattern: "{log_dir}/server.log.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      Policies:
        SizeBasedTriggeringPolicy:
          size: 20MB
      DefaultRolloverStrategy:
        max: 3
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        ref: file
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: INFO
"""


@dataclass(frozen=True)
class KafkaBroker:
    settings: Settings

    @property
    def dir(self) -> Path:
        return self.settings.home / "kafka"

    @property
    def pid_file(self) -> PidFile:
        # The port in the marker tells our broker apart from another stack's.
        return PidFile(self.dir / "kafka.pid", cmdline_marker=str(self.dir / "server.properties"))

    @property
    def log_path(self) -> Path:
        return self.dir / "logs" / "kafka.out"

    def _listeners(self) -> str:
        k = self.settings.kafka
        return f"PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}"

    def _running_listeners(self) -> str | None:
        """The listeners the running broker was started with (its server.properties)."""
        try:
            lines = (self.dir / "server.properties").read_text().splitlines()
        except OSError:
            return None
        return next((line.split("=", 1)[1] for line in lines if line.startswith("listeners=")), None)

    def _write_config(self) -> Path:
        k = self.settings.kafka
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{k.host}:{k.controller_port}",
            "listeners": self._listeners(),
            "advertised.listeners": f"PLAINTEXT://{k.host}:{k.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "3",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Flink's exactly-once Kafka sink holds transactions open for up to
            # a checkpoint interval or two; allow an hour like Flink's default.
            "transaction.max.timeout.ms": str(3600 * 1000),
            "auto.create.topics.enable": "false",
            "log.retention.check.interval.ms": "60000",
        }
        path = self.dir / "server.properties"
        path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
        (self.dir / "log4j2.yaml").write_text(_LOG4J2.format(log_dir=self.dir / "logs"))
        return path

    def _java(self, main_class: str, *args: str) -> list[str]:
        java = require_tool("java", "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
        classpath = str(jar_dir(self.settings.jars_dir, "kafka") / "*")
        return [
            java, f"-Xmx{self.settings.kafka.heap}", f"-Xms{self.settings.kafka.heap}",
            "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.yaml'}",
            "-cp", classpath, main_class, *args,
        ]

    def _format_storage(self, config: Path) -> None:
        if (self.dir / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `=`: a random id may start with "-", which would read as an option.
        cmd = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config))
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")

    def status(self) -> str:
        pid = self.pid_file.running_pid()
        if pid is None:
            return "stopped"
        if not port_open(self.settings.kafka.host, self.settings.kafka.port):
            return f"unhealthy (pid {pid}, port {self.settings.kafka.port} closed)"
        return f"running (pid {pid}, {self.settings.kafka.bootstrap})"

    def up(self) -> str:
        ensure_jars(self.settings.jars_dir, ("kafka",))
        pid = self.pid_file.running_pid()
        if pid is None:
            if port_open(self.settings.kafka.host, self.settings.kafka.port):
                raise StackError(
                    f"port {self.settings.kafka.port} is taken by a process this stack did not start; "
                    "stop it or set kafka.port in aforo.yaml (or AFORO_KAFKA_PORT)"
                )
            config = self._write_config()
            self._format_storage(config)
            pid = spawn_daemon(self._java("kafka.Kafka", str(config)), self.log_path)
            self.pid_file.write(pid)
        elif (running := self._running_listeners()) not in (None, self._listeners()):
            # else a changed port would be waited on for start_timeout_s, then called unhealthy
            raise StackError(f"the broker of {self.dir} (pid {pid}) runs on {running}, not on the settings' "
                             f"{self._listeners()}: `aforo stack down`, then `aforo stack up` to apply them")
        self.wait_healthy()
        notes = self.create_topics()
        return self.status() + "".join(f"\n  {note}" for note in notes)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.settings.kafka.start_timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.pid_file.running_pid() is None:
                raise StackError(f"Kafka exited during start; see {self.log_path}")
            try:
                self.admin().list_topics(timeout=2)
                return
            except KafkaException as exc:
                last_error = exc
                time.sleep(0.5)
        raise StackError(f"Kafka not healthy after {self.settings.kafka.start_timeout_s}s: {last_error}")

    def admin(self) -> AdminClient:
        # Connection-refused noise while the broker starts goes to a quiet logger.
        return AdminClient({"bootstrap.servers": self.settings.kafka.bootstrap, "logger": _quiet})

    def create_topics(self) -> list[str]:
        """Create the settings' topics; on existing ones, apply a changed retention and say
        when the partitions differ (kept: adding some would move keys to other partitions,
        and Kafka cannot take any away). Returns those notes."""
        admin = self.admin()
        existing = admin.list_topics(timeout=10).topics
        wanted = [
            NewTopic(t.name, num_partitions=t.partitions, replication_factor=1,
                     config={"retention.ms": str(t.retention_ms)})
            for t in self.settings.kafka.topics.values() if t.name not in existing
        ]
        for name, future in admin.create_topics(wanted, operation_timeout=30).items() if wanted else ():
            try:
                future.result()
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise StackError(f"creating topic {name} failed: {exc}") from exc
        return [note for t in self.settings.kafka.topics.values() if t.name in existing
                for note in self._match_topic(admin, t, len(existing[t.name].partitions))]

    def _match_topic(self, admin: AdminClient, topic: TopicSettings, partitions: int) -> list[str]:
        notes = []
        if partitions != topic.partitions:
            notes.append(f"topic {topic.name}: {partitions} partitions, the settings say {topic.partitions}; "
                         "kept (a new topic name, or the old topic deleted, takes the new count)")
        resource = ConfigResource("topic", topic.name)
        retention = admin.describe_configs([resource])[resource].result()["retention.ms"].value
        if retention != str(topic.retention_ms):
            entry = ConfigEntry("retention.ms", str(topic.retention_ms),
                                incremental_operation=AlterConfigOpType.SET)
            admin.incremental_alter_configs([ConfigResource("topic", topic.name, incremental_configs=[entry])]
                                            )[resource].result()
            notes.append(f"topic {topic.name}: retention.ms {retention} -> {topic.retention_ms}")
        return notes

    def down(self) -> bool:
        return self.pid_file.stop()
