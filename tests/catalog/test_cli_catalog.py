"""`aforo catalog validate` through click's runner, and the commands registered in `aforo`."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from aforo.catalog import load_catalog
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


def test_the_revisions_in_the_pricing_guide_are_those_of_its_catalogs(example_copy: Path) -> None:
    # the guide prints the example catalog's revision, and that of a copy with its halfcent plan
    guide = (EXAMPLE.parent / "docs" / "pricing.md").read_text()
    halfcent = re.search(r"```yaml\n(key: halfcent\n.*?)```", guide, re.S)
    assert halfcent is not None
    (example_copy / "plans" / "halfcent.yaml").write_text(halfcent.group(1))
    with_halfcent = load_catalog(example_copy).revision
    example = load_catalog(EXAMPLE).revision
    shown = re.findall(r"(?:catalog |revision: +|\"catalog_revision\": \")([0-9a-f]{12})\b", guide)
    assert shown.count(example) == 4 and shown.count(with_halfcent) == 2, (shown, example)
    assert len(shown) == 6
