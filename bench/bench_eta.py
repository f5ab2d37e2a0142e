"""Benchmark: how far the night's ETA is from its real end after 10 %, 30 % and 60 % of the night.

A night of 1 calibration + RUNS x SUBRUNS data subruns is played forward on a number of slots
(``tests/support/simnight.py``: each task takes the slot that frees first, as a scheduler gives
them), with step durations drawn from a log-normal around production-like medians, a per-run
factor (some runs are heavier) and, per scenario, a drift or a loss of slots halfway. At each
moment the night as it stands becomes the ledger rows the engine would hold, folded into a real
snapshot by ``NightState``; ``estimate`` reads it. The error is the estimate minus the real end,
in minutes and in % of the whole night. ``--real`` also runs a real simulate-profile night on the
local backend through the engine (process start-up, scheduling and refresh delays included),
refreshing it in process and keeping the estimate of every refresh.
Run by hand: ``.venv/bin/python bench/bench_eta.py [--real]``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.simnight import T0, night, play, snapshot_at

from osa_core.model.snapshot import NightSnapshot
from osa_core.track.eta import Eta, estimate

MEDIANS = (30 * 60.0, 3 * 60.0, 5 * 60.0, 10 * 60.0)  # r0_to_dl1, datacheck, muons, dl1_to_dl2
CALIBRATION = (6 * 60.0, 8 * 60.0, 4 * 60.0)
MOMENTS = (0.10, 0.30, 0.60)


def durations(
    sequences: list, rng: random.Random, sigma: float, drift: float
) -> dict[tuple[int, int], tuple[float, ...]]:
    """Per subrun, its step seconds: log-normal per step, times a per-run factor, times a drift
    that makes the night's later runs (1 + drift) times slower than its first."""
    out: dict[tuple[int, int], tuple[float, ...]] = {}
    runs = max(1, len(sequences) - 1)
    for s in sequences:
        if s.is_calibration:
            out[(s.seq, 0)] = CALIBRATION
            continue
        factor = rng.lognormvariate(0.0, 0.15) * (1.0 + drift * (s.seq - 1) / runs)
        for sub in range(s.subruns):
            out[(s.seq, sub)] = tuple(m * factor * rng.lognormvariate(0.0, sigma) for m in MEDIANS)
    return out


def scenario(name: str, runs: int, subruns: int, slots: int, seed: int, **kw: float) -> list[str]:
    rng = random.Random(seed)
    sequences = night(runs, subruns)
    drift = kw.get("drift", 0.0)
    lose = int(kw.get("lose", 0))
    seconds = durations(sequences, rng, kw.get("sigma", 0.3), drift)
    first = play(sequences, seconds, slots)
    length = (max(p.end for p in first) - T0).total_seconds()
    played = play(sequences, seconds, slots, lose=(length / 2, lose)) if lose else first
    end = max(p.end for p in played)
    total = (end - T0).total_seconds()
    lines = [f"{name}: {runs} runs x {subruns} subruns on {slots} slots, night {total / 3600:.2f} h"]
    for fraction in MOMENTS:
        now = T0 + dt.timedelta(seconds=fraction * total)
        built = time.perf_counter()
        snapshot = snapshot_at(sequences, played, now)
        started = time.perf_counter()
        eta = estimate(snapshot)
        took = time.perf_counter() - started
        if eta.at is None:
            lines.append(f"  after {fraction:4.0%}: no estimate ({eta.basis})")
            continue
        error = (eta.at - end).total_seconds()
        left = (end - now).total_seconds()
        share, of_left = 100 * error / total, 100 * error / left
        lines.append(
            f"  after {fraction:4.0%}: estimate {error / 60:+7.1f} min = {share:+5.1f} % of the night"
            f" ({of_left:+5.1f} % of what was left); {eta.left} left, concurrency {eta.concurrency:.1f};"
            f" estimate {1000 * took:.1f} ms, snapshot {1000 * (started - built):.0f} ms"
        )
    return lines


async def real_night(root: Path, runs_subruns: int, slots: int) -> list[str]:
    """A simulate-profile night on the local backend, refreshed every half second until it ends."""
    from support.nights import make_night

    from osa_core.engine import Engine
    from osa_core.model.config import load_config
    from osa_core.scheduler.local.backend import stop_executor

    steps = {"drs4_baseline": 1.0, "charge_calibration": 1.0, "time_calibration": 0.5, "r0_to_dl1": 2.0}
    extra = {
        "scheduler": {"local_slots": slots, "refresh_min": 0.5, "refresh_max": 0.5},
        "pipeline": {
            "simulate": {"max_subruns": runs_subruns, "default_seconds": 0.5, "step_seconds": steps}
        },
    }
    night = make_night(root, "local", extra)
    engine = Engine(load_config(night.config), dt.date(2020, 1, 27))
    seen: list[tuple[NightSnapshot, Eta]] = []
    try:
        await engine.submit()
        while True:
            snapshot = await engine.refresh()
            seen.append((snapshot, estimate(snapshot)))
            if snapshot.finished:
                break
            await asyncio.sleep(0.5)
    finally:
        engine.shutdown()
        stop_executor(root / "state" / "local-scheduler", kill_tasks=True)
    last = seen[-1][0]
    rows = [r for rows in last.subruns.values() for r in rows]
    start = min(r.start for r in rows if r.start)
    end = max(r.end for r in rows if r.end)
    total = (end - start).total_seconds()
    lines = [f"real simulate night: {len(rows)} tasks on {slots} local slots, {total:.1f} s"]
    for fraction in MOMENTS:
        moment = start + dt.timedelta(seconds=fraction * total)
        snapshot, eta = next(((s, e) for s, e in seen if s.taken_at >= moment), seen[-1])
        if eta.at is None:
            lines.append(f"  after {fraction:4.0%}: no estimate ({eta.basis})")
            continue
        error = (eta.at - end).total_seconds()
        lines.append(
            f"  after {fraction:4.0%} (refresh at {(snapshot.taken_at - start).total_seconds():.1f} s):"
            f" estimate {error:+.1f} s = {100 * error / total:+5.1f} % of the night; {eta.basis}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--subruns", type=int, default=150)
    parser.add_argument("--slots", type=int, default=300)
    parser.add_argument("--seeds", type=int, default=5, help="nights per scenario (median printed)")
    parser.add_argument("--real", action="store_true", help="also a real simulate night on the local backend")
    args = parser.parse_args()
    if args.real:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            print("\n".join(asyncio.run(real_night(Path(tmp), 12, 8))), flush=True)
    cases = (
        ("steady", {}),
        ("wide spread (sigma 0.6)", {"sigma": 0.6}),
        ("later runs 50 % slower", {"drift": 0.5}),
        ("a third of the slots lost halfway", {"lose": args.slots // 3}),
    )
    for name, kw in cases:
        errors: dict[float, list[float]] = {m: [] for m in MOMENTS}
        for seed in range(args.seeds):
            lines = scenario(name, args.runs, args.subruns, args.slots, seed, **kw)
            if seed == 0:
                print("\n".join(lines))
            for fraction, line in zip(MOMENTS, lines[1:], strict=True):
                if "% of the night" in line:
                    errors[fraction].append(abs(float(line.split("=")[1].split("%")[0])))
        summary = ", ".join(
            f"{m:.0%}: {statistics.median(v):.1f} % (worst {max(v):.1f} %)" for m, v in errors.items() if v
        )
        print(f"  |error| over {args.seeds} nights, in % of the night: {summary}", flush=True)


if __name__ == "__main__":
    main()
