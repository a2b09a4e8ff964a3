"""`aforo stack up|down|status` and `aforo jars`."""

from __future__ import annotations

import sys

import click

from aforo.jars import JAR_SETS, ensure_jars, format_jar
from aforo.stack.flink import FlinkCluster
from aforo.stack.kafka import KafkaBroker


@click.group()
def stack() -> None:
    """The local Kafka broker (and, with --flink, a standalone Flink cluster)."""


@stack.command()
@click.option("--flink", is_flag=True, help="Also start a standalone Flink session cluster.")
@click.pass_obj
def up(obj, flink: bool) -> None:  # type: ignore[no-untyped-def]
    """Start what is not running yet; safe to run twice."""
    settings = obj.get()
    click.echo(f"kafka: {KafkaBroker(settings).up()}")
    if flink:
        ensure_jars(settings.jars_dir, ("flink",))
        click.echo(f"flink: {FlinkCluster(settings).up()}")


@stack.command()
@click.pass_obj
def down(obj) -> None:  # type: ignore[no-untyped-def]
    """Stop only what `up` started (pid files)."""
    settings = obj.get()
    flink = FlinkCluster(settings).down()
    kafka = KafkaBroker(settings).down()
    click.echo(f"flink: {'stopped' if flink else 'was not running'}")
    click.echo(f"kafka: {'stopped' if kafka else 'was not running'}")


@stack.command()
@click.pass_obj
def status(obj) -> None:  # type: ignore[no-untyped-def]
    """Show each service; exit 1 if the broker is not running and healthy."""
    settings = obj.get()
    kafka = KafkaBroker(settings).status()
    click.echo(f"kafka: {kafka}")
    click.echo(f"flink: {FlinkCluster(settings).status()}")
    if not kafka.startswith("running"):
        sys.exit(1)


@click.command()
@click.pass_obj
def jars(obj) -> None:  # type: ignore[no-untyped-def]
    """Fetch the Kafka and Flink jars from Maven Central and build udfs/java (cached outside git)."""
    settings = obj.get()
    ensure_jars(settings.jars_dir, JAR_SETS)
    format_jar(settings.jars_dir)
    click.echo(f"jars ready in {settings.jars_dir}")


commands = [stack, jars]
