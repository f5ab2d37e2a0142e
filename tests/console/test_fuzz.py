"""A monkey on the keyboard: random keys on every screen, at every size, with the night moving.

Each run is seeded and reproducible: a failure names its seed, and ``OSA_FUZZ_SEED=N`` replays
that one run. The quick runs here take a few seconds each; ``-m slow`` adds longer ones.

The night is the fixed synthetic one served by :class:`FixedPort` and moved on by the test
(snapshots arrive as the refresher would post them): what is exercised is the console itself,
its screens, tables and dialogs, not the engine behind it (``test_pilot_engine.py`` does that).
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from console_fakes import FixedPort, change_some, log_refs, synthetic_night
from test_snapshots import KEY, LOGS
from textual import events
from textual.app import SystemCommand
from textual.pilot import Pilot
from textual.screen import Screen

from osa_console import app as app_module
from osa_console.app import OsaConsole
from osa_console.messages import SnapshotArrived
from osa_console.settings import ConsoleSettings
from osa_core.model.actions import Selection
from osa_core.model.snapshot import NightSnapshot

SCREENS = ("overview", "detail", "log", "help", "confirm", "palette")
SIZES = ((20, 5), (24, 6), (40, 10), (80, 24), (150, 34))
# Every key some screen binds, the table and input keys, and a few that nothing binds. Not the
# keys that quit (q, ctrl+q, ctrl+c): leaving is not a crash.
KEYS = (
    *"rACPtRclsSfoenNGyFxh1",
    *("question_mark", "slash", "left_square_bracket", "right_square_bracket", "space", "enter"),
    *("escape", "tab", "shift+tab", "up", "down", "left", "right", "pageup", "pagedown"),
    *("home", "end", "ctrl+home", "ctrl+end", "backspace", "delete", "ctrl+p"),
)

CHARACTERS = {
    "space": " ",
    "enter": "\r",
    "tab": "\t",
    "escape": "\x1b",
    "backspace": "\x7f",
    "question_mark": "?",
    "slash": "/",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}


@dataclass
class Monkey:
    app: OsaConsole
    pilot: Pilot[None]
    rng: random.Random
    night: NightSnapshot
    pressed: list[str]
    rounds: int = 0

    async def open(self, screen: str) -> None:
        """Back to the overview as a shifter goes back (escape), then open ``screen``."""
        app = self.app
        for _ in range(6):
            if len(app.screen_stack) == 1:
                break
            await self.press("escape")
        while len(app.screen_stack) > 1:  # a screen escape does not close (none known): close it
            await app.pop_screen()
        if screen == "detail":
            app.open_sequence(self.rng.randrange(len(self.night.sequences)))
        elif screen == "log":
            app.open_log(KEY)
        elif screen == "help":
            app.action_help()
        elif screen == "confirm":
            ask = self.rng.choice(("resubmit", "cancel", "close", "push"))
            if ask == "resubmit":
                app.operations.resubmit(Selection(failed_only=True))
            elif ask == "cancel":
                app.operations.cancel(Selection(seqs=frozenset({2})))
            else:
                (app.operations.close_night if ask == "close" else app.operations.push)()
        elif screen == "palette":
            app.action_command_palette()
        await self.pilot.pause()

    async def press(self, key: str) -> None:
        """Faster than a person types: the next key comes once the app has handled this one,
        without Pilot's wait for the process to go idle (~40 ms a key)."""
        self.pressed.append(key)
        event = events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None))
        event.set_sender(self.app)
        assert self.app._driver is not None
        self.app._driver.send_message(event)
        await self.pilot._wait_for_screen()

    def night_moves(self) -> None:
        """The next snapshot arrives, as the refresher posts it; now and then the scheduler
        stops answering, or answers again."""
        self.rounds += 1
        night = change_some(self.night, self.rng.choice((0.01, 0.1, 0.5)), seed=self.rounds)
        if self.rng.random() < 0.1:
            healthy = synthetic_night(healthy=self.rng.random() < 0.5).health
            night = dataclasses.replace(night, health=healthy)
        self.night = night
        self.app.post_message(SnapshotArrived(night))

    def alive(self) -> bool:
        return self.app.is_running and self.app.return_code is None


class StayingConsole(OsaConsole):
    """The console without the palette's "Quit" command: leaving is not a crash, and keys sent
    to an app that has left would only test the test."""

    CSS_PATH = str(Path(app_module.__file__).with_name("app.tcss"))  # the app's, not next to this file

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        return (c for c in super().get_system_commands(screen) if c.title != "Quit")


def seeds(default: list[int]) -> list[int]:
    chosen = os.environ.get("OSA_FUZZ_SEED")
    return [int(chosen)] if chosen else default


async def monkey_run(settings: ConsoleSettings, seed: int, keys_per_screen: int) -> None:
    rng = random.Random(seed)
    night = synthetic_night()
    port = FixedPort(night, logs={KEY: log_refs(LOGS, KEY, attempts=2)})
    app = StayingConsole(lambda: port, settings)
    pressed: list[str] = []

    def where() -> str:
        return f"seed {seed} (replay: OSA_FUZZ_SEED={seed}); last keys {pressed[-25:]}"

    try:
        async with app.run_test(size=SIZES[-1]) as pilot:
            while app.snapshot is None:
                await pilot.pause(0.01)
            monkey = Monkey(app, pilot, rng, night, pressed)
            for screen in SCREENS:
                await monkey.open(screen)
                for i in range(keys_per_screen):
                    if i % 40 == 0:
                        await pilot.resize_terminal(*rng.choice(SIZES))
                    if i % 25 == 0 and i:
                        await monkey.open(screen)  # keys wander off: come back to this screen
                    if rng.random() < 0.15:
                        monkey.night_moves()
                    await monkey.press(rng.choice(KEYS))
                    assert monkey.alive(), f"the console exited on {screen}: {where()}"
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc} — {where()}") from exc
    assert app.return_code in (None, 0), where()


@pytest.mark.parametrize("seed", seeds([1]))
async def test_random_keys_on_every_screen(
    settings: ConsoleSettings, seed: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the palette's "Screenshot" writes where the console runs
    await monkey_run(settings, seed, keys_per_screen=150)


@pytest.mark.slow
@pytest.mark.parametrize("seed", seeds(list(range(100, 106))))
async def test_random_keys_longer(
    settings: ConsoleSettings, seed: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    await monkey_run(settings, seed, keys_per_screen=1000)
