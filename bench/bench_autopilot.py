"""Benchmark: what an idle autopilot pass costs on a finished night of 10,000 subruns (issue 12).

A night of 1 calibration + RUNS x SUBRUNS tasks is submitted through the real engine to the
recording scheduler of ``bench_refresh.py`` (sacct's text, parsed for real), every task is made
COMPLETED and folded in. Then two idle passes are timed, each also as a cold ``osa-core
autopilot --date`` process (import + pass), and the scheduler queries they make are counted:

- *finished, not closed*: every sequence is done but the night waits (a morning hour not reached);
  the pass opens the engine, refreshes (no job is unfinished: no query), decides nothing;
- *closed*: the pass judges the night from its ledger alone and opens no engine at all.

Run by hand: ``.venv/bin/python bench/bench_autopilot.py [--runs 50 --subruns 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_refresh import RecordedScheduler, night_file
from support.nights import make_night

from osa_core.autopilot.decide import night_pass
from osa_core.autopilot.runner import one_pass
from osa_core.engine import Engine
from osa_core.model.closestate import ClosingRun, RunClose
from osa_core.model.config import load_config
from osa_core.scheduler.base import utcnow

DATE = dt.date(2020, 1, 27)


def cold(config: Path, repeat: int) -> float:
    """Median seconds of ``osa-core autopilot --date`` as a process."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "osa_core",
                "--config",
                str(config),
                "autopilot",
                "--date",
                DATE.isoformat(),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        times.append(time.perf_counter() - t)
        assert result.returncode == 0, result.stderr
    return statistics.median(times)


async def run(args: argparse.Namespace) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="osa-bench-autopilot-"))
    seed = night_file(root / "NightSummary_20200127.txt", args.runs, args.subruns)
    extra = {
        "pipeline": {"simulate": {"max_subruns": 0}},
        # a 2020 night is past its morning hour: quiet_minutes keeps it open (its file is new)
        "autopilot": {"quiet_minutes": 600.0},
    }
    night = make_night(root / "night", "local", night_file=seed, extra=extra)
    config = load_config(night.config)
    scheduler = RecordedScheduler()
    engine = Engine(config, DATE, scheduler=scheduler)
    await engine.submit()
    for job, index in list(scheduler.state):
        scheduler.set(job, index, "COMPLETED")
    await engine.refresh(full=True)
    tasks = len(scheduler.state)
    engine.shutdown()
    out: dict[str, float] = {"tasks": tasks}

    # finished, not closed: the engine is opened, the pass decides nothing
    for _ in range(args.repeat):
        scheduler.queries = 0
        engine = Engine(config, DATE, scheduler=scheduler)
        t = time.perf_counter()
        report = await night_pass(engine, utcnow(), dry_run=False)
        spent = (time.perf_counter() - t) * 1000
        out["open_pass_ms"] = min(out.get("open_pass_ms", spent), spent)
        out["open_queries"] = scheduler.queries
        assert report.decisions == [], report.decisions
        engine.shutdown()
    out["open_process_s"] = cold(night.config, args.repeat)

    # closed: judged from the ledger alone
    engine = Engine(config, DATE, scheduler=scheduler)
    runs = [ClosingRun(s.run, s.seq, s.subruns, RunClose.MERGED) for s in engine.state.sequences]
    engine.ledger.begin_closing(runs, False, utcnow())
    closing = engine.ledger.closing()
    assert closing is not None
    engine.ledger.finish_closing(closing.id, utcnow(), "{}")
    engine.shutdown()
    for _ in range(args.repeat):
        t = time.perf_counter()
        passed = await one_pass(config, [DATE], dry_run=False)
        spent = (time.perf_counter() - t) * 1000
        out["closed_pass_ms"] = min(out.get("closed_pass_ms", spent), spent)
        assert passed.nights[0].notes == ["closed and published: nothing left to do"], passed.nights[0]
    out["closed_process_s"] = cold(night.config, args.repeat)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--subruns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=1))


if __name__ == "__main__":
    main()
