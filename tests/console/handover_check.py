"""The handover key (H): the report the engine builds from its ledger, shown in the console."""

from __future__ import annotations

from conftest import wait_for
from textual.pilot import Pilot
from textual.widgets import Static

from osa_console.app import OsaConsole
from osa_console.screens.handover_screen import HandoverScreen


async def check_handover_key(pilot: Pilot[None], app: OsaConsole) -> None:
    """H on a finished demo night shows the engine's handover report, naming every failed subrun
    under its failure signature; escape goes back. Called from a test that already waited for the
    demo night (tests/console/test_pilot_engine.py): the night takes half a minute."""
    snapshot = app.snapshot
    assert snapshot is not None
    back_to = type(app.screen)
    failed = sorted(
        f"{s.run:05d}.{r.subrun:04d}"
        for s in snapshot.sequences
        for r in snapshot.subruns.get(s.seq, ())
        if r.state.failed
    )
    assert failed, "the demo night injects failures"
    await pilot.press("H")
    await wait_for(pilot, lambda: isinstance(app.screen, HandoverScreen), 10, "the handover screen")
    screen = app.screen
    assert isinstance(screen, HandoverScreen)
    text = screen.markdown
    section = text.split("## What failed, by signature", 1)[1].split("\n## ", 1)[0]
    named = sorted(
        name for line in section.splitlines() for name in line.split(" — ")[-1].split(", ") if "." in name
    )
    assert named == failed
    assert f"night {snapshot.date.isoformat()}" in text and "## Events" in text
    # rendered as Markdown, one line per item at least
    assert screen.query_one("#handover", Static).size.height > 2 * len(failed)
    await pilot.press("escape")
    await wait_for(pilot, lambda: isinstance(app.screen, back_to), 10, "the screen it was opened from")
