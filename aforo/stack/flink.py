"""A standalone Flink session cluster run from the apache-flink wheel's own bin/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyflink

from aforo.flinkconf import stage_config
from aforo.settings import Settings
from aforo.stack.process import StackError, port_open

WHEEL_HOME = Path(pyflink.__file__).resolve().parent


@dataclass(frozen=True)
class FlinkCluster:
    settings: Settings

    @property
    def dir(self) -> Path:
        return self.settings.home / "flink"

    @property
    def conf_dir(self) -> Path:
        return self.dir / "conf"

    @property
    def rest_url(self) -> str:
        return f"http://localhost:{self.settings.flink.rest_port}"

    def env(self) -> dict[str, str]:
        for sub in ("log", "pids"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(
            FLINK_CONF_DIR=str(self.conf_dir),
            FLINK_LIB_DIR=str(self._stage_lib()),
            FLINK_LOG_DIR=str(self.dir / "log"),
            FLINK_PID_DIR=str(self.dir / "pids"),
            PYFLINK_CLIENT_EXECUTABLE=sys.executable,
        )
        return env

    def _stage_lib(self) -> Path:
        """lib/ = the wheel's lib plus flink-python (kept in opt/ by the wheel)."""
        lib = self.dir / "lib"
        lib.mkdir(parents=True, exist_ok=True)
        wanted = list((WHEEL_HOME / "lib").glob("*.jar")) + list((WHEEL_HOME / "opt").glob("flink-python*.jar"))
        for jar in wanted:
            link = lib / jar.name
            if not link.exists():
                link.symlink_to(jar)
        return lib

    def stage(self) -> Path:
        f = self.settings.flink
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties",
                     "log4j-session.properties"):
            target = self.conf_dir / name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes((WHEEL_HOME / "conf" / name).read_bytes())
        return stage_config(self.conf_dir, {
            "rest.port": str(f.rest_port),
            "jobmanager.rpc.port": str(f.rpc_port),
            "taskmanager.numberOfTaskSlots": str(f.taskmanager_slots),
            "execution.checkpointing.dir": (self.settings.home / "checkpoints").as_uri(),
            "execution.checkpointing.savepoint-dir": (self.settings.home / "savepoints").as_uri(),
            "python.executable": sys.executable,
            "python.client.executable": sys.executable,
        })

    def _script(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(WHEEL_HOME / "bin" / name), *args],
                              env=self.env(), capture_output=True, text=True)

    def pids(self, role: str) -> list[int]:
        """Live pids of 'standalonesession' (JobManager) or 'taskexecutor' processes."""
        # flink-daemon.sh names it flink-$USER-<role>.pid ($USER may be empty).
        lines = []
        for path in (self.dir / "pids").glob(f"flink-*-{role}.pid"):
            lines += path.read_text().split()
        live = []
        for line in lines:
            pid = int(line)
            try:
                # Flink passes -Dlog.file=<our log dir>/...: tells our daemons apart.
                if str(self.dir / "log").encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    live.append(pid)
            except FileNotFoundError:
                continue
        return live

    def overview(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"{self.rest_url}/overview", timeout=2) as resp:
                return json.load(resp)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def status(self) -> str:
        jm, tm = self.pids("standalonesession"), self.pids("taskexecutor")
        if not jm and not tm:
            return "stopped"
        ov = self.overview()
        if ov is None:
            return f"unhealthy (jobmanager pids {jm}, taskmanager pids {tm}; REST {self.rest_url} not answering)"
        return (f"running (jobmanager {jm}, taskmanager {tm}, {ov.get('taskmanagers')} taskmanager(s), "
                f"{ov.get('slots-available')}/{ov.get('slots-total')} slots free, UI {self.rest_url})")

    @property
    def _ports_file(self) -> Path:
        # Written when `up` starts the JobManager: the staged config is rewritten by every job start.
        return self.dir / "pids" / "ports"

    def _running_ports(self) -> str | None:
        try:
            return self._ports_file.read_text().strip()
        except OSError:
            return None

    def up(self) -> str:
        f = self.settings.flink
        ports = f"REST port {f.rest_port}, RPC port {f.rpc_port}"
        running = self._running_ports() if self.pids("standalonesession") else None
        if running not in (None, ports):
            # else a changed port would be waited on for start_timeout_s, then called unhealthy
            raise StackError(f"the Flink cluster of {self.dir} runs on {running}, not on the settings' {ports}: "
                             "`aforo stack down`, then `aforo stack up --flink` to apply them")
        self.stage()
        if not self.pids("standalonesession"):
            if port_open("localhost", self.settings.flink.rest_port):
                raise StackError(f"port {self.settings.flink.rest_port} is taken by a process this "
                                   "stack did not start; set flink.rest_port in aforo.yaml")
            self._check(self._script("jobmanager.sh", "start"))
            self._ports_file.write_text(ports)
        if not self.pids("taskexecutor"):
            self.start_taskmanager()
        self.wait_healthy()
        return self.status()

    def start_taskmanager(self) -> None:
        self._check(self._script("taskmanager.sh", "start"))

    def _check(self, result: subprocess.CompletedProcess[str]) -> None:
        if result.returncode != 0:
            raise StackError(f"Flink script failed: {result.stdout}{result.stderr}; logs in {self.dir / 'log'}")

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + self.settings.flink.start_timeout_s
        while time.monotonic() < deadline:
            ov = self.overview()
            if ov and int(ov.get("taskmanagers", 0)) >= 1:  # type: ignore[call-overload]
                return
            time.sleep(1)
        raise StackError(f"Flink cluster not healthy after {self.settings.flink.start_timeout_s}s; "
                           f"logs in {self.dir / 'log'}")

    def down(self) -> bool:
        stopped = False
        for script, role in (("taskmanager.sh", "taskexecutor"), ("jobmanager.sh", "standalonesession")):
            if self.pids(role):
                self._script(script, "stop-all" if role == "taskexecutor" else "stop")
                stopped = True
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (self.pids("taskexecutor") or self.pids("standalonesession")):
            time.sleep(0.5)
        return stopped
