"""Benchmark: one engine refresh of a 10,000-subrun night (issue 3).

A night of 1 calibration + 50 runs x 200 subruns is submitted through the real engine to a
*recording* scheduler: it answers ``query`` by printing what ``sacct -X -P -n`` prints for
those tasks and parsing it with the real SLURM parser, so parse cost is in the figure. Each
round, 1% of the tasks change state and their history files grow by a step record, as in a
live night. Prints one line per figure. Run by hand: ``.venv/bin/python bench/bench_refresh.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.nights import make_night

from osa_core.engine import Engine
from osa_core.jobs.history import StepRecord, append_record
from osa_core.model.config import load_config
from osa_core.scheduler.base import JobRequest, Scheduler, TaskInfo
from osa_core.scheduler.slurm.commands import parse_sacct

RUNS, SUBRUNS, CHANGED = 50, 200, 0.01
T0 = dt.datetime(2020, 1, 28, 8, 0, tzinfo=dt.UTC)


class RecordedScheduler(Scheduler):
    """Holds task states; answers every query with sacct's text for them, parsed for real."""

    name = "recorded"

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[str, list[int] | None]] = {}
        self.state: dict[tuple[str, int | None], str] = {}
        self.next_id = 5000
        self.queries = 0
        self.cache: dict[str, list[TaskInfo]] = {}

    async def submit(self, request: JobRequest) -> str:
        self.next_id += 1
        job = str(self.next_id)
        indices = list(request.array) if request.array is not None else None
        self.jobs[job] = (request.name, indices)
        for i in indices if indices is not None else [None]:
            self.state[(job, i)] = "PENDING"
        return job

    def sacct_text(self) -> str:
        lines = []
        start = T0.strftime("%Y-%m-%dT%H:%M:%S")
        for (job, index), state in self.state.items():
            name, _ = self.jobs[job]
            jid = job if index is None else f"{job}_{index}"
            raw = job if index is None else str(int(job) * 1000 + index)
            end = (
                "Unknown"
                if state in ("RUNNING", "PENDING")
                else (T0 + dt.timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%S")
            )
            code = "0:0" if state != "FAILED" else "3:0"
            node, began = ("None assigned", "Unknown") if state == "PENDING" else ("node01", start)
            lines.append(f"{jid}|{raw}|{name}|{state}|{code}|{node}|{start}|{began}|{end}|None")
        return "\n".join(lines) + "\n"

    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        self.queries += 1
        return parse_sacct(self.sacct_text(), self.cache)  # as SlurmScheduler.query does

    async def cancel(self, job_id: str, indices: Sequence[int] | None = None) -> None:
        pass

    async def set_dependency(self, job_id: str, after_ok: Sequence[str]) -> None:
        pass


def night_file(path: Path) -> Path:
    lines = [
        "01000    5 DRS4 2020-01-27 19:00:00 0001 1 1 nan nan nan",
        "01001    5 CALI 2020-01-27 19:10:00 0001 1 1 nan nan nan",
    ]
    for i in range(RUNS):
        start = dt.datetime(2020, 1, 27, 19, 20) + dt.timedelta(minutes=10 * i)
        lines.append(f"{1002 + i:05d} {SUBRUNS:4d} DATA {start:%Y-%m-%d %H:%M:%S} 0001 1 1 nan nan nan")
    path.write_text("\n".join(lines) + "\n")
    return path


async def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="osa-bench-"))
    seed = night_file(root / "NightSummary_20200127.txt")
    night = make_night(
        root / "night", "local", night_file=seed, extra={"pipeline": {"simulate": {"max_subruns": 0}}}
    )
    config = load_config(night.config)
    scheduler = RecordedScheduler()
    engine = Engine(config, dt.date(2020, 1, 27), scheduler=scheduler)
    t = time.perf_counter()
    await engine.submit()
    print(f"submit of {1 + RUNS} sequences ({RUNS * SUBRUNS} data tasks): {time.perf_counter() - t:.2f} s")
    await engine.refresh()

    layout = engine.layout
    keys = [
        (seq.seq, seq.run, i)
        for seq in engine.state.sequences
        if not seq.is_calibration
        for i in range(SUBRUNS)
    ]
    jobs = {
        (t.seq, t.subrun): (t.job_id, t.array_index) for rows in engine.state.attempts.values() for t in rows
    }
    per_round = int(len(keys) * CHANGED)
    # A live night: RUNNING tasks fill the cluster's slots, the rest wait or are done. Each
    # round half of the 1% finishes and as many start, and each writes a step record.
    slots = 500
    running = list(keys[:slots])
    waiting = list(keys[slots:])
    for seq, _run, subrun in running:
        scheduler.state[jobs[(seq, subrun)]] = "RUNNING"
    await engine.refresh()
    timings, calls = [], []
    tracemalloc.start() if "--memory" in sys.argv else None
    for _ in range(20):
        finishing, running = running[: per_round // 2], running[per_round // 2 :]
        starting, waiting = waiting[: per_round // 2], waiting[per_round // 2 :]
        running += starting
        for (seq, run, subrun), event, state in [(k, "end", "COMPLETED") for k in finishing] + [
            (k, "start", "RUNNING") for k in starting
        ]:
            scheduler.state[jobs[(seq, subrun)]] = state
            record = StepRecord(
                event, "r0_to_dl1", T0.isoformat(), 1, "node01", None, subrun, 0 if event == "end" else None
            )
            append_record(layout.history(run, subrun), record)
        before = scheduler.queries
        gc.collect()
        t = time.perf_counter()
        snapshot = await engine.refresh()
        timings.append(time.perf_counter() - t)
        calls.append(scheduler.queries - before)
        assert len(snapshot.changed) >= per_round, len(snapshot.changed)
    traced = tracemalloc.is_tracing()
    _, peak = tracemalloc.get_traced_memory() if traced else (0, 0)
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    done = snapshot.totals
    print(f"tasks: {len(scheduler.state)}; changed per refresh: {per_round} ({CHANGED:.0%})")
    print(
        f"refresh median: {statistics.median(timings) * 1000:.1f} ms; max: {max(timings) * 1000:.1f} ms "
        f"(target < 150 ms)"
    )
    print(f"scheduler calls per refresh: {max(calls)} (target 1)")
    # tracing slows every allocation: only with --memory, and then the timings above are not the figures
    peak_text = f"{peak / 2**20:.1f} MiB" if traced else "not traced (run with --memory)"
    print(
        f"peak traced Python memory during refreshes: {peak_text}; "
        f"process max RSS: {rss:.0f} MiB (target < 150 MB)"
    )
    print(f"completed after the rounds: {done}")
    t = time.perf_counter()
    parse_sacct(scheduler.sacct_text())
    print(f"of which sacct text parse alone: {(time.perf_counter() - t) * 1000:.1f} ms")
    engine.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
