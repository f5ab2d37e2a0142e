"""The night ledger's schema, its migrations, and telling a damaged ledger from a new night.

A ledger that does not exist is a new night. A ledger that exists but is empty, has no schema,
misses a table, is cut short or is not an SQLite file at all is *damage*: reading it as a new
night would show every subrun NOT_SUBMITTED and ``submit`` would submit the whole night again.
So a new ledger is built under a temporary name and linked into place whole (a crash, or a
second process creating it at the same moment, never leaves an empty file behind), and any
other file is checked before it is used. ``osa-core ledger rebuild`` rebuilds a damaged one.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from osa_core.model.errors import LedgerError

SCHEMA_VERSION = 7

MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE sequences (
        seq INTEGER PRIMARY KEY, type TEXT NOT NULL, run INTEGER NOT NULL UNIQUE,
        drs4_run INTEGER, subruns INTEGER NOT NULL, parent INTEGER
    );
    CREATE TABLE submissions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, name TEXT NOT NULL,
        job_id TEXT, status TEXT NOT NULL, indices TEXT, attempts TEXT NOT NULL,
        submitted_at TEXT NOT NULL, script TEXT NOT NULL, memory TEXT, walltime TEXT,
        after_ok TEXT NOT NULL, note TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE tasks (
        seq INTEGER NOT NULL, subrun INTEGER NOT NULL, attempt INTEGER NOT NULL,
        job_id TEXT NOT NULL, array_index INTEGER, state TEXT NOT NULL, exit_code INTEGER,
        signal INTEGER, node TEXT, start TEXT, end TEXT, reason TEXT,
        PRIMARY KEY (seq, subrun, attempt)
    );
    CREATE INDEX tasks_job ON tasks (job_id, array_index);
    CREATE TABLE steps (
        seq INTEGER NOT NULL, subrun INTEGER NOT NULL, attempt INTEGER NOT NULL, step TEXT NOT NULL,
        start TEXT, end TEXT, exit_code INTEGER, skipped INTEGER NOT NULL DEFAULT 0,
        host TEXT, job_id TEXT, detail TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (seq, subrun, attempt, step)
    );
    CREATE TABLE history_offsets (path TEXT PRIMARY KEY, offset INTEGER NOT NULL);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, kind TEXT NOT NULL,
        message TEXT NOT NULL
    );
    """,
    # 2: the closing of the night (osa_core/close/closer.py): one row per data run and its state
    2: """
    CREATE TABLE closing_runs (
        run INTEGER PRIMARY KEY, seq INTEGER NOT NULL, subruns INTEGER NOT NULL, state TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0, job_id TEXT, jobs TEXT NOT NULL DEFAULT '[]',
        submitted_at TEXT, reason TEXT NOT NULL DEFAULT '', products TEXT NOT NULL DEFAULT '[]',
        updated_at TEXT NOT NULL
    );
    CREATE TABLE closings (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT NOT NULL, forced INTEGER NOT NULL,
        finished TEXT, summary TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: the closing's state in typed columns instead of meta entries (one of them JSON)
    3: """
    ALTER TABLE closings ADD COLUMN status TEXT NOT NULL DEFAULT '';
    ALTER TABLE closings ADD COLUMN closed_at TEXT;
    ALTER TABLE closings ADD COLUMN datacheck_done INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE closings ADD COLUMN datacheck_dir TEXT;
    ALTER TABLE closings ADD COLUMN datacheck_files INTEGER;
    ALTER TABLE closings ADD COLUMN datacheck_error TEXT;
    UPDATE closings SET
        status = COALESCE((SELECT value FROM meta WHERE key = 'closing'), ''),
        closed_at = (SELECT value FROM meta WHERE key = 'closing_closed_at')
        WHERE id = (SELECT MAX(id) FROM closings);
    UPDATE closings SET
        datacheck_done = 1,
        datacheck_dir = json_extract(m.value, '$.dir'),
        datacheck_files = json_extract(m.value, '$.files'),
        datacheck_error = json_extract(m.value, '$.error')
        FROM (SELECT value FROM meta WHERE key = 'closing_datacheck') AS m
        WHERE closings.id = json_extract(m.value, '$.closing');
    DELETE FROM meta WHERE key IN ('closing', 'closing_closed_at', 'closing_datacheck')
    """,
    # 4: intents of mutations that are not job submissions (cancel, re-arm), replayed after a crash
    4: """
    CREATE TABLE intents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, payload TEXT NOT NULL,
        begun_at TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL DEFAULT ''
    );
    """,
    # 5: incidents a person must hear about (osa_core/alert/), and each message owed to each target
    5: """
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, kind TEXT NOT NULL,
        subject TEXT NOT NULL, summary TEXT NOT NULL, advice TEXT NOT NULL DEFAULT '',
        opened_at TEXT NOT NULL, last_seen TEXT NOT NULL, resolved_at TEXT
    );
    CREATE UNIQUE INDEX incidents_open ON incidents (key) WHERE resolved_at IS NULL;
    CREATE TABLE alert_deliveries (
        incident INTEGER NOT NULL, phase TEXT NOT NULL, target TEXT NOT NULL,
        sent_at TEXT, tries INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',
        claimed_by TEXT, claimed_at TEXT,
        PRIMARY KEY (incident, phase, target)
    );
    """,
    # 6: what each task used (osa_core/model/usage.py, JSON), and who did what: the OS user of
    # the process that submitted, began an intent or wrote an event (the handover report)
    6: """
    ALTER TABLE tasks ADD COLUMN usage TEXT;
    ALTER TABLE submissions ADD COLUMN user TEXT;
    ALTER TABLE intents ADD COLUMN user TEXT;
    ALTER TABLE events ADD COLUMN user TEXT
    """,
    # 7: a version per sequence, moved by every change to its task or step rows (triggers, so no
    # writer can forget it), and the ledger's own id: together they tell a cold status which
    # finished sequences it may take from its cache (osa_core/track/status_parts.py)
    7: """
    ALTER TABLE sequences ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
    INSERT OR IGNORE INTO meta (key, value) VALUES ('ledger_id', lower(hex(randomblob(8))));
    """
    + "".join(
        f"""
    CREATE TRIGGER {table}_{event.lower()}_version AFTER {event} ON {table} BEGIN
        UPDATE sequences SET version = version + 1 WHERE seq = {row}.seq;
    END;
    """
        for table in ("tasks", "steps")
        for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
    ),
}

TABLES: dict[int, frozenset[str]] = {
    1: frozenset({"meta", "sequences", "submissions", "tasks", "steps", "history_offsets", "events"}),
    2: frozenset({"closing_runs", "closings"}),
    3: frozenset(),
    4: frozenset({"intents"}),
    5: frozenset({"incidents", "alert_deliveries"}),
    6: frozenset(),
    7: frozenset(),
}

REBUILD_HINT = "rebuild it with `osa-core ledger rebuild --date {date}` (the damaged file is kept)"

SQLITE_MAGIC = b"SQLite format 3\x00"


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring a ledger at any older schema (1 or more) to this program's, in one transaction."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise LedgerError(
            f"the ledger has schema {version}, newer than this program's {SCHEMA_VERSION}: "
            "use the newer osa-core",
            path=path,
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in statements(MIGRATIONS[target]):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {target}")


def statements(script: str) -> list[str]:
    """The SQL statements of ``script``, whole: a trigger's body holds semicolons of its own."""
    out, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending)
            pending = ""
    if pending.strip(" \n;"):
        raise ValueError(f"an incomplete SQL statement in a migration: {pending!r}")
    return out


def damage(path: Path) -> str | None:
    """What is wrong with an existing ledger file, read without changing it; None: it looks whole.

    Cheap enough for every command (a header read and one catalogue query): a full integrity
    check would cost a cold ``status`` tens of milliseconds on a big night.
    """
    try:
        with path.open("rb") as f:
            header = f.read(100)
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size == 0:
        return "is empty (0 bytes)"
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return "is not an SQLite database (garbage or a cut-off header)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # The in-header size is valid when the change counters agree. A checkpoint in another
    # process writes page 1 before the pages after it, so a short file is only suspicious: the
    # full check (through the WAL index, as SQLite reads it) decides.
    short = header[24:28] == header[92:96] and pages > 0 and size < pages * page_size
    try:
        db = sqlite3.connect(path.as_uri() + "?mode=rw", uri=True, timeout=30.0)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if short and db.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
                return f"is cut short ({size} bytes of {pages * page_size})"
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return f"cannot be read as a ledger ({exc})"
    if version == 0:
        return "has no schema (no tables were ever created in it)"
    if version > SCHEMA_VERSION:
        return None  # a newer program's: refused by migrate(), with what to do
    expected = frozenset().union(*(TABLES[v] for v in range(1, min(version, SCHEMA_VERSION) + 1)))
    missing = sorted(expected - tables)
    if missing:
        return f"misses the table(s) {', '.join(missing)}"
    return None


def create(path: Path) -> None:
    """A new, fully migrated ledger at ``path``, appearing whole; another process may win the race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # persistent in the file: set before anyone shares it
        db.execute("BEGIN IMMEDIATE")
        migrate(db, path)
        db.execute("COMMIT")
    finally:
        db.close()
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process created the ledger first: theirs is used
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
