"""Files appear whole or not at all, and small inputs are read without ever hanging.

Writes go to a temporary name beside the target, then a rename. Reads of files a person names
(night files) accept only regular files, refuse absurd sizes, and give up after a deadline: a
FIFO or a stalled network mount must not hang a command, a worker thread or Ctrl-C.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from osa_core.model.errors import InputError

T = TypeVar("T")

READ_DEADLINE = 10.0
"""Seconds a bounded read may take; a few-KB file on a healthy disk or NFS takes milliseconds."""


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644, *, durable: bool = True) -> None:
    """``durable=False`` skips the fsyncs: still whole or absent for every reader, but a power cut
    may lose it. Only for files rewritten before every use (a job script is rendered again at
    each submission, and sbatch keeps its own copy): a night's 250 fsyncs cost seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_small_file(
    path: Path, *, limit: int, what: str = "file", missing_hint: str = "", deadline: float = READ_DEADLINE
) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; anything else is an InputError.

    The file is inspected before it is opened (a FIFO is never opened), opened non-blocking in
    case it was swapped meanwhile, and read in a thread of its own with a deadline: a stalled
    mount costs ``deadline`` seconds, not the command, and the caller stays interruptible.
    """
    return bounded(
        lambda: _read_regular(path, limit, what, missing_hint), deadline, path, f"reading the {what}"
    )


def bounded(call: Callable[[], T], deadline: float, path: Path, doing: str) -> T:
    """``call()``'s result, or an InputError if it has not returned after ``deadline`` seconds.

    The call runs in a daemon thread: one stuck in the kernel (open or read on a dead NFS
    server) cannot be cancelled, but it no longer holds up the caller or the interpreter's exit.
    Waiting on an Event keeps the calling thread responsive to Ctrl-C.
    """
    done = threading.Event()
    box: list[T] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            box.append(call())
        except BaseException as exc:  # handed over to the caller's thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name=f"bounded read {path.name}", daemon=True).start()
    if not done.wait(deadline):
        raise InputError(
            f"no answer after {deadline:g} s {doing} (a stalled network mount?); "
            "check the file system, then run the command again",
            path=path,
        )
    if failure:
        raise failure[0]
    return box[0]


def _read_regular(path: Path, limit: int, what: str, missing_hint: str) -> bytes:
    try:
        info = os.stat(path)
        _check(info, path, limit, what)
        # O_NONBLOCK: had a FIFO replaced the file since the stat, opening it would wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        hint = f" ({missing_hint})" if missing_hint else ""
        raise InputError(f"no such {what}{hint}", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    try:
        _check(os.fstat(fd), path, limit, what)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read the {what}: {exc.strerror or exc}", path=path) from None
    finally:
        os.close(fd)
    if size > limit:  # it grew after the stat
        raise InputError(_too_large(size, limit, what, grew=True), path=path)
    return b"".join(chunks)


def _check(info: os.stat_result, path: Path, limit: int, what: str) -> None:
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        raise InputError(f"is a directory, expected a {what}", path=path)
    if not stat.S_ISREG(mode):
        raise InputError(f"is a {_kind(mode)}, not a regular file: expected a {what}", path=path)
    if info.st_size > limit:
        raise InputError(_too_large(info.st_size, limit, what), path=path)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _too_large(size: int, limit: int, what: str, grew: bool = False) -> str:
    how = "grew past" if grew else f"is {_mib(size)}, more than"
    return f"{how} the {_mib(limit)} a {what} may have: wrong file? (a real one has kilobytes)"


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MiB"
