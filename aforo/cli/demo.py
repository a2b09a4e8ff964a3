"""`aforo demo`: the pipeline end to end on embedded defaults."""

from __future__ import annotations

import click

from aforo.cli.events import generate, read
from aforo.stack.kafka import KafkaBroker


@click.command()
@click.option("--events", "-n", default=20_000, show_default=True)
@click.pass_context
def demo(ctx: click.Context, events: int) -> None:
    """Start the stack, send generated traffic, and show what arrived."""
    settings = ctx.obj.get()
    click.echo(f"== 1. stack: kafka {KafkaBroker(settings).up()}")
    click.echo(f"== 2. generating {events:,} events (duplicates, late, out-of-order, malformed)")
    ctx.invoke(generate, events=events)
    click.echo("== 3. reading the topic back")
    ctx.invoke(read)


commands = [demo]
