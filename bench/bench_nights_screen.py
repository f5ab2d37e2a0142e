"""Benchmark: the console's nights screen (``D``) over a year of nights (365 ledgers).

The ledgers are those of ``bench/bench_nights.py`` (1 calibration + RUNS x SUBRUNS tasks each,
written through the real ``Ledger``; the newest night half done, read whole for its ETA). The
console runs headless (Textual's test driver) on a fixed port serving a synthetic night, with the
real ``osa_core.shift.NightsListing`` behind the screen. Prints, best of ``--rounds``:

- the key's action answered: the screen up with its (empty) table              (target < 200 ms)
- the first rows shown (the newest nights, the open one among them)
- the default 30 nights all shown, and all 365 (``a``)
- the longest the event loop was held while the rows arrived (responsiveness), and the same
  for the idle console before (on a loaded machine the OS alone holds it that long)

Run by hand: ``.venv/bin/python bench/bench_nights_screen.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "console"))

from bench_nights import write_night  # noqa: E402
from console_fakes import FixedPort, synthetic_night  # noqa: E402
from support.nights import make_night  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from osa_console.app import OsaConsole  # noqa: E402
from osa_console.screens.nights_screen import NightsScreen  # noqa: E402
from osa_console.settings import ConsoleSettings  # noqa: E402
from osa_core.model.config import Config, load_config  # noqa: E402
from osa_core.model.layout import NightLayout  # noqa: E402
from osa_core.shift import NightsListing  # noqa: E402


async def until(pilot: Pilot[None], condition: Callable[[], bool], timeout: float = 60.0) -> float:
    """Seconds until ``condition`` holds, polling the app every millisecond."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the nights screen did not get there")
        # not pilot.pause(): it waits for every queued message of the screen, rows included
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def one_round(config: Config, tmp: Path, nights: int) -> dict[str, float]:
    port = FixedPort(synthetic_night())
    settings = ConsoleSettings(
        prefs_path=tmp / "prefs.json", cursor_blink=False, auto_refresh=False, tick_seconds=3600
    )
    app = OsaConsole(lambda: port, settings, nights=NightsListing(config))
    out: dict[str, float] = {}
    lags: list[float] = []

    async def watch_loop() -> None:
        # How late a 5 ms sleep wakes up: the longest the loop was busy with something else.
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - started - 0.005)

    async with app.run_test(size=(170, 45)) as pilot:
        await until(pilot, lambda: app.snapshot is not None)
        await pilot.pause(0.2)
        watcher = asyncio.create_task(watch_loop())
        await asyncio.sleep(2.0)  # the same console idle: what the machine itself costs
        out["loop held at most, idle console"] = max(lags, default=0.0)
        lags.clear()
        started = time.perf_counter()
        app.action_nights()  # what the D key runs (pilot.press waits for the whole reading)
        screen = app.screen
        assert isinstance(screen, NightsScreen)
        await until(pilot, lambda: screen.is_mounted and bool(screen.table.columns))
        out["screen up"] = time.perf_counter() - started
        await until(pilot, lambda: screen.table.row_count > 0)
        out["first rows"] = time.perf_counter() - started
        await until(pilot, lambda: screen.loaded)
        out["30 nights shown"] = time.perf_counter() - started
        assert screen.table.row_count == min(30, nights)
        started = time.perf_counter()
        screen.action_show_all()
        await until(pilot, lambda: not screen.loaded)
        await until(pilot, lambda: screen.loaded)
        out[f"all {nights} shown"] = time.perf_counter() - started
        assert screen.table.row_count == nights
        watcher.cancel()
        out["loop held at most, reading"] = max(lags, default=0.0)
        lags.sort()
        out["loop held, 99th percentile, reading"] = lags[int(0.99 * (len(lags) - 1))] if lags else 0.0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=365)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--subruns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the ledgers here, or reuse those written there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        if (where / "night" / "osa.toml").is_file():
            config = load_config(where / "night" / "osa.toml")
        else:
            config = load_config(make_night(where / "night", "local").config)
            last = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
            started = time.perf_counter()
            for i in range(args.nights):
                layout = NightLayout(config, last - dt.timedelta(days=i))
                write_night(layout, args.runs, args.subruns, i == 0)
            print(
                f"{args.nights} ledgers of {1 + args.runs * args.subruns} tasks written"
                f" in {time.perf_counter() - started:.1f} s"
            )
        listing = NightsListing(config)
        started = time.perf_counter()
        dates, _ = listing.dates()
        for date in dates:
            listing.summary(date)
        took = time.perf_counter() - started
        print(f"in process, no console: {len(dates)} nights read in {1000 * took:.0f} ms")
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            figures = asyncio.run(one_round(config, Path(tmp), len(dates)))
            for name, value in figures.items():
                best[name] = min(best.get(name, value), value)
        for name, value in best.items():
            target = "  (target < 200 ms)" if name == "screen up" else ""
            print(f"{name}: {1000 * value:.0f} ms{target}")


if __name__ == "__main__":
    main()
