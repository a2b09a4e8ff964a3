"""The catalog as the collector sees it: credential -> tenant, re-read when its files change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from aforo.catalog import Catalog, CatalogError, load_catalog

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
        self.catalog: Catalog = load_catalog(root)
        self._checked = time.monotonic()

    def tenant_for(self, credential: str) -> str | None:
        return self.catalog.tenant_for_credential(credential)

    def maybe_reload(self) -> bool:
        if self.reload_s <= 0 or time.monotonic() - self._checked < self.reload_s:
            return False
        self._checked = time.monotonic()
        signature = _signature(self.root) if self.root.is_dir() else (0, 0.0)
        if signature == self._signature:
            return False
        self._signature = signature
        try:
            self.catalog = load_catalog(self.root)
        except CatalogError as exc:
            log.error("catalog reload failed, keeping the previous one: %s", "; ".join(exc.errors))
            self._on_reload("failed")
            return False
        log.info("catalog reloaded from %s", self.root)
        self._on_reload("ok")
        return True
