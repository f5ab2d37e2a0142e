"""Hostile night files through the real CLI: a FIFO that never delivers, a device, an absurd size.

Each command runs as a real process with a timeout: the fault this guards against is a hang, so
a test that waited forever would prove nothing. Nothing here is faked: the FIFO is a real named
pipe with no writer, the large file a real (sparse) file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from support.nights import Night, make_night

from osa_core.model.errors import InputError

pytestmark = pytest.mark.timeout(120)

QUICK = 30.0  # seconds: a refusal takes well under one; a hang would take forever


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def fifo_night(tmp_path: Path) -> Iterator[Night]:
    """A night whose configured night file is a named pipe nobody ever writes to."""
    night = make_night(tmp_path, "local")
    summary = tmp_path / "raw" / "20200127" / "NightSummary_20200127.txt"
    summary.unlink()
    os.mkfifo(summary)
    yield night
    _release(summary)


def _release(fifo: Path) -> None:
    """Unblock any reader still stuck in open() (a thread of this process), then remove the FIFO."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no reader left: nothing to release
        pass
    else:
        os.close(fd)
    fifo.unlink(missing_ok=True)


def test_plan_refuses_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "NightSummary_20200127.txt"
    os.mkfifo(fifo)
    result = subprocess.run(
        [sys.executable, "-m", "osa_core", "plan", str(fifo)], capture_output=True, text=True, timeout=QUICK
    )
    assert result.returncode == 2
    assert one_line(result.stderr) == f"osa-core: {fifo}: is a named pipe (FIFO), not a regular file: " + (
        "expected a night file"
    )


@pytest.mark.parametrize("command", ["submit", "status"])
def test_night_commands_refuse_a_fifo(fifo_night: Night, command: str) -> None:
    result = fifo_night.cli(command, timeout=QUICK, check=False)
    assert result.returncode == 2, result.stderr
    assert "named pipe (FIFO)" in one_line(result.stderr)


def test_two_submits_on_a_fifo_both_answer(fifo_night: Night) -> None:
    """The second submit used to hang with the first (both stuck in open())."""
    results: list[subprocess.CompletedProcess[str]] = []
    threads = [
        threading.Thread(target=lambda: results.append(fifo_night.cli("submit", timeout=QUICK, check=False)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.returncode for r in results) == [2, 2]


def test_ctrl_c_stops_status_watch_on_a_fifo(fifo_night: Night) -> None:
    cmd = [sys.executable, "-m", "osa_core", "--config", str(fifo_night.config), "status", "--watch"]
    proc = subprocess.Popen([*cmd, "--date", fifo_night.date], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    out = bytearray()
    shown = threading.Event()

    def read(stream: IO[bytes]) -> None:
        while chunk := os.read(stream.fileno(), 65536):
            out.extend(chunk)
            if b"named pipe (FIFO)" in out:
                shown.set()

    reader = threading.Thread(target=read, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        # Ctrl-C once the watch loop has drawn the night (a fixed 3 s could fall inside the
        # start-up on a loaded machine, where Ctrl-C is Python's KeyboardInterrupt, not ours);
        # before the fix the command stuck in open() and drew nothing
        assert shown.wait(60), f"status --watch drew no table naming the FIFO: {bytes(out)!r}"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    assert proc.returncode == 130
    assert b"named pipe (FIFO)" in out


def test_plan_refuses_a_character_device() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "osa_core", "plan", "/dev/zero"], capture_output=True, text=True, timeout=QUICK
    )
    assert result.returncode == 2
    message = "/dev/zero: is a character device, not a regular file: expected a night file"
    assert one_line(result.stderr) == f"osa-core: {message}"


def test_plan_refuses_an_absurd_size_before_reading_it(tmp_path: Path) -> None:
    huge = tmp_path / "NightSummary_20200127.txt"
    with huge.open("wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB, sparse: costs no disk, and reading it would take minutes
    result = subprocess.run(
        [sys.executable, "-m", "osa_core", "plan", str(huge)], capture_output=True, text=True, timeout=QUICK
    )
    assert result.returncode == 2
    assert "is 2048.0 MiB, more than the 4.0 MiB a night file may have" in one_line(result.stderr)


def test_a_stalled_open_gives_up_at_the_deadline(tmp_path: Path) -> None:
    """open() of a FIFO without O_NONBLOCK blocks in the kernel as a dead NFS server does."""
    from osa_core.model.fileio import bounded

    fifo = tmp_path / "stalled"
    os.mkfifo(fifo)
    started = time.monotonic()
    try:
        with pytest.raises(InputError, match=r"no answer after 0.5 s reading the night file"):
            bounded(lambda: fifo.read_bytes(), 0.5, fifo, "reading the night file")
        assert time.monotonic() - started < 5
    finally:
        _release(fifo)


def test_status_of_a_night_without_its_file_is_not_ok(tmp_path: Path) -> None:
    """A cron check read exit 0 ("OK") for a night whose file was missing."""
    night = make_night(tmp_path, "local")
    summary = tmp_path / "raw" / "20200127" / "NightSummary_20200127.txt"
    summary.unlink()
    for args in (["status"], ["status", "--json"]):
        result = night.cli(*args, timeout=QUICK, check=False)
        assert result.returncode == 2
        assert one_line(result.stderr) == (
            f"osa-core: {summary}: no such night file (expected a NightSummary .txt or RunSummary .ecsv)"
        )
