"""Planning cost against the size of the night file (issue 10, item 11): run by hand.

    .venv/bin/python bench/bench_plan.py [LINES ...]

Writes NightSummary files of the given numbers of lines (a calibration pair every 50 runs) to a
temporary directory and times reading + planning, the JSON and the table in this process. Linear
planning shows as a constant time per line. The reader refuses files above 4 MiB (~45,000 lines).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from osa_core.cli.plan_table import plan_table
from osa_core.plan.planner import plan_file

LINE = "{run:05d} {n:4d} {kind} {when:%Y-%m-%d %H:%M:%S} 0001 1580154753739954334 5739954100 nan nan nan\n"
EVENING = dt.datetime(2020, 1, 27, 18)


def write(path: Path, lines: int) -> None:
    kinds = {0: "DRS4", 1: "CALI"}
    path.write_text(
        "".join(
            LINE.format(
                run=i + 1, n=100, kind=kinds.get(i % 50, "DATA"), when=EVENING + dt.timedelta(seconds=i)
            )
            for i in range(lines)
        )
    )


def main(sizes: list[int]) -> None:
    print(f"{'lines':>7} {'plan s':>8} {'us/line':>8} {'json s':>8} {'table s':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for lines in sizes:
            path = Path(tmp) / "NightSummary_20200127.txt"
            write(path, lines)
            t0 = time.perf_counter()
            plan = plan_file(path)
            t1 = time.perf_counter()
            json.dumps(plan.to_json(), indent=2)
            t2 = time.perf_counter()
            Console(file=io.StringIO(), width=120).print(plan_table(plan))
            t3 = time.perf_counter()
            print(
                f"{lines:>7} {t1 - t0:>8.3f} {(t1 - t0) / lines * 1e6:>8.1f} {t2 - t1:>8.3f} {t3 - t2:>8.3f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1_000, 4_000, 16_000, 45_000])
