"""The web pages of dolirelance (Relance massive, Nouvelle relance, Suivi, À relancer)."""

from dolirelance.web.app import create_web_app, serve_web

__all__ = ["create_web_app", "serve_web"]
