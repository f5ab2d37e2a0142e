"""Benchmark: a cold ``osa-core status --json`` of a big night on the Slurm code path (issue 11).

Builds the ledger of a night (1 calibration + RUNS x SUBRUNS, ``--finished`` of it done with a
step record per step, a twentieth running, the rest waiting) through the real engine, then runs
the real ``status --json`` as a process with ``sacct``, ``squeue`` and ``scontrol`` on its PATH
replaced by small shell scripts that print the recorded answer of the jobs asked (``--jobs``).
Prints the whole process's wall and CPU time: the first run's (no cache yet: it keeps what each
finished sequence adds, ``osa_core/track/status_parts.py``) and the median of the others (with
it), and the sacct lines it was given. ``--child-pythonpath DIR`` runs another checkout's code
for the status process (a "before" figure on the same ledger, if its ledger schema is the same);
``--against DIR`` times both, interleaved.

Run by hand: ``.venv/bin/python bench/bench_status.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_refresh import T0, Bench, RecordedScheduler, night_file
from support.nights import make_night

from osa_core.engine import Engine
from osa_core.jobs.history import StepRecord
from osa_core.model.config import load_config

SACCT = """#!/bin/bash
# sacct as recorded: the lines of the jobs asked (--jobs), or of every job.
dir={dir}
jobs=""
for arg in "$@"; do case "$arg" in --jobs=*) jobs="${{arg#--jobs=}}";; esac; done
if [ -z "$jobs" ]; then cat "$dir"/sacct/*; exit 0; fi
whole=(); tasks=(); files=()
for j in ${{jobs//,/ }}; do
  case "$j" in
    *_*) tasks+=("$j"); files+=("$dir/sacct/${{j%%_*}}");;  # an array task: its lines alone, as sacct
    *) whole+=("$dir/sacct/$j");;
  esac
done
if [ ${{#whole[@]}} -gt 0 ]; then cat "${{whole[@]}}"; fi
if [ ${{#tasks[@]}} -gt 0 ]; then
  pattern=$(IFS='|'; echo "${{tasks[*]}}")
  printf '%s\n' "${{files[@]}}" | sort -u | xargs grep -h -E "^($pattern)[.|]"
fi
for j in ${{jobs//,/ }}; do echo "$j" >> "$dir/asked"; done
"""
SQUEUE = """#!/bin/bash
dir={dir}
for arg in "$@"; do case "$arg" in --jobs=*) jobs="${{arg#--jobs=}}";; esac; done
for j in ${{jobs//,/ }}; do cat "$dir/squeue/$j" 2>/dev/null; done
"""
SCONTROL = """#!/bin/bash
echo "Slurmctld(primary) at vm is UP"
"""


async def build(root: Path, runs: int, subruns: int, finished: float) -> tuple[Path, RecordedScheduler]:
    seed = night_file(root / "NightSummary_20200127.txt", runs, subruns)
    night = make_night(
        root / "night", "slurm", night_file=seed, extra={"pipeline": {"simulate": {"max_subruns": 0}}}
    )
    config = load_config(night.config)
    scheduler = RecordedScheduler()
    engine = Engine(config, dt.date(2020, 1, 27), scheduler=scheduler)
    await engine.submit()
    bench = Bench(engine, scheduler, 0.01)
    done = int(len(bench.keys) * finished)
    slots = min(500, len(bench.keys) // 20)
    for key in bench.keys[:done]:
        bench.set(key, "COMPLETED")
    for key in bench.keys[done : done + slots]:
        bench.set(key, "RUNNING")
    steps = engine.profile.subrun_step_names
    records = []
    for i, (seq, _run, subrun) in enumerate(bench.keys[:done]):
        job, index = bench.jobs[(seq, subrun)]
        # Every subrun its own times (as in a real night): no figure may come from a cache of
        # repeated values.
        began = T0 + dt.timedelta(seconds=7 * i, microseconds=137 * i % 1_000_000)
        for n, step in enumerate(steps):
            at = (began + dt.timedelta(minutes=10 * n)).isoformat()
            end = (began + dt.timedelta(minutes=10 * n + 9, seconds=i % 53)).isoformat()
            records.append((seq, subrun, StepRecord("start", step, at, 1, "node01", job, index)))
            records.append((seq, subrun, StepRecord("end", step, end, 1, "node01", job, index, 0)))
    engine.ledger.add_step_records(records, {})
    await engine.refresh()
    engine.shutdown()
    vary_tasks(engine.layout.ledger_path)
    return night.config, scheduler


def vary_tasks(ledger: Path) -> None:
    """Each finished task its own start, end and peak memory (the recorded sacct gives them all
    the same), as a real night's are."""
    db = sqlite3.connect(ledger)
    with db:
        rows = db.execute("SELECT rowid, start FROM tasks WHERE state = 'COMPLETED'").fetchall()
        db.executemany(
            "UPDATE tasks SET start = ?, end = ?, usage = ? WHERE rowid = ?",
            [
                (
                    (T0 + dt.timedelta(seconds=7 * i)).isoformat(),
                    (T0 + dt.timedelta(seconds=7 * i + 2400 + i % 900)).isoformat(),
                    json.dumps(
                        {
                            "max_rss": 2_000_000_000 + 4096 * i,
                            "cpu_seconds": 2000 + i / 1000,
                            "req_mem": 4294967296,
                            "time_limit": 3600.0,
                        }
                    ),
                    rowid,
                )
                for i, (rowid, _) in enumerate(rows)
            ],
        )
    db.close()


def fake_slurm(root: Path, scheduler: RecordedScheduler) -> Path:
    bin_dir = root / "bin"
    for sub in ("sacct", "squeue"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for job, lines in scheduler.lines.items():
        (root / "sacct" / job).write_text("".join(line + "\n" for line in lines.values()))
        live = [
            f"{job}_{i}|{scheduler.state[(job, i)]}|None"
            if i is not None
            else f"{job}|{scheduler.state[(job, i)]}|None"
            for i in lines
            if scheduler.state[(job, i)] in ("PENDING", "RUNNING")
        ]
        (root / "squeue" / job).write_text("".join(line + "\n" for line in live))
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("sacct", SACCT), ("squeue", SQUEUE), ("scontrol", SCONTROL), ("sbatch", SCONTROL)):
        (bin_dir / name).write_text(text.format(dir=root))
        (bin_dir / name).chmod(0o755)
    (bin_dir / "scancel").write_text("#!/bin/sh\n")
    (bin_dir / "scancel").chmod(0o755)
    return bin_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--subruns", type=int, default=200)
    parser.add_argument("--finished", type=float, default=0.94)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--child-pythonpath", help="PYTHONPATH of the status process (another checkout)")
    parser.add_argument(
        "--against", help="also time this checkout's code (e.g. /work/main), interleaved, same ledger"
    )
    parser.add_argument("--profile", type=Path, help="also run it once under cProfile, stats to this file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="osa-bench-status-"))
    config, scheduler = asyncio.run(build(root, args.runs, args.subruns, args.finished))
    bin_dir = fake_slurm(root, scheduler)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")
    if args.child_pythonpath:
        env["PYTHONPATH"] = args.child_pythonpath
    argv = [sys.executable, "-m", "osa_core", "--config", str(config), "status", "--date", "2020-01-27"]
    argv.append("--json")
    if args.profile:
        subprocess.run(
            [sys.executable, "-m", "cProfile", "-o", str(args.profile.resolve()), "-m", *argv[2:]],
            env=env,
            cwd=root,
            capture_output=True,
            timeout=300,
        )
    runs = {"this checkout" if args.against else "": env}
    if args.against:
        runs[args.against] = dict(env, PYTHONPATH=args.against)
    figures: dict[str, tuple[list[float], list[float], list[int]]] = {name: ([], [], []) for name in runs}
    outputs: dict[str, str] = {}
    for _ in range(args.repeat):
        for name, child_env in runs.items():  # interleaved: a busy machine weighs on both alike
            walls, cpus, asked = figures[name]
            (root / "asked").unlink(missing_ok=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            out = subprocess.run(argv, env=child_env, cwd=root, capture_output=True, text=True, timeout=120)
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if out.returncode not in (0, 10):
                raise SystemExit(f"status exited {out.returncode}: {out.stderr}")
            jobs = (root / "asked").read_text().split() if (root / "asked").exists() else []
            asked.append(sum(lines_of(scheduler, j) for j in jobs))
            outputs[name] = out.stdout
    tasks = len(scheduler.state)
    for name, (walls, cpus, asked) in figures.items():
        print(
            (f"{name}: " if name else "")
            + f"cold status --json of {tasks} tasks ({args.finished:.0%} finished), Slurm path: "
            f"first {walls[0]:.3f} s (the finished sequences' parts made and kept), then "
            f"median {statistics.median(walls[1:] or walls):.3f} s wall, "
            f"{statistics.median(cpus[1:] or cpus):.3f} s CPU "
            f"(min {min(walls):.3f} s; target <= 0.3 s); sacct lines given: {statistics.median(asked):.0f}; "
            f"JSON {len(out.stdout) / 2**20:.1f} MiB"
        )
    if args.against:
        same = len({json.dumps(timeless(json.loads(text))) for text in outputs.values()}) == 1
        print(f"the same JSON from both (times of the run aside): {same}")


def lines_of(scheduler: RecordedScheduler, job: str) -> int:
    """The lines sacct gives for a job id, or an array task's (``JOB_INDEX``)."""
    base, _, index = job.partition("_")
    tasks = scheduler.lines[base]
    texts = tasks.values() if not index else [tasks[int(index)]]
    return sum(1 + text.count("\n") for text in texts)


def timeless(out: dict[str, Any]) -> dict[str, Any]:
    """A status JSON without what depends on when it was taken."""
    for sequence in out["sequences"]:
        sequence.pop("elapsed")
    for key in ("taken_at", "scheduler"):
        out.pop(key)
    out["eta"].pop("at")
    return out


if __name__ == "__main__":
    main()
