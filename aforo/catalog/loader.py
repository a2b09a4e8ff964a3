"""Loading a catalog folder: read every file, validate each, then cross-check them.

    catalog/
      metrics/*.yaml     one metric per file
      plans/*.yaml       one plan per file, with its versions
      customers/*.yaml   one customer per file

Every problem in every file is collected before anything is raised, each line
naming the file (relative to the folder), the path in it, and the value.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml

from aforo.catalog.catalog import Catalog
from aforo.catalog.customers import read_customer
from aforo.catalog.errors import CatalogError
from aforo.catalog.metrics import read_metric
from aforo.catalog.model import Customer, Known
from aforo.catalog.plans import read_plan
from aforo.catalog.yamlio import load_yaml

KINDS = ("metrics", "plans", "customers")
T = TypeVar("T")


@dataclass
class _Kind(Generic[T]):
    """The files of one kind once read: valid values, their files, every key seen."""

    values: dict[str, T] = field(default_factory=dict)
    places: dict[str, str] = field(default_factory=dict)
    keys: set[str] = field(default_factory=set)


def load_catalog(path: str | os.PathLike[str]) -> Catalog:
    """Load and validate the catalog folder at `path`; CatalogError lists every problem."""
    root = Path(path)
    if not root.is_dir():
        raise CatalogError(f"{root}: catalog folder does not exist")
    errors: list[str] = []
    files = {kind: _files(root / kind) for kind in KINDS}
    digest = hashlib.sha256()
    for kind in KINDS:
        for file in files[kind]:
            digest.update(f"{kind}/{file.name}".encode() + b"\0" + file.read_bytes() + b"\0")

    # Metrics first, then plans (which name metrics), then customers (which name
    # plans, charges and metrics): each reader cross-checks against what came before.
    metrics = _read_all(root, files["metrics"], "key", read_metric, errors, "metric key")
    known = Known(metrics=metrics.values, metric_keys=frozenset(metrics.keys))
    plans = _read_all(
        root, files["plans"], "key", lambda doc, errs: read_plan(doc, errs, known), errors,
        "plan key",
    )
    known = replace(known, plans=plans.values, plan_keys=frozenset(plans.keys))
    customers = _read_all(
        root, files["customers"], "tenant_id",
        lambda doc, errs: read_customer(doc, errs, known), errors, "tenant_id",
    )
    credentials = _credentials(customers, errors)
    if errors:
        raise CatalogError(errors)
    catalog = Catalog(
        root=root,
        revision=digest.hexdigest()[:12],
        metrics=metrics.values,
        plans=plans.values,
        customers=customers.values,
        credentials=credentials,
    )
    _check_billing_starts(catalog, customers.places)
    return catalog


def _check_billing_starts(catalog: Catalog, places: dict[str, str]) -> None:
    """A billing_start whose period runs out of datetime's years (0001-01-01 anchored on
    the 15th starts in December of year 0) would fail every close, not the load."""
    errors = []
    for tenant, customer in catalog.customers.items():
        if customer.billing_start is None:
            continue
        try:
            catalog.billing_from(tenant)
        except (OverflowError, ValueError):
            errors.append(f"{places[tenant]}: billing_start: its billing period is out of"
                          f" range (years 1 to 9999) (got {customer.billing_start.isoformat()})")
    if errors:
        raise CatalogError(errors)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir()
        if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file()
    )


def _read_all(
    root: Path,
    files: list[Path],
    key_field: str,
    read: Callable[[Any, list[str]], T | None],
    errors: list[str],
    noun: str,
) -> _Kind[T]:
    """Read every file of one kind, prefixing each problem with the file's name."""
    kind: _Kind[T] = _Kind()
    for file in files:
        where = file.relative_to(root).as_posix()
        document = _document(file, where, errors)
        if document is None:
            continue
        if isinstance(document, Mapping) and isinstance(document.get(key_field), str):
            kind.keys.add(document[key_field])
        mine: list[str] = []
        value = read(document, mine)
        errors.extend(f"{where}: {line}" for line in mine)
        if value is None:
            continue
        key = getattr(value, key_field)
        if key in kind.values:
            errors.append(f"{where}: duplicate {noun} {key!r}, already in {kind.places[key]}")
            continue
        kind.values[key] = value
        kind.places[key] = where
    return kind


def _document(file: Path, where: str, errors: list[str]) -> Any:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{where}: cannot be read: {exc}")
        return None
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        errors.append(f"{where}: not valid YAML: {detail}")
        return None
    if document is None:
        errors.append(f"{where}: (top level): the file is empty")
        return None
    return document


def _credentials(customers: _Kind[Customer], errors: list[str]) -> dict[str, str]:
    """Every API key and gateway consumer id -> its tenant; each maps to one tenant only."""
    owners: dict[str, tuple[str, str]] = {}
    for tenant, customer in customers.values.items():
        where = customers.places[tenant]
        for name in ("api_keys", "gateway_consumers"):
            for index, credential in enumerate(getattr(customer, name)):
                owner = owners.get(credential)
                if owner is not None:
                    errors.append(
                        f"{where}: {name}[{index}]: credential already maps to tenant"
                        f" {owner[0]} ({owner[1]}); a credential maps to one tenant only"
                        f" (got {credential!r})"
                    )
                    continue
                owners[credential] = (tenant, f"{where} {name}[{index}]")
    return {credential: tenant for credential, (tenant, _) in owners.items()}
