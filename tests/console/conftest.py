"""Console test fixtures: deterministic settings, and real demo nights on the local backend.

Key actions are tested against the real engine on the real local backend (with the simulate
profile and short steps): a fake engine there "would only prove that the fixture and the
assertion agree". Only snapshot tests (fixed data, fixed clock) use :class:`FixedPort`.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from console_fakes import fixed_clock
from textual.pilot import Pilot

from osa_console.app import OsaConsole
from osa_console.settings import ConsoleSettings
from osa_core.demo import prepare_demo
from osa_core.engine import Engine
from osa_core.model.config import Config, load_config


@pytest.fixture(autouse=True)
def _state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Preferences (and the demo's default directory) go to the test's tmp_path, never ~."""
    state = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    return state


@pytest.fixture
def settings(tmp_path: Path) -> ConsoleSettings:
    """Fixed clock, no blink, refresh only on demand, fast log polling, prefs in tmp_path."""
    return ConsoleSettings(
        clock=fixed_clock,
        prefs_path=tmp_path / "prefs.json",
        cursor_blink=False,
        auto_refresh=False,
        log_poll_seconds=0.05,
        tick_seconds=3600,
    )


@pytest.fixture
def live_settings(tmp_path: Path) -> ConsoleSettings:
    """For the real engine: the real clock, automatic refresh, fast log polling."""
    return ConsoleSettings(prefs_path=tmp_path / "prefs.json", cursor_blink=False, log_poll_seconds=0.05)


@dataclass
class DemoNight:
    config: Config
    date: dt.date
    workdir: Path

    def engine(self) -> Engine:
        return Engine(self.config, self.date)


def _demo(workdir: Path, step_seconds: float, max_subruns: int = 3) -> DemoNight:
    """The demo night with every simulated step ``step_seconds`` long.

    The job-side runner reads the config *file*, so the file itself is rewritten.
    """
    config, date = prepare_demo(workdir, max_subruns=max_subruns, slots=8)
    assert config.source is not None
    text = config.source.read_text()
    text = re.sub(r"(?m)^step_seconds = .*$", "step_seconds = {}", text)
    text = re.sub(r"(?m)^default_seconds = .*$", f"default_seconds = {step_seconds}", text)
    text = re.sub(r"(?m)^refresh_min = .*$", "refresh_min = 0.2", text)
    text = re.sub(r"(?m)^refresh_max = .*$", "refresh_max = 1.0", text)
    config.source.write_text(text)
    return DemoNight(load_config(config.source), date, workdir)


def _stop(night: DemoNight) -> None:
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(night.config.paths.state / "local-scheduler", kill_tasks=True)


@pytest.fixture
def demo_night(tmp_path: Path) -> Iterator[DemoNight]:
    """The seed night, 3 subruns a run, 0.05 s steps; failures injected in runs 1875 and 1880."""
    night = _demo(tmp_path / "demo", 0.05)
    yield night
    _stop(night)


@pytest.fixture
def slow_night(tmp_path: Path) -> Iterator[DemoNight]:
    """The same night with 20 s steps: tasks stay pending and running long enough to cancel."""
    night = _demo(tmp_path / "slow", 20.0)
    yield night
    _stop(night)


def demo_app(night: DemoNight, settings: ConsoleSettings, *, submit: bool = True) -> OsaConsole:
    return OsaConsole(night.engine, settings, on_start=(lambda e: e.submit()) if submit else None)


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], timeout: float = 60.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` holds (the real engine takes real seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await pilot.pause(0.1)
    await pilot.pause()


async def wait_night_done(pilot: Pilot[None], app: OsaConsole, timeout: float = 300.0) -> None:
    """Generous: the demo night takes ~25 s on a quiet machine, several times that on a loaded one
    (each task is a process of its own); the wait ends as soon as the night has finished."""
    await wait_for(
        pilot,
        lambda: app.snapshot is not None and app.snapshot.sequences and app.snapshot.finished,
        timeout,
        "the night to finish",
    )
