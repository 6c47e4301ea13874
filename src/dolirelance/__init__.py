"""dolirelance: follow up open Dolibarr quotes by e-mail or letter, recorded back into Dolibarr."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str
else:  # read from the installed metadata when first asked for (importlib.metadata costs ~40 ms at start-up)

    def __getattr__(name: str) -> str:
        if name != "__version__":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib.metadata import PackageNotFoundError, version

        global __version__
        try:
            __version__ = version("dolirelance")
        except PackageNotFoundError:  # running from a source tree that was not installed
            __version__ = "0.0.0"
        return __version__
