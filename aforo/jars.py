"""The JVM parts (Kafka broker, Flink connectors) fetched by Maven into a cache outside git."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from aforo.settings import PROJECT_ROOT

JAR_SETS = ("flink", "kafka")

# One jar a set must hold, so a half-finished copy is not taken for a cache.
_MARKERS = {"flink": "flink-sql-connector-kafka-", "kafka": "kafka_2.13-"}


class ToolMissing(Exception):
    """A program the stack needs is not installed; the message says what to install."""


def require_tool(name: str, install_hint: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ToolMissing(f"`{name}` was not found on PATH: install {install_hint}")
    return found


def jar_dir(jars_dir: Path, jar_set: str) -> Path:
    return jars_dir / jar_set


def is_cached(jars_dir: Path, jar_set: str) -> bool:
    d = jar_dir(jars_dir, jar_set)
    return d.is_dir() and any(p.name.startswith(_MARKERS[jar_set]) for p in d.glob("*.jar"))


def ensure_jars(jars_dir: Path, sets: tuple[str, ...] = JAR_SETS, quiet: bool = False) -> None:
    """Fetch any missing jar set with `mvn -P<set> dependency:copy-dependencies` (once)."""
    missing = [s for s in sets if not is_cached(jars_dir, s)]
    if not missing:
        return
    require_tool("java", "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    mvn = require_tool("mvn", "Apache Maven (Debian: apt-get install maven)")
    for jar_set in missing:
        if not quiet:
            print(f"fetching {jar_set} jars from Maven Central into {jar_dir(jars_dir, jar_set)}",
                  file=sys.stderr)
        cmd = [mvn, "-q", "-B", "-f", str(PROJECT_ROOT / "pom.xml"), f"-P{jar_set}",
               "dependency:copy-dependencies", f"-Djars.dir={jars_dir}"]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or not is_cached(jars_dir, jar_set):
            raise RuntimeError(
                f"mvn could not fetch the {jar_set} jars (exit {result.returncode}):\n"
                + (result.stdout + result.stderr)[-3000:]
            )


def jar_paths(jars_dir: Path, jar_set: str) -> list[Path]:
    return sorted(jar_dir(jars_dir, jar_set).glob("*.jar"))
