"""Tail a log file by byte offset and polling, without keeping its text in memory.

Like toolong, only the byte offset of each line start is kept (8 bytes a line); lines are read
on demand with ``pread``. Unlike toolong it survives what happens to job logs on a cluster:

- polling, not inotify: inotify does not see writes made by other nodes on NFS/Lustre;
- truncation (size shrinks) restarts the index from byte 0 and says so;
- a rewrite in place (truncated then grown past the old size between two polls) is caught by
  comparing the first bytes of the file with those indexed;
- rotation (the path now names another inode) reopens the path and says so;
- a file that does not exist yet (a pending job) is waited for.

It is thread-safe: the console polls and searches in worker threads while rendering reads lines.
No Textual import here.
"""

from __future__ import annotations

import os
import threading
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class TailEvent(StrEnum):
    NONE = "none"
    OPENED = "opened"
    GREW = "grew"
    TRUNCATED = "truncated"
    REPLACED = "replaced"
    ROTATED = "rotated"
    MISSING = "missing"

    @property
    def resets(self) -> bool:
        """The index restarted: line numbers from before mean nothing now."""
        return self in (TailEvent.OPENED, TailEvent.TRUNCATED, TailEvent.REPLACED, TailEvent.ROTATED)

    def describe(self) -> str:
        return {
            TailEvent.TRUNCATED: "the file was truncated: reading it again from the start",
            TailEvent.REPLACED: "the file was rewritten: reading it again from the start",
            TailEvent.ROTATED: "the file was rotated: now showing the new file",
            TailEvent.MISSING: "the file does not exist (yet): waiting for it",
        }.get(self, "")


@dataclass(frozen=True, slots=True)
class PollResult:
    event: TailEvent
    line_count: int
    size: int
    more: bool = False
    """Unread bytes remain (a big file is indexed over several polls): poll again soon."""


HEAD_BYTES = 256


class LogTail:
    def __init__(self, path: Path, *, chunk: int = 1 << 20, max_per_poll: int = 16 << 20) -> None:
        self.path = Path(path)
        self._chunk = chunk
        self._max_per_poll = max_per_poll
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._reset_index()

    def _reset_index(self) -> None:
        self._starts = array("Q", [0])
        self._indexed = 0
        self._head = b""
        self.max_line_bytes = 0

    # ------------------------------------------------------------------------------------------
    # polling

    def poll(self) -> PollResult:
        """Look at the file once: notice truncation, rewrite and rotation, index what was appended.

        The lock is taken per chunk, not for the whole poll, so that a renderer reading lines
        never waits long behind a poll indexing a big file.
        """
        with self._lock:
            event = self._check_identity()
            if self._fd is None:
                return PollResult(TailEvent.MISSING, 0, 0)
            size = os.fstat(self._fd).st_size
            if size < self._indexed:
                self._reset_index()
                event = TailEvent.TRUNCATED
            elif self._indexed and self._head and os.pread(self._fd, len(self._head), 0) != self._head:
                self._reset_index()
                event = TailEvent.REPLACED
            before = self._indexed
            limit = min(size, self._indexed + self._max_per_poll)
        while True:
            with self._lock:
                if self._fd is None or not self._index_chunk(limit):
                    break
        with self._lock:
            if event is TailEvent.NONE and self._indexed > before:
                event = TailEvent.GREW
            return PollResult(event, self._line_count(), self._indexed, more=self._indexed < size)

    def _check_identity(self) -> TailEvent:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            # Rotated away and not yet recreated: keep showing what the open descriptor holds.
            return TailEvent.MISSING if self._fd is None else TailEvent.NONE
        identity = (st.st_dev, st.st_ino)
        if self._fd is not None and identity == self._identity:
            return TailEvent.NONE
        rotated = self._fd is not None
        self._close_fd()
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return TailEvent.MISSING
        # Identity of what was opened, not of what was stat'ed: the path may have moved between.
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)
        self._reset_index()
        return TailEvent.ROTATED if rotated else TailEvent.OPENED

    def _index_chunk(self, limit: int) -> bool:
        """Index one chunk of bytes up to ``limit``; False when there is nothing more to read."""
        assert self._fd is not None
        pos = self._indexed
        if pos >= limit:
            return False
        data = os.pread(self._fd, min(self._chunk, limit - pos), pos)
        if not data:
            return False
        if len(self._head) < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - len(self._head)]
        starts = self._starts
        longest = self.max_line_bytes
        find = data.find
        at = find(b"\n")
        while at >= 0:
            start = pos + at + 1
            longest = max(longest, start - starts[-1] - 1)
            starts.append(start)
            at = find(b"\n", at + 1)
        self._indexed = pos + len(data)
        self.max_line_bytes = max(longest, self._indexed - starts[-1])
        return True

    def _line_count(self) -> int:
        # A file ending in a newline has no line after it; a partial last line counts.
        return len(self._starts) - (1 if self._starts[-1] >= self._indexed else 0)

    # ------------------------------------------------------------------------------------------
    # reading

    @property
    def line_count(self) -> int:
        with self._lock:
            return self._line_count()

    @property
    def size(self) -> int:
        with self._lock:
            return self._indexed

    def line(self, index: int, limit: int = 64 * 1024) -> str:
        """Line ``index`` (0-based) without its newline, at most ``limit`` bytes of it."""
        with self._lock:
            if self._fd is None or not 0 <= index < self._line_count():
                return ""
            start = self._starts[index]
            end = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else self._indexed
            data = os.pread(self._fd, min(end - start, limit), start)
        return data.rstrip(b"\r").decode("utf-8", "replace")

    def find(self, needle: str, from_line: int, *, backwards: bool = False) -> int | None:
        """The first line at or after ``from_line`` (or the last line before it) holding ``needle``.

        Case-insensitive (ASCII), read in chunks: a search over a gigabyte log never holds it.
        """
        pattern = needle.encode("utf-8").lower()
        if not pattern:
            return None
        with self._lock:
            if self._fd is None:
                return None
            count = self._line_count()
            from_line = max(0, min(from_line, count))
            boundary = self._starts[from_line] if from_line < len(self._starts) else self._indexed
            offset = (
                self._rfind(pattern, boundary) if backwards else self._find(pattern, boundary, self._indexed)
            )
            if offset is None:
                return None
            return bisect_right(self._starts, offset) - 1

    def _find(self, pattern: bytes, start: int, end: int) -> int | None:
        assert self._fd is not None
        overlap = len(pattern) - 1
        pos = start
        while pos < end:
            data = os.pread(self._fd, min(self._chunk + overlap, end - pos), pos).lower()
            at = data.find(pattern)
            if at >= 0:
                return pos + at
            pos += self._chunk
        return None

    def _rfind(self, pattern: bytes, end: int) -> int | None:
        assert self._fd is not None
        overlap = len(pattern) - 1
        block_end = end
        while block_end > 0:
            block_start = max(0, block_end - self._chunk)
            data = os.pread(self._fd, min(block_end + overlap, end) - block_start, block_start).lower()
            at = data.rfind(pattern)
            if at >= 0:
                return block_start + at
            block_end = block_start
        return None

    def close(self) -> None:
        with self._lock:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._identity = None
