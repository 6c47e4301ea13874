"""Dolibarr REST API access: the only package that imports httpx."""

from dolirelance.dolibarr.client import DolibarrClient, Transport, login_for_key

__all__ = ["DolibarrClient", "Transport", "login_for_key"]
