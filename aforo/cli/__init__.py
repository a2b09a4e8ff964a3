"""`aforo`: one command in front of every stage. Each stage adds its subcommands here."""

from __future__ import annotations

import importlib
import sys

import click

from aforo.jars import ToolMissing
from aforo.settings import ConfigError, load_settings

# Modules that each define `commands` (a list of click commands/groups).
COMMAND_MODULES = [
    "aforo.cli.stack",
    "aforo.cli.events",
    "aforo.cli.pricing",
    "aforo.cli.demo",
    "aforo.cli.ingest",
    "aforo.cli.job",
    "aforo.cli.leakage",
    "aforo.cli.invoicing",
]


class AforoGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (ConfigError, ToolMissing) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=AforoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="AFORO_CONFIG", default=None,
              help="Settings file (default: ./aforo.yaml if present, else embedded defaults).")
@click.version_option(package_name="aforo")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Aforo: meter API calls, price them exactly, invoice them once."""
    ctx.obj = _LazySettings(config_path)


class _LazySettings:
    """Settings loaded on first use, so `--help` works even with a broken file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._settings = None

    def get(self):  # type: ignore[no-untyped-def]
        if self._settings is None:
            self._settings = load_settings(self.path)
        return self._settings


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="aforo")
