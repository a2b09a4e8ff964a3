"""The period close's own settings: grace period, issuers, numbering, templates.

Read from a YAML file (`aforo close --invoicing-config FILE`, or the file named
by AFORO_INVOICING_CONFIG); every field has a default, so no file is needed.
Where the data and the billing database live comes from the project settings
(`settings.data_dir`, `settings.home / "billing.duckdb"`).

    grace_hours: 24
    default_issuer: aforo
    issuers:
      aforo:
        name: Aforo Billing Ltd
        address: "1 Meter Street\\nLisbon, Portugal"
        email: billing@aforo.example
        tax_id: PT500000000
        payment_instructions: "IBAN PT50 0000 0000 0000 0000 0000 0"
        logo: logo.png            # relative to templates_dir
        colours: {primary: "#1f3a5f", accent: "#e8eef5"}
    customer_issuers: {initech: aforo}
    templates_dir: /etc/aforo/invoice-templates   # <dir>/<issuer>/invoice.html.j2 overrides
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aforo.settings import ConfigError, format_validation_error, read_stage_config

_COLOUR = re.compile(r"#[0-9A-Fa-f]{3}(?:[0-9A-Fa-f]{3})?")
_PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,9}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Colours(_Strict):
    primary: str = "#1f3a5f"
    accent: str = "#eef2f7"
    text: str = "#1b1f24"

    @field_validator("primary", "accent", "text")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _COLOUR.fullmatch(value):
            raise ValueError("must be a hex colour like #1f3a5f")
        return value


class Issuer(_Strict):
    """Who sends the invoices: printed on them, and the scope of their numbering."""

    name: str = "Aforo Billing"
    address: str = "1 Meter Street\nLisbon 1100-001\nPortugal"
    email: str = "billing@aforo.example"
    tax_id: str = ""
    payment_instructions: str = (
        "Bank transfer to IBAN PT50 0002 0123 1234 5678 9015 4 (BIC AFOROPTL),"
        " quoting the invoice number."
    )
    invoice_prefix: str = "INV"
    credit_note_prefix: str = "CN"
    due_days: int = Field(30, ge=0, le=365)
    locale: str = "en_US"
    logo: str = Field("", description="an image file, relative to templates_dir, or empty")
    colours: Colours = Field(default_factory=Colours)

    @field_validator("invoice_prefix", "credit_note_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.fullmatch(value):
            raise ValueError("must be 1-10 capital letters or digits, starting with a letter")
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        try:
            Locale.parse(value)
        except (ValueError, UnknownLocaleError):
            raise ValueError("not a locale Babel knows (like en_US, de_DE, pt_PT)") from None
        return value


def _default_issuers() -> dict[str, Issuer]:
    return {"aforo": Issuer()}


class InvoicingConfig(_Strict):
    grace_hours: float = Field(24.0, ge=0, description="late events join drafts this long after period end")
    default_issuer: str = "aforo"
    issuers: dict[str, Issuer] = Field(default_factory=_default_issuers)
    customer_issuers: dict[str, str] = Field(default_factory=dict)
    templates_dir: Path | None = None
    adjustment_lookback: int = Field(
        12, ge=0, le=120, description="earlier final invoices checked for late usage, in periods")
    lock_timeout_s: float = Field(600.0, ge=0, description="wait this long for another close")

    def issuer_of(self, tenant_id: str) -> str:
        return self.customer_issuers.get(tenant_id, self.default_issuer)

    def logo_path(self, issuer: Issuer) -> Path:
        """An issuer's logo file: relative to templates_dir when that is set."""
        path = Path(issuer.logo)
        if not path.is_absolute() and self.templates_dir is not None:
            path = self.templates_dir / path
        return path

    def check(self) -> None:
        """Cross-field checks pydantic cannot express per field."""
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            raise ValueError(f"templates_dir: no such folder {self.templates_dir}")
        missing = {self.default_issuer, *self.customer_issuers.values()} - set(self.issuers)
        if missing:
            raise ValueError(f"issuers: no issuer named {', '.join(sorted(missing))}")
        seen: dict[str, str] = {}
        for key, issuer in self.issuers.items():
            for prefix in (issuer.invoice_prefix, issuer.credit_note_prefix):
                if prefix in seen:
                    raise ValueError(
                        f"issuers.{key}: number prefix {prefix} is already used by"
                        f" issuers.{seen[prefix]} (numbers must be unique)")
                seen[prefix] = key
            if issuer.logo and not self.logo_path(issuer).is_file():
                raise ValueError(f"issuers.{key}.logo: no such file {self.logo_path(issuer)}")


def load_invoicing_config(path: str | os.PathLike[str] | None = None,
                          **overrides: Any) -> InvoicingConfig:
    """Load the close's settings; a bad file raises ConfigError naming file, path and value."""
    source, file, raw = read_stage_config(path, "AFORO_INVOICING_CONFIG", "invoicing")
    if file is not None:
        templates = raw.get("templates_dir")
        if isinstance(templates, str) and not Path(templates).is_absolute():
            raw["templates_dir"] = str(file.parent / templates)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        config = InvoicingConfig.model_validate(raw)
        config.check()
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from exc
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    return config
