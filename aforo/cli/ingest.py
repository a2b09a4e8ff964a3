"""`aforo ingest serve` and `aforo keys create|list|revoke` (defined in ingest.cli)."""

from __future__ import annotations

from ingest.cli import ingest, keys

commands = [ingest, keys]
