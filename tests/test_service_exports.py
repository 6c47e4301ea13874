"""`dolirelance.service`'s one export table: what the lazy loader serves, what mypy sees, and ``__all__`` agree."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from dolirelance import service


def _typed_imports() -> dict[str, str]:
    """Each name the package imports under ``if TYPE_CHECKING:`` (what mypy sees), with its module."""
    tree = ast.parse(Path(service.__file__).read_text(encoding="utf-8"))
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
    ]
    assert len(blocks) == 1
    found: dict[str, str] = {}
    for statement in blocks[0].body:
        assert isinstance(statement, ast.ImportFrom) and statement.module is not None
        for alias in statement.names:
            assert alias.asname in (None, alias.name), alias.name  # the name is exported as it is
            found[alias.name] = statement.module
    return found


def test_the_names_mypy_sees_are_the_table() -> None:
    """The TYPE_CHECKING imports name the same names from the same modules as the table the loader reads."""
    assert _typed_imports() == service._MODULE_OF


def test_all_is_the_table_sorted() -> None:
    """``__all__`` lists every name of the table once, sorted; ``from dolirelance.service import *`` gives them."""
    assert service.__all__ == sorted(set(service._MODULE_OF))
    namespace: dict[str, object] = {}
    exec("from dolirelance.service import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(service._MODULE_OF)


def test_each_name_is_served_from_its_module() -> None:
    """The lazy loader gives the module's own object for every name, and says what is wrong for a name it lacks."""
    for name, module in service._MODULE_OF.items():
        assert getattr(service, name) is getattr(importlib.import_module(module), name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_use_case'"):
        getattr(service, "no_such_use_case")  # noqa: B009


def test_importing_the_package_imports_no_use_case() -> None:
    """The names are imported when first used, not with the package."""
    code = (
        "import sys, dolirelance.service\n"
        "print(sorted(m for m in sys.modules if m.startswith('dolirelance.service.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
