"""`aforo catalog validate` through click's runner, and the commands registered in `aforo`."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from aforo.cli.pricing import catalog

from .conftest import EXAMPLE


class _Settings:
    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self) -> SimpleNamespace:
        return SimpleNamespace(catalog_dir=self.root)


def test_validate_the_default_catalog_prints_a_summary() -> None:
    result = CliRunner().invoke(catalog, ["validate"], obj=_Settings(EXAMPLE))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"catalog {EXAMPLE}: ok"
    assert lines[1].split()[:2] == ["metrics:", "4"]
    assert lines[2].split()[:2] == ["plans:", "4"]
    assert lines[3].split()[:2] == ["customers:", "6"]
    assert lines[4].split()[0] == "revision:" and len(lines[4].split()[1]) == 12


def test_validate_prints_every_error_and_exits_1(example_copy: Path) -> None:
    (example_copy / "plans" / "free.yaml").write_text("key: free\ncurrency: USX\nversions: []\n")
    (example_copy / "customers" / "globex.yaml").unlink()
    (example_copy / "customers" / "x.yaml").write_text(
        "tenant_id: x\nname: X\nemail: x@x.example\nplan: gold\n")
    result = CliRunner().invoke(catalog, ["validate", str(example_copy)], obj=_Settings(EXAMPLE))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        ("plans/free.yaml: currency: not an ISO 4217 currency code (like USD, EUR, JPY)"
        " (got 'USX')"),
        "plans/free.yaml: versions: must hold at least one version",
        ("customers/x.yaml: plan: no plan with this key (plans: free, growth, payments,"
        " startup) (got 'gold')"),
    ]
    assert f"3 problems in catalog {example_copy}" in result.stderr


def test_commands_are_registered_in_aforo() -> None:
    from aforo.cli import cli

    assert {"catalog", "price"} <= set(cli.commands)
    result = CliRunner().invoke(cli, ["price", "--help"])
    assert result.exit_code == 0
    assert {"quote", "simulate"} <= set(result.stdout.split())
