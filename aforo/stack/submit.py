"""Submit a PyFlink job file to a running Flink cluster with `flink run -py`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aforo.settings import PROJECT_ROOT, Settings
from aforo.stack.flink import WHEEL_HOME, FlinkCluster

# Shipped with every job, so a remote TaskManager's Python finds the UDFs and the
# pricing library (-pyfs puts them on the workers' PYTHONPATH).
SHIPPED_PACKAGES = ("aforo", "jobs", "udfs")


def flink_run_command(script: Path, jobmanager: str, job_args: list[str],
                      detached: bool = False) -> list[str]:
    cmd = ["bash", str(WHEEL_HOME / "bin" / "flink"), "run", "-m", jobmanager]
    if detached:
        cmd.append("--detached")
    cmd += [
        "-py", str(script),
        "-pyfs", ",".join(str(PROJECT_ROOT / p) for p in SHIPPED_PACKAGES),
        "-pyexec", sys.executable,
        "-pyclientexec", sys.executable,
        *job_args,
    ]
    return cmd


def submit(settings: Settings, script: Path, jobmanager: str, job_args: list[str],
           detached: bool = False, timeout_s: float | None = None) -> subprocess.CompletedProcess[str]:
    cluster = FlinkCluster(settings)
    cluster.stage()
    env = cluster.env()
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return subprocess.run(flink_run_command(script, jobmanager, job_args, detached),
                          env=env, capture_output=True, text=True, timeout=timeout_s, cwd=PROJECT_ROOT)
