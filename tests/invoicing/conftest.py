"""Fixtures of the close's tests: the test catalog, a month of usage written once
per session as the metering job writes it, and a fresh Aforo home per test."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner, Result

from aforo.catalog import Catalog, load_catalog
from aforo.cli import invoicing as cli_invoicing
from aforo.cli import leakage as cli_leakage
from aforo.settings import Settings
from invoicing import InvoicingConfig, load_invoicing_config
from tests.invoicing.support import CATALOG, Event, usage_events, write_tables

# After November ended and its grace period passed; before initech's period ends.
DEC_3 = datetime(2026, 12, 3, tzinfo=UTC)
# hooli's billing starts inside its November period; initech's where its October period
# ends (local midnight in New York, 15 Nov 05:00 UTC): neither is billed for October.
BILLING_STARTS = {"hooli": "2026-11-10", "initech": "2026-11-15"}


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(CATALOG)


@pytest.fixture(scope="session")
def events() -> list[Event]:
    return usage_events()


@pytest.fixture(scope="session")
def written_tables(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog,
                   events: list[Event]) -> Path:
    data = tmp_path_factory.mktemp("metering") / "data"
    write_tables(data, catalog, events)
    return data


@pytest.fixture
def home(tmp_path: Path, written_tables: Path) -> Settings:
    """Settings of a fresh Aforo home holding a copy of the month's tables."""
    shutil.copytree(written_tables, tmp_path / "home" / "data")
    return Settings(home=tmp_path / "home", catalog_dir=CATALOG)


@pytest.fixture
def late_starts(home: Settings, tmp_path: Path) -> Settings:
    """`home` with a copy of the test catalog that gives hooli and initech a billing_start."""
    catalog = shutil.copytree(CATALOG, tmp_path / "catalog")
    for tenant, day in BILLING_STARTS.items():
        with (catalog / "customers" / f"{tenant}.yaml").open("a") as file:
            file.write(f"billing_start: {day}\n")
    return home.model_copy(update={"catalog_dir": catalog})


@pytest.fixture
def config() -> InvoicingConfig:
    return load_invoicing_config(None)


COMMANDS: dict[str, click.Command] = {c.name or "": c
                                     for c in [*cli_invoicing.commands, *cli_leakage.commands]}


def invoke(settings: Settings, name: str, args: list[str]) -> Result:
    """Run `aforo <name> <args>` (close, invoices, sql, leakage) in-process with these settings."""
    return CliRunner().invoke(COMMANDS[name], args, obj=SimpleNamespace(get=lambda: settings),
                              env={"AFORO_INVOICING_CONFIG": ""})


def aforo_env(settings: Settings) -> dict[str, str]:
    """The environment that points a real `aforo` process at these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFORO_")}
    return {**env, "AFORO_HOME": str(settings.home), "AFORO_CATALOG": str(settings.catalog_dir)}
