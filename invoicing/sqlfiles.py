"""The close's SQL lives in sql/close_*.sql and sql/invoice_*.sql, loaded by name."""

from __future__ import annotations

from functools import cache

from aforo.settings import PROJECT_ROOT

SQL_DIR = PROJECT_ROOT / "sql"


@cache
def load_sql(name: str) -> str:
    """The text of sql/<name>.sql (`close_windows`, `invoice_schema`, ...)."""
    if not name.startswith(("close_", "invoice_")):
        raise ValueError(f"{name!r}: the invoicing SQL files are close_* and invoice_*")
    return (SQL_DIR / f"{name}.sql").read_text()

