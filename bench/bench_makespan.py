"""Benchmark: makespan of a simulated night on the real single-node SLURM (issue 3).

The seed night with subruns capped and every step taking a known time runs through the real
engine on SLURM; the makespan (first submission to last task end) is compared with the ideal:
the calibration's critical path plus the total data work spread over the node's slots.
Run by hand with SLURM up (dev/slurm-up):
``.venv/bin/python bench/bench_makespan.py [SUBRUNS [STEP_SECONDS]]``.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.nights import all_finished, make_night

STEP = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0  # seconds per step
DATA_STEPS, CALIB_STEPS = 4, 3


def node_cpus() -> int:
    out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=20).stdout
    return int(out.split()[0].rstrip("+"))


def main() -> None:
    subruns = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    partition = (
        subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=20)
        .stdout.split()[0]
        .rstrip("*")
    )
    slots = node_cpus()
    root = Path(tempfile.mkdtemp(prefix="osa-makespan-"))
    extra = {
        "pipeline": {"simulate": {"max_subruns": subruns, "default_seconds": STEP}},
        "scheduler": {"memory": "100M", "calibration_memory": "100M"},
    }
    night = make_night(root, "slurm", extra, partition=partition)
    t0 = dt.datetime.now(dt.UTC)
    start = time.monotonic()
    night.cli("submit")
    status = night.wait(all_finished, timeout=3600, every=2.0)
    wall = time.monotonic() - start
    ends = [dt.datetime.fromisoformat(r["end"]) for r in status["subruns"] if r["end"]]
    makespan = (max(ends) - t0).total_seconds()
    tasks = sum(1 for r in status["subruns"] if r["run"] != 1873)
    ideal = CALIB_STEPS * STEP + tasks * DATA_STEPS * STEP / slots
    states = {r["state"] for r in status["subruns"]}
    print(f"night: 1 calibration + {tasks} data tasks of {DATA_STEPS} x {STEP:g} s on {slots} slots")
    print(f"states: {sorted(states)}")
    print(
        f"makespan (first sbatch to last task end): {makespan:.1f} s; ideal: {ideal:.1f} s; "
        f"ratio: {makespan / ideal:.3f} (target < 1.15)"
    )
    durations = [
        (dt.datetime.fromisoformat(r["end"]) - dt.datetime.fromisoformat(r["start"])).total_seconds()
        for r in status["subruns"]
        if r["run"] != 1873 and r["start"] and r["end"]
    ]
    overhead = sum(durations) / len(durations) - DATA_STEPS * STEP
    print(
        f"mean task wall time over its configured steps (job start, runner, step processes): {overhead:.2f} s"
    )
    print(f"status polling wall time: {wall:.1f} s")
    (root / "result.json").write_text(json.dumps({"makespan": makespan, "ideal": ideal}))


if __name__ == "__main__":
    main()
