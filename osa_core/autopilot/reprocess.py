"""Past nights through the autopilot's own pass, at a lower priority: ``osa-core reprocess``.

The same pass as cron's (raw-file checks, the queue and disk guards, retries, closing, the same
back-off with ``--watch``), over a range of past nights, with every job it submits ``sbatch
--nice``: on a busy cluster tonight's jobs go first. Tonight itself is refused: it belongs to the
autopilot. A night already closed (and pushed) is left as it is, as the autopilot leaves it.
"""

from __future__ import annotations

import datetime as dt

from osa_core.model.config import Config
from osa_core.model.errors import InputError

MAX_NIGHTS = 366
"""A longer range is a typing mistake more often than a campaign; run it in pieces."""
DEFAULT_NICE = 1000


def nights_between(first: dt.date, last: dt.date, tonight: dt.date) -> list[dt.date]:
    """Every night from ``first`` to ``last``, both included, oldest first; InputError for a range
    that is empty, too long, or reaches tonight."""
    if last < first:
        raise InputError(f"--to {last.isoformat()} is before --from {first.isoformat()}")
    if last >= tonight:
        raise InputError(
            f"--to {last.isoformat()}: reprocess is for past nights; tonight ({tonight.isoformat()}) "
            "is the autopilot's"
        )
    count = (last - first).days + 1
    if count > MAX_NIGHTS:
        raise InputError(f"{count} nights from --from to --to: at most {MAX_NIGHTS} at once")
    return [first + dt.timedelta(days=n) for n in range(count)]


def niced(config: Config, nice: int) -> Config:
    """The configuration with ``--nice`` on every sbatch (the local backend has no priorities)."""
    scheduler = config.scheduler
    kept = [a for a in scheduler.extra_sbatch_args if not a.startswith("--nice")]
    return config.replace(scheduler=scheduler.replace(extra_sbatch_args=[*kept, f"--nice={nice}"]))
