"""`aforo leakage`: usage nobody is billed for, and what was dead-lettered."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click


@click.command()
@click.option("--no-dead-letters", is_flag=True, help="Skip reading the dead-letter topic.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def leakage(obj, no_dead_letters: bool, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """List unbilled usage (no customer, a metric the plan does not price, usage before
    the customer's billing_start, or a charge out of range) and dead letters.

    Judged by the catalog as it is now, as the close bills: usage streamed before a
    customer was added is billed by the close, and not listed. Exits 1 when the
    dead-letter topic cannot be read (the rest of the report is printed)."""
    from aforo.leakage import leakage as build_report

    report = build_report(obj.get(), with_dead_letters=not no_dead_letters)
    dead = report.dead_letters
    if as_json:
        click.echo(json.dumps({
            "leaks": [{**asdict(leak), "quantity": str(leak.quantity)} for leak in report.leaks],
            "dead_letters": None if dead is None else [
                {"what": w, "count": n, "example": e} for w, n, e in dead],
            "dead_letters_error": report.dead_letters_error,
        }, default=str, indent=1))
    else:
        click.echo(f"{'tenant':<16} {'metric':<18} {'why':<32} {'events':>9} {'quantity':>22}  hours")
        for leak in report.leaks:
            click.echo(f"{leak.tenant_id:<16} {leak.metric:<18} {leak.why:<32} {leak.events:>9,} "
                       f"{format(leak.quantity.normalize(), 'f'):>22}  {leak.first_hour} .. {leak.last_hour}")
        if not report.leaks:
            click.echo("(no unbilled usage)")
        if dead is not None:
            click.echo(f"\ndead letters: {sum(n for _, n, _ in dead):,}")
            for what, n, example in dead:
                click.echo(f"  {n:>8,}  {what:<18} e.g. {example[:90]}")
    if report.dead_letters_error:
        click.echo(f"error: {report.dead_letters_error}", err=True)
        sys.exit(1)


commands = [leakage]
