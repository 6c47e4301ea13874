"""dolirelance: follow up open Dolibarr quotes by e-mail or letter, recorded back into Dolibarr."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dolirelance")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
