"""What the autopilot publishes: the datacheck once the night is closed, the night page before.

Once closed, the night's datacheck (built by the closing) is pushed, and pushed again at later
passes only if a push failed: the ledger's meta table keeps which closing was pushed. During the
night the page is rebuilt from the snapshot and pushed when what it shows changed, at most every
``page_minutes``. Without a configured web server nothing is published, and the pass says so
once per night in its notes. A failed push is a condition; its event is written when its error
changes, not at every pass.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json

from osa_core.autopilot.acting import EVENT, act
from osa_core.autopilot.report import NightReport
from osa_core.engine import Engine
from osa_core.model.actions import ActionReport
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.snapshot import NightSnapshot

PUSHED_META = "autopilot.pushed"
"""The closing time of the night whose datacheck was pushed."""
PAGE_META = "autopilot.page"
"""What the last pushed night page showed (a digest) and when it was pushed."""
PUSH_ERROR_META = "autopilot.push_error"


async def publish(engine: Engine, report: NightReport, now: dt.datetime, dry_run: bool) -> None:
    if not engine.config.webserver.host:
        return
    closing = engine.ledger.closing()
    if closing is not None and closing.finished is not None:
        stamp = closing.finished.isoformat()
        if engine.ledger.get_meta(PUSHED_META) == stamp:
            return
        message = "pushed the closed night's datacheck"
        answer = await act(engine, report, "push", message, dry_run, engine.push)
        if answer is not None:
            _after_push(engine, answer, report, PUSHED_META, stamp)
        return
    if closing is not None:
        return  # a closing in progress rebuilds the datacheck when it ends
    await _page(engine, engine.snapshot, report, now, dry_run)


async def _page(
    engine: Engine, snapshot: NightSnapshot, report: NightReport, now: dt.datetime, dry_run: bool
) -> None:
    if not any(s.job_id for s in snapshot.sequences):
        return  # nothing submitted yet: nothing to show
    digest = page_digest(snapshot)
    last = json.loads(engine.ledger.get_meta(PAGE_META) or "{}")
    if last.get("digest") == digest:
        return
    if "at" in last:
        due = dt.datetime.fromisoformat(last["at"]) + dt.timedelta(
            minutes=engine.config.autopilot.page_minutes
        )
        if now < due:
            return

    async def page_and_push() -> ActionReport:
        from osa_core.publish.datacheck import write_page

        await asyncio.to_thread(write_page, snapshot, engine.layout)
        return await engine.push()

    message = "pushed the night page: " + _totals(snapshot)
    answer = await act(engine, report, "page", message, dry_run, page_and_push)
    if answer is not None:
        value = json.dumps({"digest": digest, "at": now.isoformat(timespec="seconds")})
        _after_push(engine, answer, report, PAGE_META, value)


def _after_push(engine: Engine, answer: ActionReport, report: NightReport, meta: str, value: str) -> None:
    if answer.ok:
        engine.ledger.set_meta(meta, value)
        if engine.ledger.get_meta(PUSH_ERROR_META):
            engine.ledger.set_meta(PUSH_ERROR_META, "")
        return
    error = answer.message + "".join(f"; {d}" for d in answer.details[:3])
    report.conditions.append(
        Condition(
            ConditionKind.PUSH_FAILED,
            "push",
            f"the datacheck push to {engine.config.webserver.host} failed: {error}",
            "Check the web server and the SSH login (`osa-core push` says more); the next pass tries again.",
        )
    )
    if engine.ledger.get_meta(PUSH_ERROR_META) != error:
        # the same failure pass after pass is one event, not one every few minutes
        engine.ledger.set_meta(PUSH_ERROR_META, error)
        engine.ledger.log_event(EVENT, f"push failed: {error}")


def page_digest(snapshot: NightSnapshot) -> str:
    """What the night page shows that can change: each sequence's state and counts, the closing."""
    shown = [
        (s.seq, s.state.value, sorted((k.value, n) for k, n in s.counts.items()), s.tries)
        for s in snapshot.sequences
    ]
    text = json.dumps([shown, snapshot.closing, snapshot.hold])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _totals(snapshot: NightSnapshot) -> str:
    totals = snapshot.totals
    return ", ".join(f"{n} {state.value.lower()}" for state, n in sorted(totals.items()) if n) or "empty"
