"""A copy of the example catalog that a test may break, file by file."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from aforo.catalog import CatalogError, load_catalog

EXAMPLE = Path(__file__).resolve().parents[2] / "catalog"

@pytest.fixture
def example_copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(EXAMPLE, root)
    return root


@pytest.fixture
def load_errors(example_copy: Path) -> Callable[..., list[str]]:
    """Write files into the copy (`plans__x_yaml` is plans/x.yaml), load it, return the errors."""

    def write_and_load(**files: str) -> list[str]:
        for name, text in files.items():
            path = example_copy / name.replace("__", "/").replace("_yaml", ".yaml")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        with pytest.raises(CatalogError) as info:
            load_catalog(example_copy)
        assert str(info.value) == "\n".join(info.value.errors)
        return info.value.errors

    return write_and_load
