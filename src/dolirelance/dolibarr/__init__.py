"""Dolibarr REST API access: the only package that imports httpx."""

from dolirelance.dolibarr.client import DolibarrClient, login_for_key

__all__ = ["DolibarrClient", "login_for_key"]
