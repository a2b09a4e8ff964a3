"""The table environment every job starts from: jars, the root flink-conf.yaml, checkpoints."""

from __future__ import annotations

import os
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

from aforo.flinkconf import job_settings
from aforo.jars import flink_job_jars
from aforo.settings import Settings
from aforo.stack.flink import FlinkCluster


def _stage_local_flink(settings: Settings) -> None:
    """Before PyFlink starts its JVM: read our staged config.yaml, log to files, not stdout."""
    if "FLINK_CONF_DIR" in os.environ:  # a `flink run` client already set it up
        return
    cluster = FlinkCluster(settings)
    cluster.stage()
    for key, value in cluster.env().items():
        if key.startswith("FLINK_") and key != "FLINK_LIB_DIR":
            os.environ[key] = value
    os.environ.setdefault("LOG4J_PROPERTIES", str(cluster.conf_dir / "log4j.properties"))


def create_table_env(settings: Settings, streaming: bool = True,
                     extra: dict[str, str] | None = None) -> TableEnvironment:
    """A TableEnvironment with the connector jars and the job-level keys of flink-conf.yaml.

    A local MiniCluster ignores job-level keys in a cluster file, so they are set
    here, in code; on a standalone cluster the same keys arrive with the job.
    """
    jars = flink_job_jars(settings.jars_dir)
    _stage_local_flink(settings)
    env_settings = (EnvironmentSettings.in_streaming_mode() if streaming
                    else EnvironmentSettings.in_batch_mode())
    t_env = TableEnvironment.create(env_settings)
    conf = t_env.get_config()
    values = job_settings()
    values.update({
        "pipeline.jars": ";".join(p.as_uri() for p in jars),
        "execution.checkpointing.dir": (settings.home / "checkpoints").as_uri(),
        "execution.checkpointing.savepoint-dir": (settings.home / "savepoints").as_uri(),
        "python.executable": sys.executable,
        "python.client.executable": sys.executable,
        "table.local-time-zone": "UTC",
    })
    values.update(extra or {})
    for key, value in values.items():
        conf.set(key, value)
    os.environ.setdefault("PYFLINK_CLIENT_EXECUTABLE", sys.executable)
    return t_env
