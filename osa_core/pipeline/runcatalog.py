"""A night's run catalogue: which source each run observed, and where the telescope pointed.

lstosa's ``RunCatalog_YYYYMMDD.ecsv`` (ECSV, comma separated): ``run_id, source_name,
source_ra, source_dec``, where ``source_dec`` is the pointing declination the model tree's line
is chosen by (:mod:`osa_core.pipeline.rfmodels`) and ``source_name`` is what the sequencer table,
``status``, the console and the night page show. Only those columns are read; a bad line is an
:class:`InputError` naming the file and line.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.errors import InputError
from osa_core.model.fileio import read_small_file

log = logging.getLogger("osa.runcatalog")

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


def run_catalogue(config: Config, night: str) -> Path | None:
    """Where a night's run catalogue is: ``pipeline.lstchain.run_catalog_dir``, else ``RunCatalog/``
    beside ``run_summary_dir``, as at LST-1; None when neither is set."""
    lst = config.pipeline.lstchain
    directory = lst.run_catalog_dir
    if directory is None and lst.run_summary_dir is not None:
        directory = lst.run_summary_dir.parent / "RunCatalog"
    return None if directory is None else directory / f"RunCatalog_{night}.ecsv"


def night_sources(config: Config, night: str) -> Mapping[int, str]:
    """Run -> source name for the front ends; a catalogue that cannot be read shows no sources.

    ``plan`` and ``submit`` report a bad catalogue (the models need it); a status or the console
    must still show the night, so here it is only logged.
    """
    path = run_catalogue(config, night)
    if path is None:
        return {}
    try:
        entries = cached_catalogue(path)
    except InputError as exc:
        log.warning("no sources shown: %s", exc)
        return {}
    return {run: e.source for run, e in entries.items() if e.source}
