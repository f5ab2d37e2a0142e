"""Which night is it now: the one date every front end opens when none is given.

A night is named by the date on which it starts (UTC), and it crosses midnight: until the
configured boundary hour the night in progress (or just ended) is the one that began yesterday.
"""

from __future__ import annotations

import datetime as dt


def current_night(now: dt.datetime, day_boundary_hour: int) -> dt.date:
    """The night in progress at ``now`` (UTC): before the boundary hour it is yesterday's."""
    return (now - dt.timedelta(hours=day_boundary_hour)).date()
