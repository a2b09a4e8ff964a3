"""The JVM parts (Kafka broker, Flink connectors) fetched by Maven into a cache outside git."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
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


JAVA_SOURCES = PROJECT_ROOT / "udfs" / "java"


def _sources_digest(flink_version: str) -> str:
    """Of the sources and of the Flink they compile against (an upgrade rebuilds the jar)."""
    digest = hashlib.sha256(flink_version.encode() + b"\0")
    for path in sorted(p for p in JAVA_SOURCES.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(JAVA_SOURCES)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def format_jar(jars_dir: Path, quiet: bool = False) -> Path:
    """The project's own Flink format (udfs/java), compiled once per source change into the cache.

    Plain javac + jar against the Flink jars PyFlink ships and the cached flink
    set: nothing to download, and the jar never enters git.
    """
    import pyflink  # the wheel's lib/ holds the Flink API jars
    from pyflink.version import __version__ as flink_version

    out_dir = jar_dir(jars_dir, "aforo")
    target = out_dir / f"aforo-flink-{_sources_digest(flink_version)}.jar"
    if target.exists():
        return target
    javac = require_tool("javac", "a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless)")
    jar = require_tool("jar", "a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless)")
    ensure_jars(jars_dir, ("flink",), quiet=quiet)

    classpath = [str(Path(pyflink.__file__).parent / "lib" / "*"), str(jar_dir(jars_dir, "flink") / "*")]
    if not quiet:
        print(f"compiling udfs/java into {target}", file=sys.stderr)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        classes = Path(tmp) / "classes"
        sources = sorted(str(p) for p in JAVA_SOURCES.rglob("*.java"))
        _run([javac, "--release", "17", "-nowarn", "-d", str(classes), "-cp", os.pathsep.join(classpath), *sources])
        shutil.copytree(JAVA_SOURCES / "META-INF", classes / "META-INF")
        staged = Path(tmp) / target.name
        _run([jar, "cf", str(staged), "-C", str(classes), "."])
        for old in out_dir.glob("aforo-flink-*.jar"):
            old.unlink()
        staged.replace(target)
    return target


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {result.returncode}):\n"
                           + (result.stdout + result.stderr)[-3000:])


def flink_job_jars(jars_dir: Path) -> list[Path]:
    """Everything a job hands Flink as pipeline.jars: the connectors and the project's format."""
    ensure_jars(jars_dir, ("flink",))
    return [*jar_paths(jars_dir, "flink"), format_jar(jars_dir)]
