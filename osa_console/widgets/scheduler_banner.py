"""The banner shown while the scheduler does not answer: what failed and how old the data is."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.widgets import Static

from osa_console.render import age, clock_time, seconds_between
from osa_core.model.snapshot import NightSnapshot


def banner_text(snapshot: NightSnapshot, now: dt.datetime) -> Text:
    health = snapshot.health
    last_ok = health.last_ok
    if last_ok is None:
        since = "no good snapshot yet: the tables show the ledger as last recorded"
    else:
        since = (
            f"the tables show the last good snapshot, from {clock_time(last_ok)} UTC "
            f"({age(seconds_between(now, last_ok))} ago)"
        )
    return Text.assemble(
        ("⚠ SCHEDULER NOT ANSWERING", "bold"),
        f": {health.error or 'no answer'}\n",
        f"{since}. The console keeps working and retries; actions may fail until it answers.",
    )


class SchedulerBanner(Static):
    DEFAULT_CSS = """
    SchedulerBanner {
        height: auto; padding: 0 1; display: none;
        background: $banner-background; color: $text; text-style: bold;
    }
    SchedulerBanner.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._text = Text("")

    def show(self, snapshot: NightSnapshot | None, now: dt.datetime) -> None:
        unhealthy = snapshot is not None and not snapshot.health.ok
        self.set_class(unhealthy, "-shown")
        if unhealthy:
            assert snapshot is not None
            text = banner_text(snapshot, now)
            if text != self._text:  # a Static update re-lays the screen out: only on change
                self._text = text
                self.update(text)
