"""The closing jobs key (J): each run's merge job and its steps, read from the step records."""

from __future__ import annotations

from conftest import wait_for
from textual.pilot import Pilot

from osa_console.app import OsaConsole
from osa_console.screens.closing_screen import ClosingScreen
from osa_console.widgets.keyed_table import KeyedTable


async def check_closing_key(pilot: Pilot[None], app: OsaConsole) -> None:
    """J after a closing round lists a row per merge job that ran, labelled with its run, with
    the step's time and exit code as the job's own history file records them; escape goes back.
    The demo night is a simulation: its merge step is osa-core's own (``merge_simulated``); it
    has failed subruns, so the round is forced (as ``osa-core close --force``)."""
    assert app.engine is not None
    report = await app.engine.close_night(force=True)
    assert report.ok, report.message
    back_to = type(app.screen)
    await pilot.press("J")
    await wait_for(pilot, lambda: isinstance(app.screen, ClosingScreen), 10, "the closing screen")
    screen = app.screen
    assert isinstance(screen, ClosingScreen)
    table = screen.query_one("#closing-steps", KeyedTable)
    runs = [r.run for r in app.engine.ledger.closing_runs()]  # type: ignore[attr-defined]
    assert runs, "the close round included the night's runs"

    # read again at every snapshot: the merge jobs run on the local backend meanwhile
    await wait_for(pilot, lambda: len(table.row_keys()) >= 1, 120, "a merge job's step")
    # the merge jobs run side by side: the first row is the first run whose job had started when
    # the screen last read, not necessarily the night's first run
    row = table.row_keys()[0]
    by_row = {f"{job.label}|{job.steps[0].name}": job for job in app.engine.closing_jobs()}
    assert row in by_row, f"{row!r} is not a job's first step: {sorted(by_row)}"
    first = by_row[row]
    assert first.run in runs and first.steps[0].name == "merge_simulated"
    assert row == f"run {first.run:05d} merge|merge_simulated"
    cells = [str(c) for c in table.get_row(row)]
    assert cells[0].startswith(f"run {first.run:05d} merge (job {first.job_id}, attempt 1)")
    assert cells[1] == "merge_simulated"
    assert cells[4] in ("0", "running")
    await pilot.press("escape")
    await wait_for(pilot, lambda: isinstance(app.screen, back_to), 10, "the screen it was opened from")
