"""End to end: the installed ``osa-console --demo`` in a real terminal (tmux), driven by keys.

The night is seen progressing, failing, and a resubmission (``A``, then ``y`` on the
confirmation) bringing it to 100% with no failure left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

COMMAND = Path(sys.executable).parent / "osa-console"


class Terminal:
    """One tmux server of our own (its own socket), one window running the command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        # Under pytest COLUMNS=80 may be in the environment; the tmux server would pass it on
        # and the console would take it over the pane's real size.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
            env=env,
        )
        return out.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "console")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "console", *keys)

    def wait(self, condition: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if condition(text):
                return text
            time.sleep(0.5)
        size = self.tmux("display", "-p", "-t", "console", "#{pane_width}x#{pane_height}").strip()
        raise AssertionError(f"no {what} after {timeout} s; the screen ({size}) was:\n{self.screen()}")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    if shutil.which("tmux") is None or not COMMAND.exists():
        pytest.skip("needs tmux and the installed osa-console command")
    term = Terminal(f"osa-e2e-{uuid.uuid4().hex[:8]}")
    env = f"-u COLUMNS -u LINES XDG_STATE_HOME={tmp_path / 'state'}"
    command = f"env {env} {COMMAND} --demo --workdir {tmp_path / 'demo'}"
    term.tmux("new-session", "-d", "-s", "console", "-x", "170", "-y", "45", "-c", str(tmp_path), command)
    try:
        yield term
    finally:
        try:
            term.keys("q")
            time.sleep(0.5)
        finally:
            subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=20)
            from osa_core.scheduler.local.backend import stop_executor

            stop_executor(tmp_path / "demo" / "state" / "local-scheduler", kill_tasks=True)


def test_demo_progresses_fails_and_is_resubmitted(terminal: Terminal) -> None:
    terminal.wait(lambda s: "LST-1 OSA" in s, 60, "first frame")
    terminal.wait(lambda s: "SIMULATION" in s, 120, "the demo night opened")
    terminal.wait(lambda s: "▶ RUN" in s or "✔ DONE" in s, 120, "progress")
    terminal.wait(
        lambda s: "✖ FAILED" in s and "▶ RUN" not in s and "… PEND" not in s,
        300,
        "a finished night with failures",
    )

    terminal.keys("A")
    dialog = terminal.wait(lambda s: "--array=" in s, 20, "the confirmation")
    assert "whole night" in dialog
    terminal.keys("y")
    terminal.wait(
        lambda s: "100.0%" in s and "✖ FAILED" not in s, 300, "every subrun completed after the resubmission"
    )
