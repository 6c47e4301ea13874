"""Where the command line prints: ``out`` for results, ``err`` for warnings and errors.

Lines are not wrapped; the tables fit the terminal, or are plain lines when piped (terminal_tables).
The commands look these up here when they print, so a test may put a console of a given width in.
"""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
