"""Resubmitting away from a node, on the real single-node Slurm of ``dev/slurm-up``.

A failure signature that sits on one node is resubmitted with ``sbatch --exclude``. This
cluster has one node, and SLURM refuses at once a job that excludes every node ("Requested node
configuration is not available"): that refusal is how the test sees the option reach SLURM, and
the engine must report it with nothing recorded as submitted. Excluding a node that is not the
last one is accepted (the sbatch line is checked in tests/core/test_slurm_commands.py), but
needs a second node, which this cluster does not have and which the test may not add.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.nights import make_night

from osa_core.engine import Engine
from osa_core.model.actions import Selection
from osa_core.model.config import load_config
from osa_core.model.errors import SchedulerError
from osa_core.model.states import JobState

pytestmark = pytest.mark.slurm


def node_name() -> str:
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True, timeout=20)
    return out.stdout.split()[0]


async def refresh_until(engine: Engine, done: Callable[[], bool], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"the night did not get there in {timeout} s: {engine.snapshot.totals}")
        await asyncio.sleep(0.5)
        await engine.refresh()


def scontrol_job(job_id: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=20, check=True
    ).stdout


async def test_resubmit_excluding_a_node_reaches_slurm(tmp_path: Path, slurm_cluster: str) -> None:
    summary = tmp_path / "NightSummary_20200127.txt"
    summary.write_text(
        "01000    1 DRS4 2020-01-27 19:00:00 0001 1 1 nan nan nan\n"
        "01001    1 CALI 2020-01-27 19:10:00 0001 1 1 nan nan nan\n"
        "01002    2 DATA 2020-01-27 19:20:00 0001 1 1 nan nan nan\n"
    )
    night = make_night(tmp_path / "night", "slurm", night_file=summary, partition=slurm_cluster)
    engine = Engine(load_config(night.config), dt.date(2020, 1, 27))
    node = node_name()
    jobs: list[str] = []
    try:
        jobs += (await engine.submit()).job_ids
        data = next(s for s in engine.state.sequences if not s.is_calibration)
        # A cancelled array is a failure to resubmit, without waiting for the busy node to run it.
        await engine.cancel(Selection(seqs=frozenset({data.seq})))
        await refresh_until(
            engine, lambda: all(r.state is JobState.CANCELLED for r in engine.snapshot.subruns[data.seq])
        )
        selection = Selection(
            seqs=frozenset({data.seq}), failed_only=True, exclude_nodes=frozenset({node}), more_memory=True
        )
        preview = engine.preview_resubmit(selection)
        (planned,) = preview.submissions
        assert planned.exclude == (node,) and planned.memory == "750M"
        assert f"--exclude={node}" in preview.lines()[0]

        with pytest.raises(SchedulerError, match="Requested node configuration is not available"):
            await engine.resubmit(selection)
        # Refused as a whole: no new attempt, nothing left waiting in the ledger or in SLURM.
        await engine.refresh()
        assert [(r.attempt, r.state) for r in engine.snapshot.subruns[data.seq]] == [
            (1, JobState.CANCELLED)
        ] * 2
        assert [s.status for s in engine.ledger.submissions("submitting")] == []
        assert [s.seq for s in engine.ledger.submissions("lost")] == [data.seq]

        # Without the exclusion the same selection goes through, with the raised memory.
        again = Selection(seqs=frozenset({data.seq}), failed_only=True, more_memory=True)
        report = await engine.resubmit(again)
        assert report.ok, report
        (job,) = report.job_ids
        jobs.append(job)
        shown = scontrol_job(job)
        assert re.search(r"\bMinMemoryNode=750M\b", shown), shown
        assert re.search(r"\bExcNodeList=\(null\)", shown), shown
    finally:
        for job in jobs:
            subprocess.run(["scancel", job], timeout=20, check=False)
        engine.shutdown()
