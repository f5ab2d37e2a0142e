"""Putting whole files in their places, on real files and real file systems.

The cross-file-system cases mount a small tmpfs (it needs root, as on the test machine; elsewhere
they are skipped, saying why): a move onto it is a real EXDEV, and filling it is a real ENOSPC.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from osa_core.model.placing import copy_into_place, move_into_place

CONTENT = bytes(range(256)) * 512
"""128 KiB of every byte value: more than one copy buffer, and not text."""


def write(path: Path, data: bytes = CONTENT) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def names(directory: Path) -> list[str]:
    """Everything in the directory, hidden files included (a ``.name.copying`` left behind shows)."""
    return sorted(p.name for p in directory.iterdir())


def mount_tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {exc}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True, timeout=10, check=True)


@pytest.fixture
def other_fs(tmp_path: Path) -> Iterator[Path]:
    """A file system other than tmp_path's, roomy enough for CONTENT."""
    yield from mount_tmpfs(tmp_path / "other", "4m")


@pytest.fixture
def full_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB file system: CONTENT (128 KiB) does not fit."""
    yield from mount_tmpfs(tmp_path / "small", "64k")


# --- one file system: a rename ---------------------------------------------------------------------------


def test_move_renames_into_a_new_directory(tmp_path: Path) -> None:
    src = write(tmp_path / "work" / "dl1_LST-1.Run01874.h5")
    inode = src.stat().st_ino
    dst = tmp_path / "final" / "DL1" / "20200127" / "v0.1" / "dl1_LST-1.Run01874.h5"
    move_into_place(src, dst)
    assert dst.read_bytes() == CONTENT
    assert dst.stat().st_ino == inode  # renamed, not copied
    assert not src.exists()
    assert names(dst.parent) == ["dl1_LST-1.Run01874.h5"]


def test_move_replaces_an_existing_destination(tmp_path: Path) -> None:
    src = write(tmp_path / "work" / "run.h5")
    dst = write(tmp_path / "final" / "run.h5", b"an older merge")
    move_into_place(src, dst)
    assert dst.read_bytes() == CONTENT
    assert names(dst.parent) == ["run.h5"] and not src.exists()


def test_a_move_refused_by_the_file_system_keeps_the_source(tmp_path: Path) -> None:
    src = write(tmp_path / "work" / "run.h5")
    dst = tmp_path / "final" / "run.h5"
    write(dst / "somebody's file")  # a non-empty directory under the destination's name
    with pytest.raises(IsADirectoryError):
        move_into_place(src, dst)
    assert src.read_bytes() == CONTENT
    assert names(dst) == ["somebody's file"]


def test_a_missing_source_is_an_error_and_places_nothing(tmp_path: Path) -> None:
    dst = tmp_path / "final" / "run.h5"
    with pytest.raises(FileNotFoundError):
        move_into_place(tmp_path / "work" / "run.h5", dst)
    assert not dst.exists()


# --- copies ---------------------------------------------------------------------------------------------


def test_copy_places_the_whole_file_and_keeps_the_source(tmp_path: Path) -> None:
    src = write(tmp_path / "calibration" / "drs4_pedestal.Run01872.0000.h5")
    dst = tmp_path / "final" / "calibration" / "20200127" / src.name
    copy_into_place(src, dst)
    assert dst.read_bytes() == CONTENT
    assert src.read_bytes() == CONTENT
    assert dst.stat().st_ino != src.stat().st_ino
    assert names(dst.parent) == [src.name]


def test_a_copy_whose_size_disagrees_with_the_source_is_refused(tmp_path: Path) -> None:
    """A /proc file says it is 0 bytes long and reads as more: the size check sees the mismatch
    a file changed under the copy would cause, and the destination stays as it was."""
    dst = write(tmp_path / "final" / "stat", b"as it was")
    source = Path("/proc/self/stat")
    assert source.stat().st_size == 0
    with pytest.raises(OSError, match=f"the copy of {source} to {dst} came out short"):
        copy_into_place(source, dst)
    assert dst.read_bytes() == b"as it was"
    assert names(dst.parent) == ["stat"]


# --- across file systems ----------------------------------------------------------------------------------


def test_move_across_file_systems_copies_whole_then_removes_the_source(
    tmp_path: Path, other_fs: Path
) -> None:
    src = write(tmp_path / "work" / "run.h5")
    dst = other_fs / "DL1" / "run.h5"
    move_into_place(src, dst)
    assert dst.stat().st_dev != (tmp_path / "work").stat().st_dev  # it did cross
    assert dst.read_bytes() == CONTENT
    assert not src.exists()
    assert names(dst.parent) == ["run.h5"]


def test_a_move_onto_a_full_file_system_keeps_the_source_and_places_nothing(
    tmp_path: Path, full_fs: Path
) -> None:
    src = write(tmp_path / "work" / "run.h5")
    dst = full_fs / "DL1" / "run.h5"
    with pytest.raises(OSError) as raised:
        move_into_place(src, dst)
    assert raised.value.errno == errno.ENOSPC
    assert src.read_bytes() == CONTENT
    assert not dst.exists()


def test_a_copy_that_fails_leaves_no_partial_file_behind(tmp_path: Path, full_fs: Path) -> None:
    """The hidden partial copy stays on the full file system, holding the space it took, until a
    later copy of the same name overwrites it."""
    src = write(tmp_path / "work" / "run.h5")
    free = os.statvfs(full_fs).f_bfree
    with pytest.raises(OSError):
        copy_into_place(src, full_fs / "run.h5")
    assert names(full_fs) == []
    assert os.statvfs(full_fs).f_bfree == free
