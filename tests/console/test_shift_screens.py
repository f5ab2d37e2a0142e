"""The shift's screens against the real engine on the real local backend: failures by signature
(F), the nights (D) and switching nights, the ETA in the header.

The demo night (3 subruns a run, 0.05 s steps) fails run 1875's subrun 2 in R0->DL1 (exit 3) and
run 1880's subrun 1 in DL1->DL2 (exit 1), on the first attempt only.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sqlite3

from conftest import DemoNight, wait_for, wait_night_done
from textual.widgets import Static

from osa_console.app import OsaConsole
from osa_console.messages import SnapshotArrived
from osa_console.screens.activity_screen import ActivityScreen
from osa_console.screens.confirm_dialog import ConfirmDialog
from osa_console.screens.failures_screen import FailuresScreen
from osa_console.screens.log_screen import LogScreen
from osa_console.screens.nights_screen import NightsScreen
from osa_console.screens.overview_screen import OverviewScreen
from osa_console.screens.report_dialog import ReportDialog
from osa_console.settings import ConsoleSettings
from osa_console.widgets.night_header import NightHeader, eta_text
from osa_console.widgets.sequences_table import SequencesTable
from osa_core.alert.notifier import AppriseNotifier
from osa_core.autopilot.alerting import alert
from osa_core.autopilot.report import NightReport
from osa_core.engine import Engine
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.errors import LedgerError
from osa_core.model.layout import NightLayout
from osa_core.model.states import JobState
from osa_core.shift import Eta, NightsListing
from osa_core.track.hold import set_hold
from osa_core.track.ledger import Ledger

SIZE = (170, 45)


def shift_app(night: DemoNight, settings: ConsoleSettings, submit: bool = True) -> OsaConsole:
    return OsaConsole(
        night.engine,
        settings,
        on_start=(lambda e: e.submit()) if submit else None,
        nights=NightsListing(night.config),
        night_opener=lambda date: Engine(night.config, date),
    )


def cells(screen: FailuresScreen | NightsScreen, key: str) -> list[str]:
    return [str(cell) for cell in screen.table.get_row(key)]


def failures_screen(app: OsaConsole) -> FailuresScreen:
    screen = app.screen
    assert isinstance(screen, FailuresScreen)
    return screen


def header(app: OsaConsole) -> str:
    return str(app.screen.query_one(NightHeader).text)


async def test_failures_by_signature_resubmit_exclude_cancel_and_log(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    app = shift_app(demo_night, live_settings)
    async with app.run_test(size=SIZE) as pilot:
        await wait_night_done(pilot, app)
        await wait_for(pilot, lambda: app.eta is not None and app.eta.done, 10, "the ETA")
        assert "all run" in header(app)
        tooltip = str(app.screen.query_one(NightHeader).tooltip)
        assert tooltip == "End of the night: all run. Basis: nothing left to run", tooltip
        await pilot.press("F")
        screen = failures_screen(app)
        rows = {cells(screen, k)[2]: cells(screen, k) for k in screen.table.row_keys()}
        assert set(rows) == {"R0→DL1", "DL1→DL2"}
        r0 = rows["R0→DL1"]
        assert r0[:2] == ["1", "exit 3"] and r0[4] == "1 failed" and r0[5] == "01875.0002"
        assert rows["DL1→DL2"][:2] == ["1", "exit 1"] and rows["DL1→DL2"][5] == "01880.0001"
        assert "2 failed subruns in 2 group(s)" in str(screen.query_one("#failures-line").render())

        # The log of the group's member.
        key = next(k for k in screen.table.row_keys() if cells(screen, k)[2] == "R0→DL1")
        screen.table.select_key(key)
        await pilot.press("l")
        assert isinstance(app.screen, LogScreen) and app.screen.key == (2, 2)
        await pilot.press("escape")
        assert app.screen_stack[-1] is screen

        # Away from its node: the preview says so; the local backend has one node and refuses.
        node = cells(screen, key)[3].split(" on ")[1]
        await pilot.press("X")
        assert isinstance(app.screen, ConfirmDialog)
        assert f"--exclude={node}" in str(app.screen.query_one("#preview", Static).render())
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportDialog), 20, "the refusal")
        said = " ".join(str(s.render()) for s in app.screen.query(Static))
        assert "cannot be excluded" in said, said
        await pilot.press("escape")
        assert app.engine is not None
        assert app.engine.snapshot.subrun((2, 2)).attempt == 1  # nothing was submitted

        # With more memory: resubmitted; the group leaves the failures once its member completed.
        screen.table.select_key(key)
        await pilot.press("M")
        assert isinstance(app.screen, ConfirmDialog)
        assert "memory" in str(app.screen.query_one("#preview", Static).render())
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.subrun((2, 2)).state is JobState.COMPLETED,
            180,
            "the resubmitted subrun",
        )
        await wait_for(pilot, lambda: len(screen.table.row_keys()) == 1, 10, "the group to go")
        (left,) = screen.table.row_keys()
        assert cells(screen, left)[2] == "DL1→DL2"
        assert app.snapshot is not None and app.snapshot.subrun((2, 2)).attempt == 2

        # A resubmission going nowhere is cancelled from its group. Its steps now take 30 s (the
        # job-side runner reads the config file), so it is still running when cancelled.
        source = demo_night.config.source
        assert source is not None
        source.write_text(source.read_text().replace("default_seconds = 0.05", "default_seconds = 30"))
        screen.table.select_key(left)
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        acted = f"acted|{left}"
        await wait_for(pilot, lambda: screen.table.has_row(acted), 120, "the group, acted on")
        assert cells(screen, acted)[4].startswith("acted on: 1 ")  # pending or running
        screen.table.select_key(acted)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmDialog)
        assert "cancel job" in str(app.screen.query_one("#preview", Static).render())
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: app.snapshot is not None and app.snapshot.subrun((7, 1)).state is JobState.CANCELLED,
            120,
            "the cancel",
        )
        await wait_for(pilot, lambda: not screen.table.has_row(acted), 10, "the acted-on row to go")
        assert [cells(screen, k)[1] for k in screen.table.row_keys()] == ["CANCELLED"]


def write_bad_nights(night: DemoNight) -> dict[str, str]:
    """A night with no ledger, one whose ledger is not SQLite, one of an older schema."""
    config = night.config
    missing = NightLayout(config, dt.date(2020, 1, 30)).ledger_path
    missing.parent.mkdir(parents=True)
    damaged = NightLayout(config, dt.date(2020, 1, 29)).ledger_path
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"this is not a database" * 100)
    old = NightLayout(config, dt.date(2020, 1, 28)).ledger_path
    old.parent.mkdir(parents=True)
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE tasks (seq INTEGER)")
        db.execute("PRAGMA user_version = 1")
    db.close()
    return {"2020-01-30": "no ledger", "2020-01-29": "cannot be read", "2020-01-28": "older than"}


async def test_nights_screen_opens_another_night_and_refreshes_it(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    bad = write_bad_nights(demo_night)
    empty = dt.date(2020, 1, 26)
    Engine(demo_night.config, empty).shutdown()  # a ledger with no runs: the night file is missing
    # Not submitted: the nights screen reads ledgers, it does not need jobs to have run.
    app = shift_app(demo_night, live_settings, submit=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and len(app.snapshot.sequences) == 9)
        first, old_snapshot = app.engine, app.snapshot
        assert old_snapshot is not None
        await pilot.press("D")
        screen = app.screen
        assert isinstance(screen, NightsScreen)
        await wait_for(pilot, lambda: screen.loaded, 10, "the nights")
        assert screen.table.row_keys() == [f"2020-01-{day}" for day in (30, 29, 28, 27, 26)]
        for date, words in bad.items():
            assert words in cells(screen, date)[-1], cells(screen, date)
        # ``loaded`` comes after the first pass; an unfinished night's estimate comes in a second
        # pass that reads its ledger whole, and shows "estimating…" until then
        await wait_for(
            pilot, lambda: cells(screen, "2020-01-27")[-1] != "estimating…", 10, "the open night's estimate"
        )
        demo = cells(screen, "2020-01-27")
        assert demo[0] == "▶" and screen.table.cursor_key == "2020-01-27"  # the night open now
        assert demo[2:8] == ["8", "25", "0", "0", "0", "25"]
        assert demo[-1] == "unknown: 25 subruns left; no step has finished yet: no timing to go on"

        # A bad night is a message, never a switch.
        table = screen.table
        table.select_key("2020-01-29")
        await pilot.press("enter")
        assert app.screen_stack[-1] is screen and app.engine is first

        table.select_key("2020-01-26")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.engine is not first and isinstance(app.screen, OverviewScreen))
        assert app.engine is not None and app.engine.date == empty
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.date == empty)
        assert "night 2020-01-26" in header(app)
        assert app.screen.query_one(SequencesTable).row_count == 0
        assert len(app.screen_stack) == 1
        # The night left behind is closed: its engine is shut down, its late snapshots ignored.
        assert isinstance(first, Engine)
        await wait_for(pilot, lambda: _closed(first), 5, "the old engine to shut down")
        app.post_message(SnapshotArrived(old_snapshot))
        await pilot.pause()
        assert app.snapshot is not None and app.snapshot.date == empty

        # Back to the demo night: its sequences, and the refresh loop is the new engine's.
        await pilot.press("D")
        nights = app.screen
        assert isinstance(nights, NightsScreen)
        await wait_for(pilot, lambda: nights.loaded, 10, "the nights")
        nights.table.select_key("2020-01-27")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.snapshot is not None and len(app.snapshot.sequences) == 9)
        assert app.refresher is not None
        before = app.refresher.refreshes
        await pilot.press("r")
        await wait_for(pilot, lambda: app.refresher is not None and app.refresher.refreshes > before, 10)
        assert app.snapshot.date == dt.date(2020, 1, 27)
        assert app.screen.query_one(SequencesTable).row_count == 9


def _closed(engine: Engine) -> bool:
    try:
        engine.ledger.closing()
    except LedgerError:
        return True
    return False


def test_eta_in_words() -> None:
    now = dt.datetime(2020, 1, 28, 2, 30, tzinfo=dt.UTC)
    soon = Eta(at=dt.datetime(2020, 1, 28, 3, 42, tzinfo=dt.UTC), done=False, basis="b", left=40)
    assert eta_text(soon, now) == "ends ~03:42 UTC (in 72 min)"
    late = Eta(at=dt.datetime(2020, 1, 28, 2, 0, tzinfo=dt.UTC), done=False, basis="b", left=1)
    assert eta_text(late, now) == "ends ~02:00 UTC (overdue)"
    assert eta_text(Eta(at=None, done=False, basis="b", left=5), now) == "end unknown"
    assert eta_text(Eta(at=None, done=True, basis="b", blocked=3), now) == "all run (3 blocked)"
    assert eta_text(None, now) == ""


async def test_activity_hold_and_alerts_are_where_the_shifter_looks(
    demo_night: DemoNight, live_settings: ConsoleSettings
) -> None:
    """A person's hold and an open alert, written by other processes' commands (as `osa-core hold`
    and the autopilot's alerts do), reach the console: HELD in the header with who and why on
    hover, the activity screen (E) with the hold's event and its user, the alerts count, and
    the nights screen's alerts column."""
    ledger = Ledger(NightLayout(demo_night.config, demo_night.date).ledger_path)
    try:
        set_hold(ledger, "checking the DRS4 run", dt.datetime.now(dt.UTC))
        # as an autopilot pass does it (no sequences yet: the close-by check has nothing to say)
        seen = [Condition(ConditionKind.DISK_LOW, "fs=/data", "/data: 2 GiB free")]
        report = NightReport(demo_night.date, conditions=seen)
        now = dt.datetime.now(dt.UTC)
        alert(demo_night.config, ledger, report, AppriseNotifier([], "[T]"), now, with_disk=False)
    finally:
        ledger.close()
    app = shift_app(demo_night, live_settings, submit=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.hold is not None)
        assert "HELD" in header(app)
        tooltip = str(app.screen.query_one(NightHeader).tooltip)
        assert "checking the DRS4 run" in tooltip and "osa-core release" in tooltip
        await pilot.press("E")
        screen = app.screen
        assert isinstance(screen, ActivityScreen)
        rows = [[str(c) for c in screen.table.get_row(k)] for k in screen.table.row_keys()]
        kinds = [row[1] for row in rows]
        assert kinds == ["alert", "hold"]  # newest first
        assert rows[1][2] == getpass.getuser() and "checking the DRS4 run" in rows[1][3]
        assert rows[0][3] == "incident opened: /data: 2 GiB free"
        line = str(screen.query_one("#activity-line").render())
        assert "1 alert(s) open" in line and "held by" in line
        await pilot.press("escape")
        await pilot.press("D")
        nights = app.screen
        assert isinstance(nights, NightsScreen)
        await wait_for(pilot, lambda: nights.loaded, 10, "the nights")
        row = cells(nights, demo_night.date.isoformat())
        assert row[8] == "1" and row[-1].endswith("held")
