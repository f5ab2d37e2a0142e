"""The shared cluster's queue guard: our pending tasks never exceed ``autopilot.max_pending_tasks``.

Counted once per pass for every night at once (one scheduler call: one ``squeue`` on SLURM), and
only when some night has something to submit, so an idle pass asks nothing. The pass then keeps
the count itself as it submits: a later night of the same pass sees what an earlier one queued.
"Ours" is every job named for this telescope (``LST1_...``), whichever night it belongs to.
"""

from __future__ import annotations

from osa_core.engine import Engine
from osa_core.model.errors import OsaError
from osa_core.model.records import Sequence


class PendingBudget:
    """The room left in the queue during one pass (``limit`` 0: no limit, nothing is asked)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pending: int | None = None
        self.error: str | None = None

    async def room(self, engine: Engine) -> int | None:
        """Tasks that may still be submitted this pass: None without a limit; 0 when the count
        cannot be had (the guard cannot promise the limit holds, so nothing goes)."""
        if self.limit <= 0:
            return None
        if self.pending is None and self.error is None:
            try:
                self.pending = await engine.scheduler.pending_tasks(f"LST{engine.layout.tel}_")
            except (OsaError, NotImplementedError) as exc:
                self.error = str(exc)
        if self.pending is None:
            return 0
        return max(0, self.limit - self.pending)

    def spend(self, tasks: int) -> None:
        if self.pending is not None:
            self.pending += tasks

    def waiting(self, ahead: int = 0) -> str:
        """Why a submission waits, as the pass's note says it; ``ahead``: the tasks this pass
        submits before it (pending too, once submitted)."""
        if self.pending is None:
            return f"waiting: cannot count the pending tasks ({self.error}), max_pending_tasks {self.limit}"
        return f"waiting: {self.pending + ahead} tasks pending, max_pending_tasks {self.limit}"


def tasks_of(sequence: Sequence) -> int:
    """The tasks a sequence's submission queues: one for a calibration, one per subrun of data."""
    return 1 if sequence.is_calibration else max(1, sequence.subruns)
