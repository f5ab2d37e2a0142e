"""The banner for a scheduler that does not answer, and a console that keeps working meanwhile.

The local backend cannot be made unreachable from outside (it is a spool on this machine), so
the fault is injected one level down instead of faking the engine: the real engine runs over the
real local scheduler whose ``query`` raises :class:`SchedulerUnreachable` while switched off,
exactly as the SLURM backend does when ``sacct`` times out. Everything above that (the engine's
health, its snapshot, the console) is the real code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from conftest import DemoNight, wait_for

from osa_console.app import OsaConsole
from osa_console.screens.detail_screen import DetailScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.settings import ConsoleSettings
from osa_console.widgets.night_header import NightHeader
from osa_console.widgets.scheduler_banner import SchedulerBanner
from osa_core.engine import Engine
from osa_core.model.errors import SchedulerUnreachable
from osa_core.scheduler.base import TaskInfo
from osa_core.scheduler.local.backend import LocalScheduler


class SwitchableScheduler(LocalScheduler):
    answering = True

    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        if not self.answering:
            raise SchedulerUnreachable("sacct: timed out after 30 s (test: scheduler switched off)")
        return await super().query(names, since, job_ids)


async def test_unreachable_scheduler_banner(slow_night: DemoNight, live_settings: ConsoleSettings) -> None:
    # A night whose jobs still run: a finished night asks the scheduler nothing any more, so
    # it could not notice that the scheduler stopped answering (nor needs to).
    demo_night = slow_night
    config = demo_night.config
    scheduler = SwitchableScheduler(spool=config.paths.state / "local-scheduler", slots=8)
    app = OsaConsole(
        lambda: Engine(config, demo_night.date, scheduler=scheduler),
        live_settings,
        on_start=lambda e: e.submit(),
    )
    async with app.run_test(size=(170, 45)) as pilot:
        await wait_for(pilot, lambda: app.reports and app.snapshot and app.snapshot.sequences, 60, "the jobs")
        banner = app.screen.query_one(SchedulerBanner)
        assert not banner.has_class("-shown")

        scheduler.answering = False
        await pilot.press("r")
        await wait_for(pilot, lambda: banner.has_class("-shown"), 10, "the banner")
        text = str(banner.render())
        assert "SCHEDULER NOT ANSWERING" in text
        assert "timed out after 30 s" in text
        assert "last good snapshot, from" in text and " ago" in text
        assert "NOT ANSWERING" in str(app.screen.query_one(NightHeader).render())
        # The tables still show the last known states.
        assert app.snapshot is not None and app.snapshot.sequences

        # The console keeps working: drill down (the banner is there too) and back.
        await pilot.press("enter")
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.query_one(SchedulerBanner).has_class("-shown")
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)

        scheduler.answering = True
        await pilot.press("r")
        await wait_for(pilot, lambda: not banner.has_class("-shown"), 10, "the banner to go")
        assert "✔ ok" in str(app.screen.query_one(NightHeader).render())
