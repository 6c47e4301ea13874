"""Files written whole or not at all. Leaf module."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: bytes) -> None:
    """The file is either absent or complete: written beside it, flushed, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part", delete=False) as f:
        partial = Path(f.name)
        try:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            f.close()
            partial.unlink(missing_ok=True)
            raise
    try:
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
