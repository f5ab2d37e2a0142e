"""LogTail on real files: growth, partial lines, truncation, rewrite, rotation, search."""

from __future__ import annotations

import os
from pathlib import Path

from osa_console.logtail import LogTail, TailEvent


def write(path: Path, text: str, mode: str = "a") -> None:
    with open(path, mode, encoding="utf-8") as out:
        out.write(text)


def lines(tail: LogTail) -> list[str]:
    return [tail.line(i) for i in range(tail.line_count)]


def test_missing_file_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "job.out"
    tail = LogTail(path)
    assert tail.poll().event is TailEvent.MISSING
    write(path, "hello\n")
    result = tail.poll()
    assert result.event is TailEvent.OPENED
    assert lines(tail) == ["hello"]


def test_growth_and_partial_last_line(tmp_path: Path) -> None:
    path = tmp_path / "job.out"
    write(path, "one\ntwo\nthr")
    tail = LogTail(path)
    tail.poll()
    assert lines(tail) == ["one", "two", "thr"]
    write(path, "ee\r\nfour\n")
    result = tail.poll()
    assert result.event is TailEvent.GREW
    assert lines(tail) == ["one", "two", "three", "four"]
    assert tail.poll().event is TailEvent.NONE


def test_truncation_restarts_from_zero_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "job.out"
    write(path, "a\n" * 100)
    tail = LogTail(path)
    tail.poll()
    assert tail.line_count == 100
    write(path, "after truncation\n", mode="w")
    result = tail.poll()
    assert result.event is TailEvent.TRUNCATED
    assert lines(tail) == ["after truncation"]
    assert "truncated" in result.event.describe()


def test_rewrite_in_place_past_the_old_size_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "job.out"
    write(path, "first run\n")
    tail = LogTail(path)
    tail.poll()
    # Truncated and grown beyond the old size between two polls: the size alone cannot tell.
    write(path, "second run, a longer first line\nmore\n", mode="w")
    result = tail.poll()
    assert result.event is TailEvent.REPLACED
    assert lines(tail) == ["second run, a longer first line", "more"]


def test_rotation_reopens_the_path(tmp_path: Path) -> None:
    path = tmp_path / "job.out"
    write(path, "old 1\nold 2\n")
    tail = LogTail(path)
    tail.poll()
    os.rename(path, tmp_path / "job.out.1")
    # Rotated away and not yet recreated: keep what was read.
    assert tail.poll().event is TailEvent.NONE
    assert lines(tail) == ["old 1", "old 2"]
    write(path, "new 1\n")
    result = tail.poll()
    assert result.event is TailEvent.ROTATED
    assert lines(tail) == ["new 1"]


def test_big_file_is_indexed_over_several_polls(tmp_path: Path) -> None:
    path = tmp_path / "big.out"
    write(path, "".join(f"line {i}\n" for i in range(10_000)))
    tail = LogTail(path, chunk=4096, max_per_poll=16_384)
    first = tail.poll()
    assert first.more
    while tail.poll().more:
        pass
    assert tail.line_count == 10_000
    assert tail.line(9_999) == "line 9999"
    assert tail.max_line_bytes == len("line 9999")


def test_find_forward_backward_and_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "job.out"
    body = [f"line {i}" for i in range(500)]
    body[123] = "ERROR: Missing INPUT file"
    body[400] = "another error here"
    write(path, "\n".join(body) + "\n")
    tail = LogTail(path, chunk=64)  # matches straddle chunk boundaries
    tail.poll()
    assert tail.find("missing input", 0) == 123
    assert tail.find("error", 124) == 400
    assert tail.find("error", 400, backwards=True) == 123
    assert tail.find("error", 123, backwards=True) is None
    assert tail.find("absent", 0) is None


def test_no_text_is_kept_in_memory(tmp_path: Path) -> None:
    """Only line offsets are held: the index of a 1 MB file is a few kilobytes."""
    path = tmp_path / "job.out"
    write(path, ("x" * 999 + "\n") * 1000)
    tail = LogTail(path)
    tail.poll()
    assert tail.line_count == 1000
    held = [v for v in vars(tail).values() if isinstance(v, bytes | str)]
    assert all(len(v) <= 256 for v in held)  # the head kept to notice rewrites, nothing more
