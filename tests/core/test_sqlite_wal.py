"""The switch to WAL waits for another process's lock instead of failing at once.

Another connection (the other process opening the same new ledger or spool) holds the file's
exclusive lock for a moment; SQLite answers the WAL switch "database is locked" without waiting,
and the helper tries again until the lock is gone, or gives up after its wait.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from osa_core.model.sqlite_wal import switch_to_wal


def hold_exclusive(path: Path) -> threading.Event:
    """Another connection takes the exclusive lock; returns once it holds it, with the event that
    lets it go. Held until told, not for a fixed time: a test stalled longer than that on a loaded
    machine would find the lock already gone."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait(60)
        other.execute("COMMIT")
        other.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)
    return release


def test_the_switch_waits_for_the_other_lock(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    sqlite3.connect(path).close()
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    release = hold_exclusive(path)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("PRAGMA journal_mode=WAL")  # what SQLite does on its own
    threading.Timer(0.5, release.set).start()  # the other process lets go while the switch waits
    switch_to_wal(conn, wait=10)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_it_gives_up_after_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    sqlite3.connect(path).close()
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    release = hold_exclusive(path)
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            switch_to_wal(conn, wait=0.3)
        assert time.monotonic() - started < 2.5
    finally:
        release.set()
    conn.close()
