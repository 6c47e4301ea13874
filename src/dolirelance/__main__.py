"""``python -m dolirelance``."""

from dolirelance.cli import run

run()
