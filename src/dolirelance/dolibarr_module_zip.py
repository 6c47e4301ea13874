"""The Dolibarr module shipped with dolirelance, as the zip Dolibarr installs (``dolirelance dolibarr-module``).

The module's files are package data under ``dolibarr_module/dolirelance/`` (PHP, language files). The
zip holds that one folder, ``dolirelance/``, as Dolibarr's « Déployer un module externe » page and its
``custom/`` folder expect, with the descriptor's version stamped with dolirelance's own. Entries are
written in name order with a fixed date, so one version always gives the same bytes.
"""

from __future__ import annotations

import re
import zipfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from dolirelance.errors import DolirelanceError

MODULE_NAME = "dolirelance"
DESCRIPTOR = "core/modules/modDolirelance.class.php"
_VERSION_LINE = re.compile(r"(\$this->version = ')[^']*(';)")
_ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # any fixed date: the zip's bytes depend on the files only


def module_source() -> Traversable:
    """The module's folder inside the installed package."""
    return files("dolirelance").joinpath("dolibarr_module", MODULE_NAME)


def zip_name(version: str) -> str:
    return f"module_{MODULE_NAME}-{version}.zip"


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in folder.iterdir():
        if entry.name in ("__pycache__",) or entry.name.startswith("."):
            continue
        path = f"{prefix}/{entry.name}"
        if entry.is_dir():
            found.extend(_walk(entry, path))
        else:
            found.append((path, entry))
    return found


def module_files() -> list[tuple[str, Traversable]]:
    """``(path in the zip, file)`` for every file of the module, in name order."""
    return sorted(_walk(module_source(), MODULE_NAME), key=lambda item: item[0])


def stamp_version(descriptor: str, version: str) -> str:
    """The descriptor with ``$this->version`` set to ``version``."""
    stamped, count = _VERSION_LINE.subn(lambda m: f"{m.group(1)}{version}{m.group(2)}", descriptor, count=1)
    if count != 1:  # the package itself is broken: not a user error, but say it plainly
        raise DolirelanceError(f"{DESCRIPTOR} has no `$this->version = '...';` line to stamp")
    return stamped


def build_module_zip(out_dir: Path, version: str) -> Path:
    """Write ``module_dolirelance-<version>.zip`` into ``out_dir`` (created if missing); return its path."""
    if not re.fullmatch(r"[0-9A-Za-z.+-]+", version):
        raise DolirelanceError(f"{version!r} cannot be a Dolibarr module version")
    target = out_dir / zip_name(version)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, source in module_files():
                data = source.read_bytes()
                if path == f"{MODULE_NAME}/{DESCRIPTOR}":
                    data = stamp_version(data.decode("utf-8"), version).encode("utf-8")
                info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
        partial.replace(target)  # never a half-written zip under the final name
    except OSError as exc:
        raise DolirelanceError(
            f"cannot write {target}: {exc.strerror or exc}",
            remedy="choose with --out a folder you may write to",
        ) from None
    return target
