"""Console benchmark: a night of 50 runs x 200 subruns (10,000 subruns) as NightSnapshot objects.

    .venv/bin/python bench/bench_console.py [--rounds N] [--sequence-sizes 250,2000]
        [--runs 50 --subruns 200] [--memory-night 250x200] [--no-command]

Prints one line per figure, with issue 11's target, once per size of the sequence opened
(its first data run; 250 and 2,000 subruns by default):

- opening the sequence, up to its first frame                                 (<= 50 ms)
- applying a snapshot in which 1% of the subruns changed, up to the frame     (<= 25 ms)
- back to the overview (escape, a snapshot to catch up, the frame)            (<= 50 ms)
- a key press answered within one frame; a jump to the last subrun            (< 16.7 ms)
- resident memory with the 10,000-subrun night                                (< 250 MB)

then, in a process of its own, the resident memory with a 50,000-subrun night (250 runs x 200)
after sequences were opened and snapshots applied (< 150 MiB), and the first frame from the
command (``osa-console --demo`` in a pseudo-terminal, < 1 s) with its memory.

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
from osa_core.model.snapshot import NightSnapshot  # noqa: E402

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
    print(f"{what:<70} {value:<34} target {target:<10} {'OK' if ok else 'MISSED'}")


def ms(seconds: float) -> float:
    return seconds * 1000


async def open_app(night: NightSnapshot) -> tuple[OsaConsole, FixedPort]:
    port = FixedPort(night)
    prefs = Path(tempfile.mkdtemp()) / "prefs.json"
    settings = ConsoleSettings(clock=fixed_clock, prefs_path=prefs, auto_refresh=False, tick_seconds=3600)
    return OsaConsole(lambda: port, settings), port


async def open_detail(app: OsaConsole, pilot: Pilot[None], seq: int) -> DetailScreen:
    screen = DetailScreen(seq)
    await app.push_screen(screen)
    while not screen.ready:
        await asyncio.sleep(0)
    await settle(pilot)
    return screen


async def in_app(rounds: int, size: int, runs: int, subruns: int) -> None:
    night = synthetic_night(runs=runs, subruns=subruns, first_run_subruns=size)
    total = sum(len(rows) for rows in night.subruns.values())
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"night: {len(night.sequences)} sequences, {total} subruns, the one opened has {size}; "
        f"{os.cpu_count()} CPUs, load average {load}"
    )
    app, _ = await open_app(night)
    async with app.run_test(size=(200, 50)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.01)
        await pilot.pause()

        # Opening the big sequence: screen built, table filled, first frame painted.
        opens, open_cpu = [], []
        for i in range(rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            screen = await open_detail(app, pilot, 1)
            opens.append(time.perf_counter() - t0)
            open_cpu.append(time.process_time() - c0)
            assert screen.table.row_count == size
            if i < rounds - 1:
                app.pop_screen()
                await pilot.pause()
        line(
            f"open a {size}-subrun sequence (build + first frame), wall",
            figures(opens),
            "<= 50 ms",
            statistics.median(opens) <= 0.05,
        )
        line("  same, CPU time", figures(open_cpu), "<= 50 ms", statistics.median(open_cpu) <= 0.05)

        # 1% of the subruns change, round after round. First with the detail screen on top (the
        # overview under it keeps the changed keys and catches up when shown again), then the
        # catch-up itself, then with the overview alone.
        snapshot = night

        async def rounds_of_changes(label: str) -> None:
            nonlocal snapshot
            applies, apply_cpu, painted, cpu, loop_cpu = [], [], [], [], []
            for i in range(rounds):
                snapshot = change_some(snapshot, 0.01, seed=i)
                t0, c0, l0 = time.perf_counter(), time.process_time(), time.thread_time()
                app._deliver(snapshot, snapshot.changed)
                t1, l1 = time.perf_counter(), time.thread_time()
                await settle(pilot)
                painted.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                loop_cpu.append(time.thread_time() - l0)
                applies.append(t1 - t0)
                apply_cpu.append(l1 - l0)
            changed = len(snapshot.changed)
            line(f"apply 1% changed ({changed} subruns), {label}", figures(applies), "", True)
            # The wall time above waits for the GIL while the last snapshot's ETA is computed.
            line("  same, CPU time of the event loop's thread", figures(apply_cpu), "", True)
            line(
                f"apply 1% changed, {label}, up to the frame painted (wall)",
                figures(painted),
                "<= 25 ms",
                statistics.median(painted) <= 0.025,
            )
            line("  same, CPU time", figures(cpu), "<= 25 ms", statistics.median(cpu) <= 0.025)
            # Each snapshot also starts the night's ETA in a worker thread (~20 ms of CPU for
            # 10,000 subruns), which the process's CPU time above includes when it overlaps.
            line(
                "  same, CPU time of the event loop's thread alone",
                figures(loop_cpu),
                "<= 25 ms",
                statistics.median(loop_cpu) <= 0.025,
            )

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

        # Back to the overview, round after round: open the sequence, one snapshot arrives while
        # it is on top, escape; timed from the key to the overview's frame.
        backs, back_cpu = [], []
        for i in range(rounds):
            await open_detail(app, pilot, 1)
            snapshot = change_some(snapshot, 0.01, seed=rounds + i)
            app._deliver(snapshot, snapshot.changed)
            await settle(pilot)
            t0, c0 = time.perf_counter(), time.process_time()
            await press(pilot, "escape")
            backs.append(time.perf_counter() - t0)
            back_cpu.append(time.process_time() - c0)
        line(
            "back to the overview (escape, one snapshot to catch up, frame)",
            figures(backs),
            "<= 50 ms",
            statistics.median(backs) <= 0.05,
        )
        line("  same, CPU time", figures(back_cpu), "<= 50 ms", statistics.median(back_cpu) <= 0.05)

        screen = await open_detail(app, pilot, 1)

        # Key presses: cursor moves in the big table, then in the overview, up to the frame.
        presses = []
        for key in ["down"] * rounds + ["up"] * rounds:
            t0 = time.perf_counter()
            await press(pilot, key)
            presses.append(time.perf_counter() - t0)
        jumps = []
        for key in ["ctrl+end", "ctrl+home"] * max(1, rounds // 2):
            t0 = time.perf_counter()
            await press(pilot, key)
            jumps.append(time.perf_counter() - t0)
        assert screen.table.cursor_key is not None
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
        line(
            f"jump to the last / first of {size} subruns (ctrl+end, ctrl+home) and paint",
            figures(jumps),
            f"< {FRAME_MS:.1f} ms",
            statistics.median(jumps) < FRAME_MS / 1000,
        )

        rss = psutil.Process().memory_info().rss
        line(
            f"resident memory, {total:,}-subrun night open in the app",
            f"{rss / 2**20:.0f} MiB",
            "< 250 MB",
            rss < 250e6,
        )


async def memory(runs: int, subruns: int, rounds: int) -> None:
    """A night of ``runs`` x ``subruns`` in a fresh process: the overview, a sequence opened
    and closed, snapshots applied; then the process's resident memory."""
    night = synthetic_night(runs=runs, subruns=subruns)
    total = sum(len(rows) for rows in night.subruns.values())
    app, _ = await open_app(night)
    async with app.run_test(size=(200, 50)) as pilot:
        while app.snapshot is None:
            await pilot.pause(0.01)
        await pilot.pause()
        snapshot = night
        for i in range(rounds):
            await open_detail(app, pilot, 1 + i % runs)
            snapshot = change_some(snapshot, 0.01, seed=i)
            app._deliver(snapshot, snapshot.changed)
            await settle(pilot)
            app.pop_screen()
            await settle(pilot)
        peak = psutil.Process().memory_info().rss
        line(
            f"resident memory, {total:,}-subrun night ({runs} runs x {subruns}) after {rounds} opens",
            f"{peak / 2**20:.0f} MiB",
            "< 150 MiB",
            peak < 150 * 2**20,
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
    parser.add_argument(
        "--sequence-sizes",
        default="250,2000",
        help="subruns of the sequence opened, one pass per size (comma separated)",
    )
    parser.add_argument("--runs", type=int, default=50, help="data runs of the night")
    parser.add_argument("--subruns", type=int, default=200, help="subruns of every other run")
    parser.add_argument(
        "--memory-night",
        default="250x200",
        help="RUNSxSUBRUNS of the night whose memory is weighed in a process of its own ('' skips)",
    )
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-command", action="store_true", help="skip the first-frame measurement")
    args = parser.parse_args()
    if args.memory_only:
        runs, subruns = (int(x) for x in args.memory_night.split("x"))
        asyncio.run(memory(runs, subruns, min(args.rounds, 10)))
        return
    for size in (int(x) for x in args.sequence_sizes.split(",") if x):
        asyncio.run(in_app(args.rounds, size, args.runs, args.subruns))
    if args.memory_night:
        # A process of its own: the passes above would weigh in its resident memory.
        argv = [sys.executable, __file__, "--memory-only", "--memory-night", args.memory_night]
        subprocess.run([*argv, "--rounds", str(args.rounds)], check=True, timeout=1800)
    if not args.no_command:
        first_frame(min(args.rounds, 5))


if __name__ == "__main__":
    main()
