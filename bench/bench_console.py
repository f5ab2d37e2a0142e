"""Console benchmark: a night of 50 runs x 200 subruns (10,000 subruns) as NightSnapshot objects.

    .venv/bin/python bench/bench_console.py [--rounds N] [--no-command]

Prints one line per figure, with the issue's target:

- applying a snapshot in which 1% of the subruns changed to the open screens  (< 50 ms)
- opening a 250-subrun sequence                                               (< 100 ms)
- a key press answered within one frame                                       (< 16.7 ms)
- first frame from the command (``osa-console --demo`` in a pseudo-terminal)  (< 1 s)
- resident memory                                                             (< 250 MB)

The app runs headless (Textual's test driver) on a fixed port serving the synthetic snapshots,
so the figures are the console's own cost, without any scheduler.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "console"))

import psutil  # noqa: E402
from console_fakes import FixedPort, change_some, fixed_clock, synthetic_night  # noqa: E402
from textual import events  # noqa: E402
from textual.pilot import Pilot  # noqa: E402

from osa_console.app import OsaConsole  # noqa: E402
from osa_console.screens.detail_screen import DetailScreen  # noqa: E402
from osa_console.settings import ConsoleSettings  # noqa: E402

FRAME_MS = 1000 / 60


async def settle(pilot: Pilot[None]) -> None:
    """Until the app has handled what is queued and painted one frame (no idle sleeps)."""
    for _ in range(2):  # DataTable finishes its dimensions on idle, then paints again
        await pilot._wait_for_screen()
        pilot.app.screen._on_timer_update()


async def press(pilot: Pilot[None], key: str) -> None:
    event = events.Key(key, None)
    event.set_sender(pilot.app)
    assert pilot.app._driver is not None
    pilot.app._driver.send_message(event)
    await settle(pilot)


def figures(samples: list[float]) -> str:
    return f"median {ms(statistics.median(samples)):.1f} ms, max {ms(max(samples)):.1f} ms"


def line(what: str, value: str, target: str, ok: bool) -> None:
    print(f"{what:<58} {value:<34} target {target:<10} {'OK' if ok else 'MISSED'}")


def ms(seconds: float) -> float:
    return seconds * 1000


async def in_app(rounds: int) -> None:
    night = synthetic_night(runs=50, subruns=200, first_run_subruns=250)
    total = sum(len(rows) for rows in night.subruns.values())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"night: {len(night.sequences)} sequences, {total} subruns; "
        f"{os.cpu_count()} CPUs, load average {load}"
    )
    port = FixedPort(night)
    prefs = Path(tempfile.mkdtemp()) / "prefs.json"
    settings = ConsoleSettings(clock=fixed_clock, prefs_path=prefs, auto_refresh=False, tick_seconds=3600)
    app = OsaConsole(lambda: port, settings)
    async with app.run_test(size=(200, 50)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.01)
        await pilot.pause()

        # Opening the 250-subrun sequence: screen built, table filled, first frame painted.
        opens, open_cpu = [], []
        for i in range(rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            screen = DetailScreen(1)
            await app.push_screen(screen)
            while not screen.ready:
                await asyncio.sleep(0)
            await settle(pilot)
            opens.append(time.perf_counter() - t0)
            open_cpu.append(time.process_time() - c0)
            assert screen.table.row_count == 250
            if i < rounds - 1:
                app.pop_screen()
                await pilot.pause()
        line(
            "open a 250-subrun sequence (build + first frame), wall",
            figures(opens),
            "< 100 ms",
            statistics.median(opens) < 0.1,
        )
        line("  same, CPU time", figures(open_cpu), "< 100 ms", statistics.median(open_cpu) < 0.1)

        # 1% of the subruns change, round after round. First with the detail screen on top (the
        # overview under it keeps the changed keys and catches up when shown again), then the
        # catch-up itself, then with the overview alone.
        snapshot = night

        async def rounds_of_changes(label: str) -> None:
            nonlocal snapshot
            applies, painted, cpu = [], [], []
            for i in range(rounds):
                snapshot = change_some(snapshot, 0.01, seed=i)
                t0, c0 = time.perf_counter(), time.process_time()
                app._deliver(snapshot, snapshot.changed)
                t1 = time.perf_counter()
                await settle(pilot)
                painted.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                applies.append(t1 - t0)
            changed = len(snapshot.changed)
            line(
                f"apply 1% changed ({changed} subruns), {label}",
                figures(applies),
                "< 50 ms",
                statistics.median(applies) < 0.05,
            )
            line(
                "  same, up to the frame painted (wall)",
                figures(painted),
                "< 50 ms",
                statistics.median(painted) < 0.05,
            )
            line("  same, CPU time", figures(cpu), "< 50 ms", statistics.median(cpu) < 0.05)

        await rounds_of_changes("detail on top of overview")
        t0, c0 = time.perf_counter(), time.process_time()
        app.pop_screen()
        await settle(pilot)
        line(
            f"back to the overview after {rounds} snapshots (catch-up + frame)",
            f"{ms(time.perf_counter() - t0):.1f} ms wall, {ms(time.process_time() - c0):.1f} ms CPU",
            "",
            True,
        )
        await rounds_of_changes("overview alone")
        await app.push_screen(DetailScreen(1))
        await pilot.pause()

        # Key presses: cursor moves in the 250-row table, then in the overview, up to the frame.
        presses = []
        for key in ["down"] * rounds + ["up"] * rounds:
            t0 = time.perf_counter()
            await press(pilot, key)
            presses.append(time.perf_counter() - t0)
        app.pop_screen()
        await pilot.pause()
        for key in ["down"] * rounds + ["up"] * rounds:
            t0 = time.perf_counter()
            await press(pilot, key)
            presses.append(time.perf_counter() - t0)
        p95 = sorted(presses)[int(len(presses) * 0.95)]
        line(
            "key press (cursor move) handled and painted",
            figures(presses) + f", p95 {ms(p95):.1f} ms",
            f"< {FRAME_MS:.1f} ms",
            statistics.median(presses) < FRAME_MS / 1000,
        )

        rss = psutil.Process().memory_info().rss
        line(
            "resident memory, 10,000-subrun night open in the app",
            f"{rss / 2**20:.0f} MiB",
            "< 250 MB",
            rss < 250e6,
        )


def first_frame(rounds: int) -> None:
    """``osa-console --demo`` in a pseudo-terminal: time until the header is on the screen."""
    command = shutil.which("osa-console", path=str(Path(sys.executable).parent))
    argv = [command] if command else [sys.executable, "-m", "osa_console"]
    times, rss = [], []
    for _ in range(rounds):
        workdir = Path(tempfile.mkdtemp(prefix="osa-bench-"))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "45"}
        env["XDG_STATE_HOME"] = str(workdir / "state")
        master, slave = pty.openpty()
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [*argv, "--demo", "--workdir", str(workdir / "demo")],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=workdir,
            start_new_session=True,
        )
        os.close(slave)
        seen, elapsed = b"", None
        while time.perf_counter() - t0 < 10:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if b"LST-1 OSA" in seen:
                    elapsed = time.perf_counter() - t0
                    break
        time.sleep(2)  # let the night open and the jobs start, then weigh the process
        try:
            rss.append(psutil.Process(proc.pid).memory_info().rss)
        except psutil.Error:
            pass
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)
        _stop_demo(workdir / "demo")
        if elapsed is None:
            print("first frame: the header never appeared; output was:", seen[-500:])
            return
        times.append(elapsed)
    line(
        "first frame from the command (osa-console --demo)",
        f"median {statistics.median(times):.2f} s, max {max(times):.2f} s",
        "< 1 s",
        max(times) < 1.0,
    )
    if rss:
        line(
            "resident memory of the command (demo night running)",
            f"{max(rss) / 2**20:.0f} MiB",
            "< 250 MB",
            max(rss) < 250e6,
        )


def _stop_demo(demo: Path) -> None:
    try:
        from osa_core.scheduler.local.backend import stop_executor
    except ImportError:
        return
    stop_executor(demo / "state" / "local-scheduler", kill_tasks=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--no-command", action="store_true", help="skip the first-frame measurement")
    args = parser.parse_args()
    asyncio.run(in_app(args.rounds))
    if not args.no_command:
        first_frame(min(args.rounds, 5))


if __name__ == "__main__":
    main()
