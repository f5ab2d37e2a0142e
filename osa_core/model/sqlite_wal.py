"""Switching an SQLite database to write-ahead logging when another process may be doing it too.

The night ledger and the local scheduler's spool are each opened by several processes (the
console, cron, the executor). Two of them creating the same database at once: the switch to
WAL does not wait on SQLite's busy handler and fails at once with "database is locked" while
the other holds the lock, so it is tried again for a while.
"""

from __future__ import annotations

import sqlite3
import time


def switch_to_wal(conn: sqlite3.Connection, wait: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``wait`` seconds while the file is locked."""
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
