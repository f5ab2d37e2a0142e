"""Benchmark: ``osa-core nights`` over a year of nights (365 ledgers).

Each night's ledger is written through the real :class:`Ledger` (plan, one submission per
sequence, task states with times, a few resubmitted attempts, a finished closing), 1 calibration
+ RUNS x SUBRUNS subruns each; the newest night is half done, with step records, so it is the one
read whole for its ETA. Prints the in-process time of summing up every night and the wall time of
the command as a process (``--last 0 --json`` and the default ``--last 30``), best of three.
Run by hand: ``.venv/bin/python bench/bench_nights.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.nights import make_night

from osa_core.jobs.history import StepRecord
from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence
from osa_core.model.states import JobState, SequenceType
from osa_core.publish.publisher import manifest_path
from osa_core.track.frame import Profile
from osa_core.track.ledger import Ledger, TaskRow
from osa_core.track.nights import night_dirs, summarise

STEPS = ("r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2")
PROFILE = Profile(
    "simulate", True, {SequenceType.CALIBRATION: ("drs4_baseline",), SequenceType.DATA: STEPS}, {}
)


def write_night(layout: NightLayout, runs: int, subruns: int, open_night: bool) -> None:
    start = dt.datetime.combine(layout.date, dt.time(21), dt.UTC)
    sequences = [Sequence(0, SequenceType.CALIBRATION, 1000, 1, None, 999)] + [
        Sequence(i + 1, SequenceType.DATA, 1001 + i, subruns, 0) for i in range(runs)
    ]
    ledger = Ledger(layout.ledger_path)
    try:
        ledger.sync_plan(sequences)
        rows: list[TaskRow] = []
        records: list[tuple[int, int, StepRecord]] = []
        n = 0
        for s in sequences:
            count = 1 if s.is_calibration else s.subruns
            indices = None if s.is_calibration else tuple(range(count))
            sub_id = ledger.begin_submission(
                seq=s.seq, name=layout.job_name(s.run), indices=indices, attempts=(1,) * count,
                script="x", memory=None, walltime=None, after_ok=(), at=start,
            )  # fmt: skip
            job = str(1000 + s.seq)
            ledger.complete_submission(sub_id, job)
            for sub in range(count):
                n += 1
                begin = start + dt.timedelta(seconds=30 * n)
                end = begin + dt.timedelta(minutes=48)
                state = JobState.FAILED if n % 50 == 0 else JobState.COMPLETED
                if open_night and n > count * (runs + 1) // 2 // max(1, count) * count:
                    state = JobState.RUNNING if n % 10 == 0 else JobState.PENDING
                if state is JobState.PENDING:
                    continue
                done = state is not JobState.RUNNING
                rows.append(
                    TaskRow(s.seq, sub, 1, job, indices and sub, state, 0 if done else None, None, "cp01",
                            begin, end if done else None)
                )  # fmt: skip
                if open_night:
                    for i, name in enumerate(STEPS):
                        at = begin + dt.timedelta(minutes=12 * i)
                        records.append(
                            (s.seq, sub, StepRecord("start", name, at.isoformat(), 1, "cp01", job, sub))
                        )
                        if done:
                            until = (at + dt.timedelta(minutes=12)).isoformat()
                            records.append(
                                (s.seq, sub, StepRecord("end", name, until, 1, "cp01", job, sub, 0))
                            )
        ledger.update_tasks(rows)
        # the failed ones were resubmitted once and completed: their first attempt is replaced
        for seq in {r.seq for r in rows if r.state is JobState.FAILED and not open_night}:
            failed = tuple(r.subrun for r in rows if r.seq == seq and r.state is JobState.FAILED)
            sub_id = ledger.begin_submission(
                seq=seq, name="again", indices=failed, attempts=(2,) * len(failed), script="x",
                memory=None, walltime=None, after_ok=(), at=start,
            )  # fmt: skip
            ledger.complete_submission(sub_id, f"2{seq}")
            ledger.update_tasks(TaskRow(seq, sub, 2, f"2{seq}", sub, JobState.COMPLETED, 0) for sub in failed)
        if records:
            ledger.add_step_records(records, {})
        if not open_night:
            ledger.begin_closing([], False, start + dt.timedelta(hours=14))
            closing = ledger.closing()
            assert closing is not None
            ledger.finish_closing(closing.id, start + dt.timedelta(hours=15), "{}")
    finally:
        ledger.close()


def best_of(cmd: list[str], times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--subruns", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        night = make_night(Path(tmp), "local")
        config = load_config(night.config)
        # the newest night started last evening: its open subruns have run for hours, not years
        last = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        started = time.perf_counter()
        for i in range(args.nights):
            write_night(NightLayout(config, last - dt.timedelta(days=i)), args.runs, args.subruns, i == 0)
        tasks = 1 + args.runs * args.subruns
        print(f"{args.nights} ledgers of {tasks} tasks written in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        found, _ = night_dirs(config.paths.state)
        summaries = []
        for date in sorted(found, reverse=True):
            layout = NightLayout(config, date)
            summaries.append(summarise(date, layout.ledger_path, manifest_path(layout), PROFILE, "local"))
        took = time.perf_counter() - started
        assert all(s.problem is None for s in summaries), [s.problem for s in summaries if s.problem]
        assert summaries[0].eta is not None  # the open night was read whole for its ETA
        print(f"in process: {len(summaries)} nights summed up in {1000 * took:.0f} ms", end="")
        print(f" ({1000 * took / len(summaries):.2f} ms a night, the open one read whole for its ETA)")
        base = [sys.executable, "-m", "osa_core", "--config", str(night.config), "nights"]
        every = best_of([*base, "--last", "0", "--json"])
        print(f"osa-core nights --last 0 --json ({len(summaries)} nights, a process): {every:.2f} s")
        print(f"osa-core nights (the default 30, table, a process): {best_of(base):.2f} s")
        print(
            f"python -c pass (interpreter start, for scale): {best_of([sys.executable, '-c', 'pass']):.2f} s"
        )


if __name__ == "__main__":
    main()
