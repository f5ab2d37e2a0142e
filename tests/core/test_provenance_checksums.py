"""The provenance record's checksums: every file up to ``close.provenance_checksum_max_mib`` gets
its sha256; a bigger one (a raw R0 file in production) its size and time only, and says why."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from osa_core.close.provenance import Checksums, Task, provenance_document
from osa_core.jobs.history import StepRecord
from osa_core.model.config import config_from_dict
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import StepCommand


def entities(tmp_path: Path, max_bytes: int) -> dict[str, dict[str, Any]]:
    small, big = tmp_path / "calibration.h5", tmp_path / "LST-1.1.Run01874.0000.fits.fz"
    small.write_bytes(b"c" * 100)
    big.write_bytes(b"r" * 5000)
    layout = NightLayout(config_from_dict({}, base=tmp_path), dt.date(2020, 1, 27))
    step = StepCommand("r0_to_dl1", ("lstchain_data_r0_to_dl1",), inputs=(small, big))
    when = "2020-01-27T21:00:00+00:00"
    records = (
        StepRecord("start", "r0_to_dl1", when, 1, "cp01", "17", 0),
        StepRecord("end", "r0_to_dl1", when, 1, "cp01", "17", 0, 0),
    )
    doc = provenance_document(layout, [Task("Run01874.0000", (step,), records)], Checksums(max_bytes))
    out = {}
    for record in doc.get_records():
        if str(record.get_type()) == "prov:Entity":
            attrs = {str(k): v for k, v in record.attributes}
            out[Path(str(attrs["osa:path"])).name] = attrs
    return out


def test_files_over_the_limit_get_their_size_and_the_reason_not_a_checksum(tmp_path: Path) -> None:
    found = entities(tmp_path, max_bytes=1024)
    small = found["calibration.h5"]
    assert small["osa:sha256"] == hashlib.sha256(b"c" * 100).hexdigest() and small["osa:size"] == 100
    big = found["LST-1.1.Run01874.0000.fits.fz"]
    assert "osa:sha256" not in big and big["osa:size"] == 5000
    assert "larger than close.provenance_checksum_max_mib" in str(big["osa:sha256_skipped"])
    # the file's own time, in UTC (today's local year was wrong across New Year and off UTC)
    mtime = (tmp_path / "LST-1.1.Run01874.0000.fits.fz").stat().st_mtime
    assert big["osa:modified"] == dt.datetime.fromtimestamp(mtime, dt.UTC).isoformat(timespec="seconds")


def test_no_limit_hashes_every_file(tmp_path: Path) -> None:
    big = entities(tmp_path, max_bytes=0)["LST-1.1.Run01874.0000.fits.fz"]
    assert big["osa:sha256"] == hashlib.sha256(b"r" * 5000).hexdigest()
