"""Benchmark: submit and refresh of a night of any size through the real engine (issues 3, 11).

A night of 1 calibration + RUNS x SUBRUNS tasks is submitted through the real engine to a
*recording* scheduler: it answers ``query`` with what ``sacct -P -n`` prints for the jobs
asked (``--jobs``, as sacct filters) and parses it with the real SLURM parser, so parse cost is
in the figure. Producing that text stands for sacct's own time: it is timed apart and taken out
of the "engine side" figures.

Two phases:

- *live* (the figures of issue 3): 500 tasks run, the rest wait; each round ``--changed`` of the
  tasks change state and their history files grow by a step record.
- *late*: ``--finished`` of the night is done, 500 run, the rest wait; rounds where nothing
  changes (idle), then rounds where ``--changed`` of the tasks change.

Run by hand: ``.venv/bin/python bench/bench_refresh.py`` (one night, every figure), or
``--table`` for 1k, 10k and 50k tasks in one table (one process per size, so RSS is each's own).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import resource
import statistics
import subprocess
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
from osa_core.model.states import JobState
from osa_core.scheduler.base import JobRequest, Scheduler, TaskInfo
from osa_core.scheduler.slurm.answers import SacctCache, parse_sacct

T0 = dt.datetime(2020, 1, 28, 8, 0, tzinfo=dt.UTC)
SLOTS = 500
"""Tasks running at once (at most a twentieth of the night)."""
SIZES = {"1k": (5, 200), "10k": (50, 200), "50k": (250, 200)}


class RecordedScheduler(Scheduler):
    """Holds task states; answers a query with sacct's text for the jobs asked, parsed for real."""

    name = "recorded"
    task_ids = True  # as sacct: JOB_INDEX answers for that task alone

    def __init__(self) -> None:
        self.jobs: dict[str, str] = {}
        self.lines: dict[str, dict[int | None, str]] = {}
        self.state: dict[tuple[str, int | None], str] = {}
        self.next_id = 5000
        self.queries = 0
        self.lines_asked = 0
        self.own_time = 0.0
        """Seconds spent producing sacct's text (what sacct would spend), not the engine's."""
        self.own_cpu = 0.0
        self.submit_time = 0.0
        self.submit_cpu = 0.0
        self.cache: SacctCache = {}

    async def submit(self, request: JobRequest) -> str:
        t, c = time.perf_counter(), time.process_time()
        self.next_id += 1
        job = str(self.next_id)
        self.jobs[job] = request.name
        self.lines[job] = {}
        for i in request.array if request.array is not None else [None]:
            self.set(job, i, "PENDING")
        self.submit_time += time.perf_counter() - t
        self.submit_cpu += time.process_time() - c
        return job

    def set(self, job: str, index: int | None, state: str) -> None:
        self.state[(job, index)] = state
        start = T0.strftime("%Y-%m-%dT%H:%M:%S")
        jid = job if index is None else f"{job}_{index}"
        raw = job if index is None else str(int(job) * 1000 + index)
        end = (
            "Unknown"
            if state in ("RUNNING", "PENDING")
            else (T0 + dt.timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%S")
        )
        code = "0:0" if state != "FAILED" else "3:0"
        node, began = ("None assigned", "Unknown") if state == "PENDING" else ("node01", start)
        finished = state not in ("RUNNING", "PENDING")
        cpu = "49:12.345" if finished else "00:00:00"
        head = f"{jid}|{raw}|{self.jobs[job]}|{state}|{code}|{node}|{start}|{began}|{end}|None"
        # As sacct prints it without -X: the allocation line, then (once started) its batch step,
        # which alone carries MaxRSS.
        lines = [f"{head}||{cpu}|4G|01:00:00"]
        if state != "PENDING":
            rss = "2202009K" if finished else ""
            lines.append(
                f"{jid}.batch|{raw}.batch|batch|{state}|{code}|{node}|{start}|{began}|{end}|None|{rss}|{cpu}||"
            )
        self.lines[job][index] = "\n".join(lines)

    def sacct_text(self, job_ids: Sequence[str] = ()) -> str:
        jobs = job_ids or list(self.lines)
        lines: list[str] = []
        for job in jobs:
            base, _, index = job.partition("_")
            tasks = self.lines.get(base, {})
            if not index:
                lines += tasks.values()
            elif int(index) in tasks:
                lines.append(tasks[int(index)])
        self.lines_asked += sum(1 + line.count("\n") for line in lines)
        return "\n".join(lines) + "\n"

    async def query(
        self, names: Sequence[str], since: dt.datetime, job_ids: Sequence[str] = ()
    ) -> list[TaskInfo]:
        self.queries += 1
        t, c = time.perf_counter(), time.process_time()
        text = self.sacct_text(job_ids)
        self.own_time += time.perf_counter() - t
        self.own_cpu += time.process_time() - c
        return parse_sacct(text, self.cache)  # as SlurmScheduler.query does

    async def cancel(self, job_id: str, indices: Sequence[int] | None = None) -> None:
        pass

    async def set_dependency(self, job_id: str, after_ok: Sequence[str]) -> None:
        pass


def night_file(path: Path, runs: int, subruns: int) -> Path:
    lines = [
        "01000    5 DRS4 2020-01-27 19:00:00 0001 1 1 nan nan nan",
        "01001    5 CALI 2020-01-27 19:10:00 0001 1 1 nan nan nan",
    ]
    for i in range(runs):
        start = dt.datetime(2020, 1, 27, 19, 20) + dt.timedelta(seconds=20 * i)
        lines.append(f"{1002 + i:05d} {subruns:4d} DATA {start:%Y-%m-%d %H:%M:%S} 0001 1 1 nan nan nan")
    path.write_text("\n".join(lines) + "\n")
    return path


class Bench:
    def __init__(self, engine: Engine, scheduler: RecordedScheduler, changed: float) -> None:
        self.engine = engine
        self.scheduler = scheduler
        self.keys = [
            (seq.seq, seq.run, i)
            for seq in engine.state.sequences
            if not seq.is_calibration
            for i in range(seq.subruns)
        ]
        self.jobs = {
            (t.seq, t.subrun): (t.job_id, t.array_index)
            for rows in engine.state.attempts.values()
            for t in rows
        }
        self.per_round = max(2, int(len(self.keys) * changed))

    def set(self, key: tuple[int, int, int], state: str) -> None:
        job, index = self.jobs[(key[0], key[2])]
        self.scheduler.set(job, index, state)

    async def rounds(
        self,
        count: int,
        running: list[tuple[int, int, int]],
        waiting: list[tuple[int, int, int]],
        moving: bool,
    ) -> dict[str, float]:
        """``count`` refreshes; ``moving``: half of per_round finish and as many start each round."""
        layout = self.engine.layout
        engine_ms, cpu_ms, lines, calls = [], [], [], []
        for _ in range(count):
            if moving:
                half = self.per_round // 2
                finishing, running[:] = running[:half], running[half:]
                starting, waiting[:] = waiting[:half], waiting[half:]
                running += starting
                for key, event, state in [(k, "end", "COMPLETED") for k in finishing] + [
                    (k, "start", "RUNNING") for k in starting
                ]:
                    self.set(key, state)
                    record = StepRecord(
                        event,
                        "r0_to_dl1",
                        T0.isoformat(),
                        1,
                        "node01",
                        None,
                        key[2],
                        0 if event == "end" else None,
                    )
                    append_record(layout.history(key[1], key[2]), record)
            sched = self.scheduler
            queries, asked, own, own_cpu = sched.queries, sched.lines_asked, sched.own_time, sched.own_cpu
            gc.collect()
            t, c = time.perf_counter(), time.process_time()
            snapshot = await self.engine.refresh()
            spent, cpu = time.perf_counter() - t, time.process_time() - c
            engine_ms.append((spent - (sched.own_time - own)) * 1000)
            cpu_ms.append((cpu - (sched.own_cpu - own_cpu)) * 1000)
            lines.append(self.scheduler.lines_asked - asked)
            calls.append(self.scheduler.queries - queries)
            if moving:
                assert len(snapshot.changed) >= len(finishing) + len(starting), len(snapshot.changed)
            else:
                assert not snapshot.changed, len(snapshot.changed)
        return {
            "median_ms": statistics.median(engine_ms),
            "cpu_ms": statistics.median(cpu_ms),
            "max_ms": max(engine_ms),
            "lines": statistics.median(lines),
            "calls": max(calls),
        }


async def run(args: argparse.Namespace) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="osa-bench-"))
    seed = night_file(root / "NightSummary_20200127.txt", args.runs, args.subruns)
    night = make_night(
        root / "night", "local", night_file=seed, extra={"pipeline": {"simulate": {"max_subruns": 0}}}
    )
    config = load_config(night.config)
    scheduler = RecordedScheduler()
    scheduler.task_ids = not args.whole_jobs
    engine = Engine(config, dt.date(2020, 1, 27), scheduler=scheduler)
    out: dict[str, float] = {}
    t, c = time.perf_counter(), time.process_time()
    await engine.submit()
    out["submit_s"] = time.perf_counter() - t - scheduler.submit_time
    out["submit_cpu_s"] = time.process_time() - c - scheduler.submit_cpu
    out["submit_sched_s"] = scheduler.submit_time
    await engine.refresh()
    bench = Bench(engine, scheduler, args.changed)
    out["tasks"] = len(scheduler.state)
    out["per_round"] = bench.per_round

    # live: the cluster's slots full, the rest waiting, 1 % moving per round
    slots = min(SLOTS, len(bench.keys) // 20)
    running, waiting = list(bench.keys[:slots]), list(bench.keys[slots:])
    for key in running:
        bench.set(key, "RUNNING")
    await engine.refresh()
    if args.memory:
        tracemalloc.start()
    live = await bench.rounds(args.rounds, running, waiting, moving=True)
    out.update({f"live_{k}": v for k, v in live.items()})
    if tracemalloc.is_tracing():
        out["traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    totals = engine.snapshot.totals
    out["live_completed"] = totals.get(JobState.COMPLETED, 0)
    out["live_running"] = totals.get(JobState.RUNNING, 0)

    # late: ``finished`` of the night done, the cluster's slots full, the rest waiting
    done = int(len(bench.keys) * args.finished)
    # stragglers: the last subrun of each of the first N runs still runs, the rest of its array done
    last: dict[int, tuple[int, int, int]] = {}
    for key in bench.keys[:done]:
        last[key[0]] = key  # in subrun order: the last one stays
    stragglers = set(list(last.values())[: args.stragglers])
    for key in bench.keys[:done]:
        bench.set(key, "RUNNING" if key in stragglers else "COMPLETED")
    running, waiting = list(bench.keys[done : done + slots]), list(bench.keys[done + slots :])
    for key in running:
        bench.set(key, "RUNNING")
    for key in waiting:
        bench.set(key, "PENDING")
    await engine.refresh()
    await engine.refresh()
    # what a full sweep would be given now: the night's lines (a running or finished task has
    # two, its allocation and its batch step; a pending one one)
    texts = [text for job in scheduler.lines.values() for text in job.values()]
    out["night_lines"] = sum(1 + text.count("\n") for text in texts)
    idle = await bench.rounds(args.rounds, running, waiting, moving=False)
    out.update({f"idle_{k}": v for k, v in idle.items()})
    # (few rounds: the rest of the night would be done after a dozen)
    late = await bench.rounds(min(args.rounds, 5), running, waiting, moving=True)
    out.update({f"late_{k}": v for k, v in late.items()})
    t = time.perf_counter()
    parse_sacct(scheduler.sacct_text())
    out["parse_all_ms"] = (time.perf_counter() - t) * 1000
    out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    engine.shutdown()
    return out


def report(out: dict[str, float], args: argparse.Namespace) -> None:
    tasks = int(out["tasks"])
    print(
        f"submit of {1 + args.runs} sequences ({args.runs * args.subruns} data tasks): "
        f"{out['submit_s']:.2f} s engine ({out['submit_cpu_s']:.2f} s CPU) "
        f"+ {out['submit_sched_s']:.2f} s scheduler"
    )
    print(f"tasks: {tasks}; changed per refresh: {int(out['per_round'])} ({args.changed:.0%})")
    print(
        f"live refresh median: {out['live_median_ms']:.1f} ms ({out['live_cpu_ms']:.1f} ms CPU); "
        f"max: {out['live_max_ms']:.1f} ms (engine side; target < 150 ms); "
        f"sacct lines asked: {out['live_lines']:.0f}"
    )
    print(f"scheduler calls per refresh: {out['live_calls']:.0f} (target <= 1)")
    print(
        f"late ({args.finished:.0%} finished) idle refresh median: {out['idle_median_ms']:.2f} ms "
        f"({out['idle_cpu_ms']:.2f} ms CPU); max {out['idle_max_ms']:.2f} ms; "
        f"sacct lines asked: {out['idle_lines']:.0f} ({out['idle_lines'] / out['night_lines']:.1%} of the "
        f"night's {out['night_lines']:.0f} lines)"
    )
    print(
        f"late, {args.changed:.0%} changing: median {out['late_median_ms']:.2f} ms "
        f"({out['late_cpu_ms']:.2f} ms CPU); max {out['late_max_ms']:.2f} ms; "
        f"sacct lines asked: {out['late_lines']:.0f}"
    )
    peak = (
        f"{out['traced_peak_mib']:.1f} MiB" if "traced_peak_mib" in out else "not traced (run with --memory)"
    )
    print(
        f"peak traced Python memory during refreshes: {peak}; process max RSS: {out['rss_mib']:.0f} MiB "
        "(target < 150 MB)"
    )
    print(f"after the live rounds: {out['live_completed']:.0f} completed, {out['live_running']:.0f} running")
    print(f"of which sacct text parse alone (whole night, no cache): {out['parse_all_ms']:.1f} ms")


def table(args: argparse.Namespace) -> None:
    """One process per size (each its own RSS); wall time, and CPU time (steadier on a busy machine)."""
    rows = []
    for label, (runs, subruns) in SIZES.items():
        argv = [sys.executable, __file__, "--json", "--runs", str(runs), "--subruns", str(subruns)]
        argv += ["--finished", str(args.finished), "--changed", str(args.changed)]
        argv += ["--stragglers", str(args.stragglers)]
        argv += ["--rounds", str(args.rounds)]
        done = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=3600)
        rows.append((label, json.loads(done.stdout.splitlines()[-1])))
    print(
        "| tasks | submit: engine (CPU) + sched | live refresh median (CPU) / max | live sacct lines "
        f"| idle refresh, {args.finished:.0%} done (CPU) | idle sacct lines (of a full sweep's) "
        f"| late, {args.changed:.0%} changing (CPU) | late sacct lines | max RSS |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, o in rows:
        print(
            f"| {label} ({int(o['tasks'])}) "
            f"| {o['submit_s']:.2f} s ({o['submit_cpu_s']:.2f}) + {o['submit_sched_s']:.2f} s "
            f"| {o['live_median_ms']:.1f} ({o['live_cpu_ms']:.1f}) / {o['live_max_ms']:.1f} ms "
            f"| {o['live_lines']:.0f} "
            f"| {o['idle_median_ms']:.2f} ({o['idle_cpu_ms']:.2f}) ms "
            f"| {o['idle_lines']:.0f} ({o['idle_lines'] / o['night_lines']:.0%}) "
            f"| {o['late_median_ms']:.2f} ({o['late_cpu_ms']:.2f}) ms | {o['late_lines']:.0f} "
            f"| {o['rss_mib']:.0f} MiB |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="data runs (default 50)")
    parser.add_argument("--subruns", type=int, default=200, help="subruns per run (default 200)")
    parser.add_argument("--finished", type=float, default=0.94, help="fraction done in the late phase")
    parser.add_argument(
        "--stragglers", type=int, default=0, help="late phase: runs whose last subrun runs, the rest done"
    )
    parser.add_argument(
        "--whole-jobs", action="store_true", help="ask about whole jobs, never array tasks (as before)"
    )
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of tasks changing per round")
    parser.add_argument("--rounds", type=int, default=20, help="refreshes per phase")
    parser.add_argument("--memory", action="store_true", help="trace Python memory (slows everything)")
    parser.add_argument("--table", action="store_true", help="1k, 10k and 50k tasks in one table")
    parser.add_argument("--json", action="store_true", help="one JSON line of figures")
    args = parser.parse_args()
    if args.table:
        table(args)
        return
    out = asyncio.run(run(args))
    if args.json:
        print(json.dumps(out))
    else:
        report(out, args)


if __name__ == "__main__":
    main()
