"""Disks that refuse, for real: a full tmpfs, a read-only mount, a path under /proc, a parent that
is a file. Each command must answer with one line naming the path and what to do, and an exit
code, never a traceback; nothing may be submitted half-way (issue 10, item 4).

Mounting needs root (the CI machine runs as root); every mount is undone, lazily if a process
still holds it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.nights import Night, make_night

pytestmark = pytest.mark.timeout(300)

DISK = 13  # docs/cli.md: a file or directory could not be written or read
LEDGER = 6
FAILURES = [
    {"run": 1875, "subrun": 1, "step": "muon_analysis", "exit_code": 3},
    {"run": 1879, "subrun": 2, "step": "r0_to_dl1", "exit_code": 5},
]

Mount = Callable[..., Path]


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Mount]:
    """``mount(name, size="8m", ro=False)``: a fresh tmpfs at tmp_path/name."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made: list[Path] = []

    def make(name: str, size: str = "8m", ro: bool = False) -> Path:
        where = tmp_path / name
        where.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if ro else "")
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True, timeout=30)
        made.append(where)
        return where

    yield make
    for where in reversed(made):
        subprocess.run(["umount", "-l", str(where)], check=False, timeout=30)


def fill(where: Path) -> None:
    """Take every free byte of the file system under ``where``, as a runaway job would."""
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                continue
    finally:
        os.close(fd)
    assert os.statvfs(where).f_bavail == 0


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def stop_local(tmp_path: Path) -> Iterator[None]:
    """The local backend's executor holds files in the state directory: stop it before unmounting."""
    yield
    from osa_core.scheduler.local.backend import stop_executor

    for spool in tmp_path.rglob("local-scheduler"):
        stop_executor(spool, kill_tasks=True)


# --- where the state or the work area cannot be written -----------------------------------------


@pytest.mark.parametrize("command", ["submit", "status"])
def test_read_only_state_directory(tmp_path: Path, mount: Mount, command: str) -> None:
    state = mount("state", ro=True)
    night = make_night(tmp_path / "night", "local", {"paths": {"state": str(state)}})
    result = night.cli(command, check=False, timeout=60)
    # the ledger (main) reports its own directory as LedgerError; other writes as StorageError
    assert result.returncode in (DISK, LEDGER)
    line = one_line(result)
    assert f"{state}/20200127" in line and "read-only file system" in line.lower()


def test_read_only_analysis_directory_submits_nothing(tmp_path: Path, mount: Mount, stop_local: None) -> None:
    analysis = mount("analysis", ro=True)
    night = make_night(tmp_path / "night", "local", {"paths": {"analysis": str(analysis)}})
    result = night.cli("submit", check=False, timeout=60)
    assert result.returncode == DISK
    assert one_line(result).startswith(f"osa-core: {analysis}/20200127: read-only file system")
    status = night.status()
    assert {r["state"] for r in status["subruns"]} == {"NOT_SUBMITTED"}


@pytest.mark.parametrize("command", ["submit", "status"])
def test_state_path_under_proc(tmp_path: Path, command: str) -> None:
    night = make_night(tmp_path, "local", {"paths": {"state": "/proc/osa-state"}})
    result = night.cli(command, check=False, timeout=60)
    assert result.returncode in (DISK, LEDGER)
    assert "/proc/osa-state" in one_line(result)


@pytest.mark.parametrize("command", ["submit", "status"])
def test_state_path_through_a_file(tmp_path: Path, command: str) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where a directory should be\n")
    night = make_night(tmp_path, "local", {"paths": {"state": str(blocker / "state")}})
    result = night.cli(command, check=False, timeout=60)
    assert result.returncode in (DISK, LEDGER)
    line = one_line(result)
    assert f"{blocker}/state/20200127" in line and "not a directory" in line.lower()


# --- a disk that fills up -------------------------------------------------------------------------


def attempts(night: Night) -> dict[tuple[int, int], int]:
    status = json.loads(night.cli("status", "--json").stdout.splitlines()[-1])
    return {(r["run"], r["subrun"]): r["attempt"] for r in status["subruns"]}


def test_full_work_area(tmp_path: Path, mount: Mount, stop_local: None) -> None:
    """resubmit, datacheck and close --force on a work area that filled up after the night ran."""
    analysis = mount("analysis", size="16m")
    night = make_night(
        tmp_path / "night",
        "local",
        {"paths": {"analysis": str(analysis)}, "pipeline": {"simulate": {"failures": FAILURES}}},
    )
    night.cli("submit")
    night.wait_finished()
    before = attempts(night)
    fill(analysis)
    work = f"{analysis}/20200127/test"

    result = night.cli("resubmit", check=False)
    assert result.returncode == DISK
    assert one_line(result) == (
        f"osa-core: {work}: no space left on the device: free space there, then run the command again"
    )
    assert attempts(night) == before  # nothing was submitted

    result = night.cli("datacheck", check=False)
    assert result.returncode == DISK
    assert one_line(result).startswith(f"osa-core: {work}: no space left on the device")

    result = night.cli("close", "--force", check=False)
    assert result.returncode == DISK
    assert one_line(result).endswith(
        "already recorded as excluded: run(s) 01875, 01879; run `close` again once this is fixed: "
        "it carries on from there"
    )


def test_full_state_disk(tmp_path: Path, mount: Mount, stop_local: None) -> None:
    """The ledger on a full disk: SQLite only says "disk I/O error"; the message says it is full."""
    state = mount("state", size="4m")
    night = make_night(tmp_path / "night", "local", {"paths": {"state": str(state)}})
    night.cli("status")
    fill(state)
    for command in ("status", "submit", "resubmit"):
        result = night.cli(command, check=False)
        assert result.returncode in (DISK, LEDGER), result.stderr
        line = one_line(result)
        assert line.startswith(f"osa-core: {state}/20200127/")
        assert "free space there, then run the command again" in line
