"""Step records: one JSON object per line in a subrun's history file.

The job-side runner appends them (append + flush + fsync, so a killed job leaves whole lines);
the engine reads only the bytes it has not seen, by offset. A line without its newline is a
record being written: it is left for the next read.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StepRecord:
    event: str
    """``start`` when a step begins, ``end`` when it ends, ``skip`` when an earlier attempt did it."""
    step: str
    time: str
    """ISO 8601, UTC."""
    attempt: int
    host: str
    job_id: str | None
    array_index: int | None
    exit_code: int | None = None
    outputs: tuple[str, ...] = ()
    detail: str = ""

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.time)

    def to_line(self) -> bytes:
        data = asdict(self)
        data["outputs"] = list(self.outputs)
        return (json.dumps(data, separators=(",", ":")) + "\n").encode()

    @classmethod
    def from_json(cls, data: object) -> StepRecord:
        """A record from one parsed line; ValueError for anything that is not a whole record."""
        if not isinstance(data, dict):
            raise ValueError("a step record is a JSON object")
        outputs = data.get("outputs") or ()
        time = data["time"]
        if not isinstance(time, str):
            raise ValueError("time must be a string")
        dt.datetime.fromisoformat(time)  # refuse a time the ledger could not read back
        for name in ("exit_code", "array_index"):
            if data.get(name) is not None and not _is_int(data[name]):
                raise ValueError(f"{name} must be an integer")
        attempt = data.get("attempt", 1)
        if not _is_int(attempt) or not isinstance(outputs, list | tuple):
            raise ValueError("attempt must be an integer and outputs a list")
        return cls(
            event=str(data["event"]),
            step=str(data["step"]),
            time=time,
            attempt=attempt,
            host=str(data.get("host", "")),
            job_id=None if data.get("job_id") is None else str(data["job_id"]),
            array_index=data.get("array_index"),
            exit_code=data.get("exit_code"),
            outputs=tuple(str(o) for o in outputs),
            detail=str(data.get("detail", "")),
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def append_record(path: Path, record: StepRecord) -> None:
    """Append one whole line and make it durable before the step goes on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # One write() of the whole line: O_APPEND makes it land whole at the end.
        os.write(fd, record.to_line())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_records(path: Path, offset: int = 0) -> tuple[list[StepRecord], int]:
    """Records after ``offset`` and the offset to continue from. Unreadable lines are skipped.

    A file shorter than ``offset`` was truncated or replaced: it is read again from the start.
    """
    try:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < offset:
                offset = 0
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n")
    if end < 0:
        return [], offset
    records = list(_parse(data[: end + 1]))
    return records, offset + end + 1


def _parse(data: bytes) -> Iterator[StepRecord]:
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            yield StepRecord.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            # A damaged line (disk full, a foreign writer) must not hide the others.
            continue


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
