"""One decided action of the autopilot: done through the engine, then recorded as an event.

Every decision of a pass goes through :func:`act`, so that each is written the same way: a dry
run lists it and does nothing; a hold a person set since the pass began stops it; the event is
written once the action is done and only if it succeeded, so the ledger never claims what did
not happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from functools import partial

from osa_core.autopilot.report import Decision, NightReport
from osa_core.engine import Engine
from osa_core.model.actions import ActionReport
from osa_core.track.hold import read_hold
from osa_core.track.lock import night_lock

EVENT = "autopilot"
"""The kind of every event the autopilot writes (the engine's own actions add theirs)."""


async def act(
    engine: Engine,
    report: NightReport,
    kind: str,
    message: str,
    dry_run: bool,
    action: Callable[[], Awaitable[ActionReport]],
) -> ActionReport | None:
    """Do one decided action and record it as an event; a dry run only lists it.

    The hold is read again first: a person who held the night since the pass began wins. The
    event is written once the action is done, so the ledger never claims what did not happen.
    """
    if dry_run:
        report.decisions.append(Decision(kind, message))
        return None
    hold = read_hold(engine.ledger)
    if hold is not None:
        report.skipped = hold.describe()
        return None
    await probe_lock(engine)
    answer = await action()
    # A refusal or a failure is the caller's to report (a condition or a note); so is a
    # submission that found, under the lock, that a crashed pass had already made it.
    submitted = answer.action not in ("submit", "resubmit") or bool(answer.job_ids)
    if answer.ok and submitted:
        if answer.job_ids:
            message += f" (job{'s' if len(answer.job_ids) > 1 else ''} {', '.join(answer.job_ids)})"
        report.decisions.append(Decision(kind, message))
        engine.ledger.log_event(EVENT, message)
    elif answer.ok:
        report.notes.append(f"{kind}: {answer.message}")
    return answer


async def probe_lock(engine: Engine) -> None:
    """Raise LockBusy when another process holds the night's lock for ``autopilot.lock_wait`` s.

    The engine's actions wait up to a minute for the lock, as a person's command should; the
    autopilot gives way sooner, and leaves the night to its next pass. (A person who takes the
    lock between this probe and the action still wins: the action waits for them.)
    """
    wait = engine.config.autopilot.lock_wait
    probe = partial(night_lock, engine.layout.lock_path, wait=wait, what="the autopilot")
    await asyncio.to_thread(_hold_briefly, probe)


def _hold_briefly(probe: Callable[[], AbstractContextManager[None]]) -> None:
    with probe():
        pass
