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


def hold_exclusive(path: Path, seconds: float) -> None:
    """Another connection takes the exclusive lock; returns once it holds it."""
    held = threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)


def test_the_switch_waits_for_the_other_lock(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    sqlite3.connect(path).close()
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    hold_exclusive(path, 0.5)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        conn.execute("PRAGMA journal_mode=WAL")  # what SQLite does on its own
    switch_to_wal(conn, wait=10)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_it_gives_up_after_its_wait(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    sqlite3.connect(path).close()
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    hold_exclusive(path, 3)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(conn, wait=0.3)
    assert time.monotonic() - started < 2.5
    conn.close()
