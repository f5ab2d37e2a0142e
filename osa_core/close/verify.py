"""Checking a merge before anything moves or is deleted: the file opens and its events add up.

For the simulate profile a merged placeholder must say ``simulated`` and hold the sum of the
subrun placeholders' ``events``. For lstchain the rows of the merged table (DL1/DL2 parameters,
muon rings, datacheck cosmics; a PDF must be one) must equal the sum over the subrun files, each counted
independently of the merge job. h5py and astropy are imported here only, and only for lstchain.
"""

from __future__ import annotations

import json
from pathlib import Path

from osa_core.close.merge import MergeError, run_products, staged, subrun_file
from osa_core.model.closestate import VerifiedProduct
from osa_core.model.config import Config
from osa_core.model.layout import EVENT_TABLES, NightLayout
from osa_core.pipeline.base import CalibrationProducts
from osa_core.pipeline.factory import is_simulation

CATB_TABLE = "/tel_1/calibration"
"""A Cat-B calibration file's coefficients, one row per interval (what lstchain_dl1ab reads)."""


def verify_run(
    layout: NightLayout, run: int, subruns: int, calibration: CalibrationProducts | None = None
) -> tuple[VerifiedProduct, ...]:
    """Every staged product of a run, checked; raises MergeError naming the first bad one."""
    verified = []
    for product in run_products(layout, run, subruns, calibration):
        path = staged(layout, product)
        if not path.is_file():
            raise MergeError(f"{path}: the merge job did not leave it")
        events = count_events(layout.config, path, product.kind)
        if product.from_subruns:
            expected = sum(
                count_events(layout.config, subrun_file(layout, product.kind, run, s), product.kind) or 0
                for s in range(subruns)
            )
            if events != expected:
                raise MergeError(f"{path}: {events} events, but its {subruns} subrun files hold {expected}")
        size = path.stat().st_size
        verified.append(VerifiedProduct(product.kind, product.name, product.level, size, events))
    return tuple(verified)


def count_events(config: Config, path: Path, kind: str) -> int | None:
    """Events (table rows) in one file; raises MergeError when it does not open as it should."""
    if kind == "pdf":
        with path.open("rb") as fh:
            if fh.read(5) != b"%PDF-":
                raise MergeError(f"{path}: not a PDF")
        return None
    if kind == "config":
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise MergeError(f"{path}: not a JSON file ({exc})") from None
        return None
    if is_simulation(config):
        return _placeholder_events(path)
    if kind == "muons":
        return _fits_rows(path)
    if kind == "catB":  # one row per calibration interval of the run
        return _h5_rows(path, CATB_TABLE)
    return _h5_rows(path, EVENT_TABLES[kind])


def _placeholder_events(path: Path) -> int:
    try:
        data = json.loads(path.read_text())
        events = data["events"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MergeError(f"{path}: does not open as a placeholder ({exc})") from None
    if data.get("simulated") is not True or not isinstance(events, int):
        raise MergeError(f"{path}: not a simulated placeholder with an event count")
    return events


def _h5_rows(path: Path, key: str) -> int:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            node = h5[key]
            # a pandas "table" format key is a group holding the rows in its "table" dataset
            if isinstance(node, h5py.Group):
                node = node["table"]
            return int(node.shape[0])
    except (OSError, KeyError) as exc:
        raise MergeError(f"{path}: cannot read {key} ({exc})") from None


def _fits_rows(path: Path) -> int:
    from astropy.io import fits

    try:
        with fits.open(path, memmap=False) as hdus:
            return int(hdus[1].header.get("NAXIS2", 0))
    except (OSError, IndexError, ValueError) as exc:
        raise MergeError(f"{path}: does not open as a FITS table ({exc})") from None


def matches(path: Path, product: VerifiedProduct) -> bool:
    """The file in a final place is the verified one (same size): checked before deleting inputs."""
    try:
        return path.stat().st_size == product.size
    except FileNotFoundError:
        return False
