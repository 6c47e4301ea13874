"""Ids and refs as Dolibarr gives them: one id sequence per table, customer codes, proposal refs."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime


class Numbering:
    """The next id of each table, and the numbering modules of a default install (monkey, marbre)."""

    def __init__(self) -> None:
        self._counters: Counter[str] = Counter()
        self._highest_ref_number: int | None = None

    def next_id(self, table: str) -> int:
        self._counters[table] += 1
        return self._counters[table]

    def customer_code(self, local_now: datetime, codes: Iterable[str]) -> str:
        """mod_codeclient_monkey: ``CU{yy}{mm}-{nnnnn}``, counted among the ``codes`` given so far."""
        prefix = local_now.strftime("CU%y%m-")
        count = sum(1 for code in codes if code.startswith(prefix))
        return f"{prefix}{count + 1:05d}"

    def proposal_ref(self, local_now: datetime, refs: Iterable[str]) -> str:
        """mod_propale_marbre: ``PR{yymm of now}-{global sequence}``.

        The highest number is kept rather than searched (``refs`` are read once, at the first ref),
        so that seeding thousands of proposals stays linear.
        """
        if self._highest_ref_number is None:
            self._highest_ref_number = 0
            for ref in refs:
                match = re.fullmatch(r"PR\d{4}-(\d+)", ref)
                if match:
                    self._highest_ref_number = max(self._highest_ref_number, int(match.group(1)))
        self._highest_ref_number += 1
        return f"PR{local_now.strftime('%y%m')}-{self._highest_ref_number:04d}"
