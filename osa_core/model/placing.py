"""Putting whole files in their places: a rename when it can, a checked copy when it must.

Both leave the destination either absent, as it was, or complete: never a partial file under its
final name (``os.replace`` within one file system; across file systems a hidden copy, fsynced,
size-checked, then renamed).
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from osa_core.model.fileio import fsync_dir


def move_into_place(src: Path, dst: Path) -> None:
    """Rename ``src`` onto ``dst`` durably; across file systems copy it, then remove ``src``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    # the job that wrote src may not have fsynced it; the rename must not outlive its data
    with src.open("rb") as fh:
        os.fsync(fh.fileno())
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        copy_into_place(src, dst)
        src.unlink()
    fsync_dir(dst.parent)
    fsync_dir(src.parent)


def copy_into_place(src: Path, dst: Path) -> None:
    """A copy that appears whole or not at all under ``dst``."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.copying")
    try:
        shutil.copyfile(src, tmp)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        if tmp.stat().st_size != src.stat().st_size:
            raise OSError(f"the copy of {src} to {dst} came out short")
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a partial copy must not keep the space of a full disk
        raise
    fsync_dir(dst.parent)
