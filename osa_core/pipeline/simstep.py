"""One simulated step: wait, then write a placeholder product (or fail as configured).

Run as ``python -m osa_core.pipeline.simstep``; imports nothing beyond the standard library so
it starts in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from osa_core.model.fileio import atomic_write

MEMORY_HOLD = 20.0
"""Seconds a step injected with ``--allocate-mb`` holds it at least: ample for any polled limit."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="simstep", description="SIMULATION of a pipeline step")
    parser.add_argument("--step", required=True)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--subrun", type=int, default=0)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--fail", type=int, default=0, help="exit with this code instead of succeeding")
    parser.add_argument("--allocate-mb", type=int, default=0, help="hold this much memory while waiting")
    args = parser.parse_args(argv)

    print(f"SIMULATION: {args.step} for run {args.run:05d}.{args.subrun:04d}, {args.seconds:g} s", flush=True)
    ballast = bytearray(args.allocate_mb * 2**20)  # zero-filled pages are really touched
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    # A step that needs more memory than its task was given keeps needing it until the limit
    # stops it, as a real one does: held for a 0.1-s step, it could end before a limit that is
    # polled (the local backend's, every 0.5 s) ever saw it, and the injected failure not happen.
    hold = max(args.seconds, MEMORY_HOLD if args.allocate_mb else 0.0)
    time.sleep(max(0.0, hold))
    if args.allocate_mb:
        print(f"SIMULATION: held {args.allocate_mb} MB for {hold:g} s and was not stopped", flush=True)
    del ballast
    if args.fail:
        print(f"SIMULATION: {args.step} fails as configured (exit code {args.fail})", file=sys.stderr)
        return int(args.fail)
    product = {
        "simulated": True,
        "step": args.step,
        "run": args.run,
        "subrun": args.subrun,
        "events": args.events,
    }
    atomic_write(args.output, json.dumps(product) + "\n")
    print(f"SIMULATION: wrote {args.output}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
