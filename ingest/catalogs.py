"""The catalog as the collector sees it: credential -> tenant and the quantities metrics
read, re-read when its files change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aforo.catalog import Catalog, CatalogError, load_catalog
from aforo.catalog.model import event_value
from ingest import fields

log = logging.getLogger("ingest.catalog")


def _signature(root: Path) -> tuple[int, float]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), max((p.stat().st_mtime for p in files), default=0.0)


class CatalogHolder:
    """The loaded catalog; `maybe_reload()` swaps in a new one when the folder
    changed and keeps the old one (and logs every problem) when it does not load."""

    def __init__(self, root: Path, reload_s: float = 10.0,
                 on_reload: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.reload_s = reload_s
        self._on_reload = on_reload or (lambda result: None)
        self._signature = _signature(root) if root.is_dir() else (0, 0.0)
        self._use(load_catalog(root))
        self._checked = time.monotonic()

    def _use(self, catalog: Catalog) -> None:
        self.catalog = catalog
        # Sorted: an event with two bad quantities always names the same one.
        self.quantity_fields = tuple(sorted(catalog.numeric_value_fields()))

    def tenant_for(self, credential: str) -> str | None:
        return self.catalog.tenant_for_credential(credential)

    def check_quantities(self, event: Mapping[str, Any]) -> None:
        """Refuse (EventError) an event the metering job would dead-letter whole for one of
        the quantities the catalog's metrics read, so the sender hears of it, not the job."""
        for name in self.quantity_fields:
            fields.quantity(name, event_value(event, name))

    def maybe_reload(self) -> bool:
        if self.reload_s <= 0 or time.monotonic() - self._checked < self.reload_s:
            return False
        self._checked = time.monotonic()
        signature = _signature(self.root) if self.root.is_dir() else (0, 0.0)
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            self._use(load_catalog(self.root))
        except CatalogError as exc:
            log.error("catalog reload failed, keeping the previous one: %s", "; ".join(exc.errors))
            self._on_reload("failed")
            return False
        log.info("catalog reloaded from %s", self.root)
        self._on_reload("ok")
        return True
