"""The fake server's clock and its dates: epochs as Dolibarr stores them, days in the server's time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo


class ServerClock:
    """Now, and the conversions between epochs, server-local days and the naive datetimes PHP prints."""

    tz: ZoneInfo
    _now: Callable[[], datetime]

    def now(self) -> datetime:
        return self._now()

    def now_epoch(self) -> int:
        return int(self._now().timestamp())

    def local_now(self) -> datetime:
        """Now as the server's local wall clock, naive (what ``dol_print_date`` and the numbering read)."""
        return datetime.fromtimestamp(self.now_epoch(), self.tz).replace(tzinfo=None)

    def epoch_of_day(self, day: date) -> int:
        """Server-local midnight of ``day``."""
        return int(datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp())

    def day_of_epoch(self, epoch: int) -> date:
        return datetime.fromtimestamp(epoch, self.tz).date()

    def local_naive(self, epoch: int | None) -> datetime | None:
        if epoch is None:
            return None
        return datetime.fromtimestamp(epoch, self.tz).replace(tzinfo=None)

    def midnight(self, epoch: int) -> int:
        return self.epoch_of_day(self.day_of_epoch(epoch))

    def _epoch_in(self, value: int | date | datetime | None) -> int | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, date):
            return self.epoch_of_day(value)
        return int(value)
