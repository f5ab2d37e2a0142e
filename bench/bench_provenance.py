"""Benchmark: what the closing's provenance and datacheck cost, on a night already closed.

Prints, for the night of ``--config`` / ``--date`` (e.g. the work directory an lstchain test
left behind):
- importing ``prov`` in a fresh interpreter;
- per merged run, writing its PROV record: seconds, record size, files checksummed and the MB
  read (a fresh checksum cache, as at closing);
- the sha256 rate on a ``--hash-mb`` MB scratch file (what a production run's raw files cost:
  every input is read once at closing);
- ``build_datacheck`` as a process (``osa-core datacheck``), wall and CPU seconds: the DRS4 and
  ENF camera plots import ctapipe.
Run by hand: ``.venv/bin/python bench/bench_provenance.py --config WORK/osa.toml --date 2020-02-18``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from osa_core.close.provenance import Checksums, write_run_provenance
from osa_core.engine import Engine
from osa_core.model.closestate import RunClose
from osa_core.model.config import load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--hash-mb", type=int, default=256)
    args = parser.parse_args()

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import prov.model"], check=True, timeout=60)
    bare = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, timeout=60)
    print(f"import prov.model: {(bare - start) - (time.perf_counter() - bare):.3f} s over a bare interpreter")

    engine = Engine(load_config(args.config), args.date)
    try:
        for run in engine.ledger.closing_runs():
            if run.state not in (RunClose.MOVED, RunClose.CLEANED):
                continue
            checksums = Checksums()
            t0 = time.perf_counter()
            path = write_run_provenance(engine.layout, engine.profile, engine.state.sequences, run, checksums)
            seconds = time.perf_counter() - t0
            read = sum(size for _, size in checksums.known.values()) / 1e6
            print(
                f"run {run.run:05d}: record in {seconds:.3f} s, {path.stat().st_size} bytes, "
                f"{len(checksums.known)} files checksummed ({read:.1f} MB)"
            )
    finally:
        engine.shutdown()

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "scratch.bin"
        with scratch.open("wb") as fh:
            for _ in range(args.hash_mb):
                fh.write(os.urandom(1 << 20))
        t0 = time.perf_counter()
        Checksums().of(scratch)
        seconds = time.perf_counter() - t0
        print(f"sha256 of {args.hash_mb} MB: {seconds:.2f} s ({args.hash_mb / seconds:.0f} MB/s)")

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "osa_core",
        "--config",
        str(args.config),
        "datacheck",
        "--date",
        str(args.date),
    ]
    subprocess.run(cmd, check=True, timeout=600, capture_output=True, env={**os.environ, "MPLBACKEND": "Agg"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(f"osa-core datacheck: {wall:.1f} s wall, {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()
