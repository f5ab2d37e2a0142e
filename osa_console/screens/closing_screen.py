"""The closing's jobs and their steps: each run's merge job and the night-wise checks, timed.

The subruns' steps are in the sequence detail; the closing runs steps of its own (the merges,
Cat-B calibration, tail cuts, DL1ab, the long-term check) in one job per run and one for the
night. Their step records are read in a worker at each snapshot while the screen is open (a few
small files), so a merge job that ends shows here at the next refresh.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from osa_console.render import as_utc, duration
from osa_console.screens.table_screen import TableScreen
from osa_core.model.closestate import ClosingJob
from osa_core.model.snapshot import NightSnapshot, StepTiming, SubrunKey

COLUMNS = (
    ("job", "job"),
    ("step", "step"),
    ("start (UTC)", "start"),
    ("took", "took"),
    ("exit", "exit"),
    ("why", "detail"),
)


def step_cells(job: ClosingJob, step: StepTiming, labels: dict[str, str], first: bool) -> tuple[Text, ...]:
    where = f"{job.label} (job {job.job_id or '?'}, attempt {job.attempt})" if first else ""
    if step.skipped:
        exit_text = Text("skipped", style="dim")
    elif step.exit_code is None:
        exit_text = Text("running" if step.running else "-", style="bold blue")
    else:
        exit_text = Text(str(step.exit_code), style="" if step.exit_code == 0 else "bold red")
    start = as_utc(step.start).strftime("%H:%M:%S") if step.start else ""
    detail = step.detail.splitlines()[-1] if step.detail else ""
    return (
        Text(where, style="bold"),
        Text(labels.get(step.name, step.name)),
        Text(start),
        Text(duration(step.seconds)),
        exit_text,
        Text(detail, style="red" if step.exit_code not in (None, 0) else ""),
    )


class ClosingScreen(TableScreen):
    LINE_ID = "closing-line"
    TABLE_ID = "closing-steps"
    COLUMNS = COLUMNS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    KEY_HELP: ClassVar[dict[str, str]] = {"back": "back to where you were"}

    def __init__(self) -> None:
        super().__init__()
        self.where = "closing jobs"
        self._reading = False

    def setup(self) -> None:
        self.line.show_text(Text(" reading the closing's step records ..."))
        super().setup()

    def apply(
        self, snapshot: NightSnapshot, changed: frozenset[SubrunKey], now: dt.datetime, force: bool
    ) -> None:
        engine = self.host.engine
        if engine is None or self._reading:
            return
        self._reading = True
        labels = dict(snapshot.step_labels)

        async def read() -> None:
            try:
                jobs = await asyncio.to_thread(engine.closing_jobs)
            except Exception as exc:  # a ledger that cannot be read now: said, tried at the next snapshot
                self.line.show_text(Text(f" cannot read the closing: {exc}"))
                return
            finally:
                self._reading = False
            if self.ready:
                self._show(jobs, labels, snapshot.closing)

        self.run_worker(read(), group="closing-read")

    def _show(self, jobs: tuple[ClosingJob, ...], labels: dict[str, str], closing: str | None) -> None:
        rows = []
        for job in jobs:
            for i, step in enumerate(job.steps):
                rows.append((f"{job.label}|{step.name}", step_cells(job, step, labels, first=i == 0)))
        self.table.rebuild(rows)
        failed = sum(1 for job in jobs if job.failed)
        if not jobs:
            text = " no closing job has run yet" + (f" · closing: {closing}" if closing else "")
        else:
            text = f" {len(jobs)} closing job(s)" + (f", {failed} with a failed step" if failed else "")
            text += f" · closing: {closing}" if closing else ""
        self.line.show_text(Text(text, style="bold"))
