"""F3 quiet hours: no proactive message in the configured local windows
(night, meals); a message due then waits for the next allowed minute."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from typing import Iterable, List, Tuple
from zoneinfo import ZoneInfo

WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_window(text: str) -> Tuple[time, time]:
    m = WINDOW_RE.match(str(text))
    if not m or int(m[1]) > 23 or int(m[3]) > 24 or int(m[2]) > 59 or int(m[4]) > 59:
        from followup.config import ConfigError

        raise ConfigError(f"followups.quiet_hours.windows: expected 'HH:MM-HH:MM', got {text!r}")
    end = time(0, 0) if int(m[3]) == 24 else time(int(m[3]), int(m[4]))
    return time(int(m[1]), int(m[2])), end


class QuietHours:
    def __init__(self, windows: Iterable[str], tz: str = "Asia/Shanghai", enabled: bool = True) -> None:
        self.windows: List[Tuple[time, time]] = [parse_window(w) for w in windows] if enabled else []
        self.tz = ZoneInfo(tz)

    def _window_end(self, local: datetime):
        """The end of the quiet window `local` falls in, or None."""
        t = local.time()
        day = local.date()
        for start, end in self.windows:
            if start <= end:  # same day: 11:30-13:00
                if start <= t < end:
                    return datetime.combine(day, end, local.tzinfo)
            elif t >= start:  # over midnight: 22:00-07:00, late part
                return datetime.combine(day + timedelta(days=1), end, local.tzinfo)
            elif t < end:  # early part
                return datetime.combine(day, end, local.tzinfo)
        return None

    def quiet(self, at: datetime) -> bool:
        return self._window_end(at.astimezone(self.tz)) is not None

    def next_allowed(self, at: datetime) -> datetime:
        """`at` itself when allowed, else the end of the quiet window(s) it falls in (UTC)."""
        local = at.astimezone(self.tz)
        for _ in range(len(self.windows) + 2):  # adjacent windows chain
            end = self._window_end(local)
            if end is None:
                return local.astimezone(timezone.utc)
            # combine() with a ZoneInfo keeps wall time; normalise through UTC
            local = end.astimezone(timezone.utc).astimezone(self.tz)
        return local.astimezone(timezone.utc)
