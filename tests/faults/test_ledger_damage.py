"""A damaged night ledger is refused, never read as a new night (issue 10, item 2).

Real SQLite files, damaged the ways a disk, a crash or a hand damage them: emptied, never given
a schema, overwritten, cut short, a table dropped. Each is refused with one line naming the file
and the rebuild command, exit code 6, and the file is left as it was.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from osa_core.model.records import Sequence
from osa_core.model.states import SequenceType
from osa_core.track.ledger import SCHEMA_VERSION, Ledger, LedgerDamaged

T0 = dt.datetime(2020, 1, 28, 1, 0, tzinfo=dt.UTC)
CAL = Sequence(0, SequenceType.CALIBRATION, 1873, 1, None, 1872)
DATA = Sequence(1, SequenceType.DATA, 1874, 4, 0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "20200127" / "ledger_test.sqlite"


def begin(ledger: Ledger, seq: int, indices: tuple[int, ...], attempts: tuple[int, ...]) -> int:
    return ledger.begin_submission(
        seq=seq,
        name=f"LST1_{seq:05d}_20200127",
        indices=indices,
        attempts=attempts,
        script=f"/work/scripts/seq{seq}.sh",
        memory="4G",
        walltime="02:00:00",
        after_ok=(),
        at=T0,
    )


def whole_ledger(path: Path) -> bytes:
    """A real ledger with a plan and a submission, checkpointed into its one file."""
    ledger = Ledger(path)
    ledger.sync_plan([CAL, DATA])
    ledger.complete_submission(begin(ledger, 1, (0, 1, 2, 3), (1, 1, 1, 1)), "100")
    ledger.log_event("test", "x" * 20000)  # enough pages that cutting the file loses some
    ledger.close()
    return path.read_bytes()


def drop_table(path: Path, table: str) -> None:
    db = sqlite3.connect(path)
    db.execute(f"DROP TABLE {table}")
    db.commit()
    db.close()


DAMAGE: dict[str, tuple[Callable[[Path, bytes], object], str]] = {
    "empty": (lambda p, whole: p.write_bytes(b""), r"is empty \(0 bytes\)"),
    "no schema": (lambda p, whole: sqlite3.connect(p).execute("PRAGMA page_size").close(), "is empty"),
    "schema never written": (
        lambda p, whole: sqlite3.connect(p).execute("CREATE TABLE x (y)").connection.commit(),
        "has no schema",
    ),
    "garbage": (lambda p, whole: p.write_bytes(b"not SQLite at all\n" * 100), "is not an SQLite database"),
    "cut header": (lambda p, whole: p.write_bytes(whole[:60]), "is not an SQLite database"),
    "truncated": (
        lambda p, whole: p.write_bytes(whole[: len(whole) // 2]),
        r"is cut short|cannot be read as a ledger \(database disk image is malformed\)",
    ),
    "missing table": (lambda p, whole: drop_table(p, "tasks"), r"misses the table\(s\) tasks"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_ledger_is_refused_never_read_as_a_new_night(path: Path, kind: str) -> None:
    whole = whole_ledger(path)
    spoil, said = DAMAGE[kind]
    if kind in ("empty", "no schema", "schema never written", "garbage"):
        path.unlink()
    spoil(path, whole)
    before = path.read_bytes()
    with pytest.raises(LedgerDamaged) as info:
        Ledger(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the night ledger ") and re.search(said, message), message
    assert "osa-core ledger rebuild" in message
    assert info.value.exit_code == 6
    assert path.read_bytes() == before  # refused, not "repaired" into a new night


def test_damage_found_while_running_is_said_in_one_line(path: Path) -> None:
    ledger = Ledger(path)
    ledger.sync_plan([CAL, DATA])
    ledger.close()
    whole_size = path.stat().st_size
    ledger = Ledger(path)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE sequences")  # another hand spoils it under a running engine
    db.commit()
    db.close()
    with pytest.raises(LedgerDamaged, match=r"the night ledger is damaged .*no such table"):
        ledger.sequences()
    ledger.close()
    assert whole_size > 0


def test_two_processes_creating_the_ledger_at_once_leave_one_whole_ledger(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ledger.sqlite"
    code = (
        "import sys, pathlib; from osa_core.track.ledger import Ledger;"
        "[Ledger(pathlib.Path(sys.argv[1])).close() for _ in range(20)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    assert Ledger(path).schema_version == SCHEMA_VERSION
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []
