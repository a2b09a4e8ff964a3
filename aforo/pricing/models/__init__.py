"""The registry: one module per model, looked up by the name a price's `model` gives."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aforo.pricing.errors import PriceError
from aforo.pricing.models.base import PricingModel, QuantityModel, ValuesModel
from aforo.pricing.models.flat import Flat
from aforo.pricing.models.graduated import Graduated
from aforo.pricing.models.package import Package
from aforo.pricing.models.per_unit import PerUnit
from aforo.pricing.models.percentage import Percentage
from aforo.pricing.models.volume import Volume

MODELS: Mapping[str, type[PricingModel]] = MappingProxyType({
    cls.name: cls for cls in (PerUnit, Graduated, Volume, Package, Flat, Percentage)
})

# Names people reach for that mean a model under another name.
_ALIASES = {"tiered": "graduated", "unit": "per_unit", "perunit": "per_unit", "fixed": "flat"}


def unknown_model_message(name: object) -> str:
    hint = _ALIASES.get(name.lower()) if isinstance(name, str) else None
    known = ", ".join(sorted(MODELS))
    return f"unknown model (one of: {known})" + (f"; did you mean {hint}?" if hint else "")


def model_class(name: str) -> type[PricingModel]:
    """The model class for `name`; PriceError for any name not registered."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise PriceError(f"model: {unknown_model_message(name)} (got {name!r})") from None


__all__ = [
    "MODELS", "Flat", "Graduated", "Package", "PerUnit", "Percentage", "PricingModel",
    "QuantityModel", "ValuesModel", "Volume", "model_class", "unknown_model_message",
]
