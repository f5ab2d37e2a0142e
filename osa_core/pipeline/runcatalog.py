"""A night's run catalogue: which source each run observed, and where the telescope pointed.

lstosa's ``RunCatalog_YYYYMMDD.ecsv`` (ECSV, comma separated): ``run_id, source_name,
source_ra, source_dec``, where ``source_dec`` is the pointing declination the model tree's line
is chosen by (:mod:`osa_core.pipeline.rfmodels`) and ``source_name`` is what the sequencer table,
``status``, the console and the night page show. Only those columns are read; a bad line is an
:class:`InputError` naming the file and line.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.errors import InputError
from osa_core.model.fileio import read_small_file

REQUIRED = ("run_id", "source_dec")
SIZE_LIMIT = 16 * 2**20
"""A night has a few hundred runs: a bigger file is not a run catalogue."""


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    run: int
    source: str
    """The source's name as the operators wrote it; empty when the catalogue has none."""
    dec: float | None
    """Pointing declination (degrees); None when the catalogue says NaN."""


def read_run_catalogue(path: Path) -> dict[int, CatalogueEntry]:
    """Run -> its catalogue entry; :class:`InputError` (``FILE:LINE: what``) for a bad file."""
    try:
        text = read_small_file(path, limit=SIZE_LIMIT, what="run catalogue").decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the run catalogue is not UTF-8 text", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the run catalogue: {exc.strerror or exc}", path=path) from None
    header: list[str] | None = None
    out: dict[int, CatalogueEntry] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if header is None:
            header = fields
            if any(name not in header for name in REQUIRED):
                raise InputError(
                    "a run catalogue needs the columns run_id and source_dec", path=path, line=number
                )
            continue
        if len(fields) != len(header):
            raise InputError(f"expected {len(header)} fields, got {len(fields)}", path=path, line=number)
        row = dict(zip(header, fields, strict=True))
        try:
            run = int(row["run_id"])
        except ValueError:
            raise InputError(
                f"run_id: expected a run number, got {row['run_id']!r}", path=path, line=number
            ) from None
        try:
            dec = float(row["source_dec"])
        except ValueError:
            raise InputError(
                f"source_dec: expected degrees, got {row['source_dec']!r}", path=path, line=number
            ) from None
        source = row.get("source_name", "").strip('"')
        out[run] = CatalogueEntry(run, source, dec if math.isfinite(dec) else None)
    return out


def cached_catalogue(path: Path) -> dict[int, CatalogueEntry]:
    """The catalogue, read again only when the file changed; empty when it does not exist."""
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return {}
    return _read(path, stamp)


@functools.lru_cache(maxsize=8)
def _read(path: Path, stamp: int) -> dict[int, CatalogueEntry]:
    return read_run_catalogue(path)
