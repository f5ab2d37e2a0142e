"""A read-only console (what ``--serve`` gives a browser) refuses every action in the app itself.

The refusal is checked where the actions are dispatched, through every path that reaches them
(the keys of the overview and of the detail, and the command palette's app actions), against
the real engine on the real local backend: the ledger must show no new submission.
"""

from __future__ import annotations

import dataclasses

from conftest import DemoNight, demo_app, wait_for
from textual.pilot import Pilot
from textual.widgets import Static

from osa_console.app import OsaConsole
from osa_console.screens.detail_screen import DetailScreen
from osa_console.screens.report_dialog import ReportDialog
from osa_console.settings import ConsoleSettings
from osa_core.engine import Engine

SIZE = (170, 45)
FAILED_SEQ = 2  # run 1875: the demo injects a failure in its subrun 2


def attempts(night: DemoNight) -> dict[tuple[int, int], int]:
    """Every subrun's attempt number, as a fresh engine reads it from the ledger."""
    engine: Engine = night.engine()
    try:
        snapshot = engine.snapshot
        return {(s.seq, r.subrun): r.attempt for s in snapshot.sequences for r in snapshot.subruns[s.seq]}
    finally:
        engine.shutdown()


async def refused(pilot: Pilot[None], app: OsaConsole, key: str, action: str) -> None:
    await pilot.press(key)
    # the refusal comes back as a message, and its dialog is pushed when the app handles it
    await wait_for(pilot, lambda: isinstance(app.screen, ReportDialog), 10, f"{key!r}'s report")
    assert isinstance(app.screen, ReportDialog), f"{key!r} did not answer with a report"
    report = app.screen.report
    assert not report.ok and report.action == action
    shown = " ".join(str(w.render()) for w in app.screen.query(Static))
    assert "NOT DONE" in shown and "read-only" in shown and "--allow-actions" in shown
    await pilot.press("escape")
    assert not isinstance(app.screen, ReportDialog)


async def test_read_only_console_refuses_every_action(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    settings = dataclasses.replace(live_settings, read_only=True)
    app = demo_app(demo_night, settings)  # the demo's own submission is not a console action
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: (
                app.snapshot is not None
                and any(s.seq == FAILED_SEQ and s.failed for s in app.snapshot.sequences)
            ),
            300,
            "a failed subrun to resubmit",
        )
        before = attempts(demo_night)
        for key, action in (("A", "resubmit"), ("R", "resubmit"), ("c", "cancel")):
            await refused(pilot, app, key, action)
        await refused(pilot, app, "C", "close the night")
        await refused(pilot, app, "P", "push datacheck")
        app.open_sequence(FAILED_SEQ)
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), 10, "the detail")
        assert isinstance(app.screen, DetailScreen)
        await refused(pilot, app, "R", "resubmit")
        await refused(pilot, app, "c", "cancel")
        app.action_resubmit_all()  # what the command palette runs
        await wait_for(pilot, lambda: isinstance(app.screen, ReportDialog), 10, "the palette action's report")
        assert isinstance(app.screen, ReportDialog) and "read-only" in app.screen.report.message
    assert attempts(demo_night) == before, "a read-only console changed the ledger"
