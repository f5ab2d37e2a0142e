"""``osa-console --serve`` in a real headless Chromium: the night shows, keys reach the app, and a
read-only connection cannot resubmit while an ``--allow-actions`` one can.

The demo night and a short test night, served by the real command (textual-serve, one console
process per browser tab) and run on the real local backend; the ledger is read back with
``osa-core status``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chromium import Browser, Page, distinct_colours
from support.nights import Night, by_state, make_night

FAILED = {(1875, 1), (1878, 2)}  # the failures the test night injects


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Served:
    """One ``osa-console --serve`` process and the address it serves."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @classmethod
    def start(cls, root: Path, *args: str) -> Served:
        port = free_port()
        log = root / f"serve-{port}.log"
        env = {**os.environ, "XDG_STATE_HOME": str(root / "xdg")}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "osa_console", "--serve", "--port", str(port), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        served = cls(process, port, log)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                served.stop()
                raise AssertionError(f"the server did not start:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(served.url, timeout=5) as answer:
                    if answer.status == 200:
                        return served
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)

    def consoles(self) -> set[int]:
        """The console processes the server runs (one per connected browser tab)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in children.read_text().split()} if children.exists() else set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def stop_night(workdir: Path) -> None:
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(workdir / "state" / "local-scheduler", kill_tasks=True)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Served]:
    """``osa-console --serve --demo``: the server lays out and submits the demo night once."""
    server = Served.start(tmp_path, "--demo", "--workdir", str(tmp_path / "demo"))
    try:
        yield server
    finally:
        server.stop()
        stop_night(tmp_path / "demo")


@pytest.fixture
def night(tmp_path: Path) -> Iterator[Night]:
    """The seed night with short steps and two injected failures, submitted with osa-core."""
    failures = [{"run": run, "subrun": subrun, "step": "r0_to_dl1", "exit_code": 3} for run, subrun in FAILED]
    night = make_night(tmp_path / "night", "local", {"pipeline": {"simulate": {"failures": failures}}})
    try:
        night.cli("submit")
        yield night
    finally:
        stop_night(night.root)


def open_console(page: Page, url: str, *, first: str | None = None) -> str:
    """Load the served console, wait for the night's last sequence, and give it the keyboard
    (``first``: a text to see before that, such as a notice that shows only for its first seconds)."""
    page.set_size(1400, 900)
    page.open(url, hook_xterm=True)
    if first is not None:
        page.wait_for_text(first, timeout=60)
    screen = page.wait_for_text("01881", timeout=60)
    page.focus_terminal()
    return screen


def attempts(night: Night) -> dict[tuple[int, int], int]:
    """Each subrun's attempt number in the ledger: a resubmission raises it."""
    return {(r["run"], r["subrun"]): r["attempt"] for r in night.status()["subruns"]}


def test_the_served_console_shows_the_night_and_answers_keys(
    page: Page, demo: Served, tmp_path: Path
) -> None:
    # said before anyone presses a key, from the first frame and for 15 s: looked for first (on a
    # loaded machine the night's rows can come later than the notice goes)
    screen = open_console(page, demo.url, first="Read-only console")
    assert "LST-1 OSA" in screen and "SIMULATION" in screen and "night 2020-01-27" in screen
    for run in range(1873, 1882):  # the sequence table: every run of the seed night
        assert f"{run:05d}" in screen
    # The browser's console watches the server's demo night: it laid out no demo of its own.
    assert not (tmp_path / "xdg" / "osa-console" / "demo").exists()
    page.press("?")
    help_screen = page.wait_for_text("Sequence detail", timeout=20)
    assert "Everywhere" in help_screen and "Night overview" in help_screen
    page.press("Escape")
    page.wait(lambda: "Everywhere" not in page.terminal_text(), "the help to close", 20)
    shot = page.screenshot(tmp_path / "served.png")
    assert distinct_colours(shot) > 20, "the screenshot of the served console is blank"
    page.pump(0.5)
    assert page.problems == [], "the page logged errors or failed requests"

    # Stopping the server with a browser still connected ends that browser's console too.
    consoles = demo.consoles()
    assert len(consoles) == 1
    started = time.monotonic()
    demo.stop()
    assert time.monotonic() - started < 10, "the server waited for its connections to time out"
    page.wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in consoles), "the console to end", 10)


def test_read_only_cannot_resubmit_and_allow_actions_can(
    browser: Browser, night: Night, tmp_path: Path
) -> None:
    served = Served.start(tmp_path, "--config", str(night.config), "--date", night.date)  # read-only
    failed = night.wait(lambda s: set(by_state(s, "FAILED")) >= FAILED, timeout=240)
    before = attempts(night)
    assert set(by_state(failed, "FAILED")) == FAILED

    viewer = browser.new_page()
    try:
        open_console(viewer, served.url)
        viewer.press("A")
        refusal = viewer.wait_for_text("read-only", timeout=20)
        assert "NOT DONE" in refusal and "--allow-actions" in refusal
    finally:
        viewer.close()
        served.stop()
    assert attempts(night) == before, "a read-only browser changed the ledger"

    allowed = Served.start(tmp_path, "--config", str(night.config), "--date", night.date, "--allow-actions")
    shifter = browser.new_page()
    try:
        open_console(shifter, allowed.url)
        shifter.press("A")
        shifter.wait_for_text("whole night", timeout=20)  # the confirmation, as in a terminal
        shifter.press("y")
        # The ledger records the new attempts at submission; whether they then pass is the
        # engine's business, tested elsewhere.
        after = night.wait(
            lambda s: all(r["attempt"] == 2 for r in s["subruns"] if (r["run"], r["subrun"]) in FAILED),
            timeout=60,
        )
    finally:
        shifter.close()
        allowed.stop()
    resubmitted = {(r["run"], r["subrun"]) for r in after["subruns"] if r["attempt"] > 1}
    assert resubmitted == FAILED, "only the failed subruns are resubmitted"


def _integration_sshd() -> Any:
    """tests/integration's real sshd, loaded by path (pytest puts only this folder on sys.path)."""
    path = Path(__file__).resolve().parents[1] / "integration" / "sshd.py"
    spec = importlib.util.spec_from_file_location("osa_test_sshd", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_remote_expert_through_an_ssh_tunnel(page: Page, night: Night, tmp_path: Path) -> None:
    """docs/console.md's recipe: the server on loopback, ``ssh -N -L`` to it from another port."""
    sshd = _integration_sshd()
    if not sshd.SSHD.exists():
        message = "sshd is missing (apt-get install openssh-server; dev/test does it)"
        if os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)
    server = sshd.SshServer(tmp_path / "sshd")
    server.workdir.mkdir()
    server.start()
    served = Served.start(tmp_path, "--config", str(night.config), "--date", night.date)
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    local = free_port()  # not the server's: the page must follow the address the browser used
    tunnel = subprocess.Popen(
        [
            "ssh", "-N", "-p", str(server.port), "-i", str(server.client_key),
            "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-L", f"127.0.0.1:{local}:127.0.0.1:{served.port}",
            f"{server.user}@{server.host}",
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        origin = f"http://127.0.0.1:{local}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(origin + "/", timeout=5):
                    break
            except (urllib.error.URLError, OSError):
                assert tunnel.poll() is None, tunnel.stderr.read() if tunnel.stderr else ""
                assert time.monotonic() < deadline, "the tunnel did not open"
                time.sleep(0.2)
        screen = open_console(page, origin + "/")
        assert "night 2020-01-27" in screen
        elsewhere = [u for u in page.requested_urls() if u.split("/")[2] != f"127.0.0.1:{local}"]
        assert elsewhere == [], "the page asked for addresses past the tunnel"
        assert any(u.startswith(f"ws://127.0.0.1:{local}/") for u in page.requested_urls())
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
        if tunnel.stderr is not None:
            tunnel.stderr.close()
        served.stop()
        server.stop()
