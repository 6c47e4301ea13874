"""Dolibarr REST API access: the only package that imports httpx."""

from dolirelance.dolibarr.client import DolibarrClient

__all__ = ["DolibarrClient"]
