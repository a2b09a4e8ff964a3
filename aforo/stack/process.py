"""Pid files for the daemons `aforo stack up` starts, so `down` stops only those."""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A service of the stack could not start: the message says why (a port taken, a log to read)."""


@dataclass(frozen=True)
class PidFile:
    path: Path
    # A word that must appear in the process's command line: guards against a
    # stale pid file whose pid the kernel has since given to another program.
    cmdline_marker: str

    def read(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, pid: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{pid}\n")

    def running_pid(self) -> int | None:
        """The pid if that process is alive and ours; a stale file is removed."""
        pid = self.read()
        if pid is None:
            return None
        if _is_ours(pid, self.cmdline_marker):
            return pid
        self.path.unlink(missing_ok=True)
        return None

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after the timeout. True if something was stopped."""
        pid = self.running_pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _is_ours(pid, self.cmdline_marker):
            time.sleep(0.2)
        if _is_ours(pid, self.cmdline_marker):
            os.kill(pid, signal.SIGKILL)
            while _is_ours(pid, self.cmdline_marker):
                time.sleep(0.1)
        self.path.unlink(missing_ok=True)
        return True


def _is_ours(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    # A zombie (state Z) has exited; it only waits to be reaped.
    state = stat.rsplit(")", 1)[1].split()[0]
    if state == "Z":
        return False
    # An empty cmdline is a process between fork and exec: ours, still starting.
    return not cmdline or marker.encode() in cmdline


def spawn_daemon(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> int:
    """Start a detached process (its own session) logging to a file; return its pid."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # posix_spawn, not Popen: nothing in this process waits on the daemon, which
    # outlives the command that started it.
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawnp(cmd[0], cmd, dict(os.environ if env is None else env),
                           file_actions=actions, setsid=True)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
