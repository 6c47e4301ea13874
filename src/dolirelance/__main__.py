"""``python -m dolirelance``."""

from dolirelance.cli import main

main()
