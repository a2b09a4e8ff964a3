"""Aforo: meter API calls at the gateway, price them exactly, invoice them once."""

__version__ = "0.1.0"
