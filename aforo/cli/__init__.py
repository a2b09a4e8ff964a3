"""`aforo`: one command in front of every stage. Each stage adds its subcommands here."""

from __future__ import annotations

import importlib
import os
import sys

import click
from click.core import ParameterSource

from aforo.jars import ToolMissing
from aforo.settings import _ENV_OVERRIDES, _PATH_FIELDS, PROJECT_ROOT, ConfigError, load_settings
from aforo.stack.process import StackError

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


_PATH_VARIABLES = [var for var, keys in _ENV_OVERRIDES.items() if keys[0] in _PATH_FIELDS]


class AforoGroup(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (ConfigError, ToolMissing) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except StackError as exc:  # a port taken, a broker that exited: its message, not a traceback
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=AforoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", envvar="AFORO_CONFIG", default=None,
              help=f"Settings file, or AFORO_CONFIG (default: {PROJECT_ROOT / 'aforo.yaml'} "
                   "if present, else embedded defaults).")
@click.version_option(package_name="aforo")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Aforo: meter API calls, price them exactly, invoice them once."""
    from_env = ctx.get_parameter_source("config_path") is ParameterSource.ENVIRONMENT
    if config_path:
        # processes this command starts read AFORO_CONFIG, some from another folder
        # (`flink run -py jobs/metering.py` runs in the project root): a relative one would move
        os.environ["AFORO_CONFIG"] = os.path.abspath(config_path)
    for var in _PATH_VARIABLES:  # so too the folders: the settings take them from the current folder
        if os.environ.get(var):
            os.environ[var] = os.path.abspath(os.path.expanduser(os.environ[var]))
    ctx.obj = _LazySettings(config_path, "AFORO_CONFIG" if from_env else "--config")


class _LazySettings:
    """Settings loaded on first use, so `--help` works even with a broken file."""

    def __init__(self, path: str | None, named_by: str = "--config") -> None:
        self.path = path
        self.named_by = named_by  # a file the user named must exist; the error says how it was named
        self._settings = None

    def get(self):  # type: ignore[no-untyped-def]
        if self._settings is None:
            self._settings = load_settings(self.path, named_by=self.named_by if self.path else None)
        return self._settings


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).commands:
        cli.add_command(_command)


def main() -> None:
    cli(prog_name="aforo")
