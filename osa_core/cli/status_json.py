"""``osa-core status --json``: the snapshot with its ETA and failure groups, encoded without drawing.

Kept apart from the Rich view so that a script asking for JSON does not import the table code.
A cold look (a narrow engine: ``status --json`` without ``--watch``) builds no snapshot at all:
its JSON is made straight from the ledger's rows (:mod:`osa_core.track.status_rows`).
"""

from __future__ import annotations

import gc
from typing import Any

import msgspec

from osa_core.engine import Engine
from osa_core.model.snapshot import NightSnapshot
from osa_core.model.states import JobState
from osa_core.track.eta import estimate
from osa_core.track.signatures import failure_groups
from osa_core.track.status_rows import status_rows


def status_json(snapshot: NightSnapshot) -> dict[str, Any]:
    """The snapshot, its ETA with its basis, and the failures by signature."""
    out = snapshot.to_json()
    out["eta"] = estimate(snapshot).to_json()
    out["failure_groups"] = [g.to_json() for g in failure_groups(snapshot)]
    return out


def encode(snapshot: NightSnapshot) -> bytes:
    """One line of JSON (msgspec encodes a 10,000-subrun night's 5 MiB ~10x faster than json)."""
    return msgspec.json.encode(status_json(snapshot)) + b"\n"


async def cold(engine: Engine) -> tuple[bytes, bool, dict[JobState, int]]:
    """One refresh of a narrow engine, then the night's JSON line from its ledger; whether the
    scheduler answered, and the totals."""
    await engine.sync()
    frame = engine.frame()
    # A 10k night's JSON is ~100,000 new dicts, lists and tuples, none in a reference cycle: the
    # cyclic collector's passes over them (three of them full) were a sixth of the run and freed
    # nothing. Off for this one build only; the process ends right after it.
    gc.disable()
    try:
        out = status_rows(engine.ledger, engine.state.sequences, frame, cache=engine.layout.status_cache)
        line = msgspec.json.encode(out) + b"\n"
    finally:
        gc.enable()
    totals = {JobState(state): n for state, n in out["totals"].items()}
    return line, frame.health.ok, totals
