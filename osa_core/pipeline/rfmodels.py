"""Which random-forest models a run uses: the declination line of a model tree nearest its pointing.

LST-1's all-sky models are trained along declination lines; a model tree has one directory per
line, ``dec_2276`` (+22.76 deg) or ``dec_min_413`` (-4.13 deg), each holding the ``*.sav`` files.
A run uses the line nearest its pointing declination, with one refinement learned from lstosa's
``get_RF_model``: outside the two lines that bracket the site's latitude, a line that culminates
farther from the zenith than the pointing does is passed over for the next nearest one (its
training never reaches the zenith angles the run observes near culmination).

:func:`choose_dec_line` is pure; :func:`dec_lines` reads a directory listing, and the pointing
comes from the run catalogue (:mod:`osa_core.pipeline.runcatalog`). A run without pointing, or
outside the tree, is a :class:`PlanError` naming the run, so it is seen before submission, not as
failed subruns.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.errors import PlanError
from osa_core.pipeline.runcatalog import read_run_catalogue

LST1_LATITUDE_DEG = 28.7615
"""Latitude of LST-1 at the Roque de los Muchachos observatory (degrees north)."""
DEC_DIR = re.compile(r"dec_(min_)?(\d{3,4})\Z")


@dataclass(frozen=True, slots=True, order=True)
class DecLine:
    dec: float
    """Declination of the line in degrees."""
    name: str
    """Its directory name in the model tree (``dec_2276``)."""


def declination_of(name: str) -> float | None:
    """``dec_2276`` -> 22.76, ``dec_min_413`` -> -4.13; None for any other name."""
    m = DEC_DIR.match(name)
    if m is None:
        return None
    value = int(m.group(2)) / 100
    return -value if m.group(1) else value


def dec_lines(tree: Path) -> tuple[DecLine, ...]:
    """The declination lines of a model tree, sorted; empty when ``tree`` is not one."""
    try:
        entries = [p for p in tree.iterdir() if p.is_dir()]
    except OSError:
        return ()
    lines = [DecLine(dec, p.name) for p in entries if (dec := declination_of(p.name)) is not None]
    return tuple(sorted(lines))


def culmination(dec: float, latitude: float) -> float:
    """Zenith angle (degrees) at which a declination culminates."""
    return abs(latitude - dec)


def choose_dec_line(
    run: int,
    pointing_dec: float | None,
    lines: Sequence[DecLine],
    *,
    latitude: float = LST1_LATITUDE_DEG,
    max_distance: float | None = None,
) -> DecLine:
    """The declination line whose models a run uses.

    ``max_distance`` (degrees) bounds how far beyond the tree's outermost lines a pointing may
    be; by default half the widest gap between neighbouring lines, so that a pointing outside
    the tree is never farther from its line than one inside can be.
    """
    if not lines:
        raise PlanError(f"run {run}: the model tree has no declination lines (dec_XXXX directories)")
    if pointing_dec is None:
        raise PlanError(
            f"run {run}: no pointing declination is known, so no declination line of the model "
            "tree can be chosen (the run catalogue does not list it)"
        )
    ordered = sorted(lines)
    if max_distance is None:
        gaps = [b.dec - a.dec for a, b in itertools.pairwise(ordered)]
        max_distance = max(gaps) / 2 if gaps else 0.0
    low, high = ordered[0].dec - max_distance, ordered[-1].dec + max_distance
    if not low <= pointing_dec <= high:
        names = ", ".join(f"{line.name} ({line.dec:+.2f})" for line in ordered)
        raise PlanError(
            f"run {run}: pointing declination {pointing_dec:+.2f} deg is outside the model tree "
            f"(lines {names}; usable from {low:+.2f} to {high:+.2f} deg)"
        )
    candidates = list(ordered)
    nearest_latitude = sorted(sorted(ordered, key=lambda line: abs(line.dec - latitude))[:2])
    bracketed = len(nearest_latitude) == 2 and (
        nearest_latitude[0].dec <= pointing_dec <= nearest_latitude[1].dec
    )
    if not bracketed:
        pointing_culmination = culmination(pointing_dec, latitude)
        closer = [c for c in candidates if culmination(c.dec, latitude) <= pointing_culmination]
        candidates = closer or candidates  # no line culminates nearer the zenith: the nearest one
    return min(candidates, key=lambda line: (abs(line.dec - pointing_dec), line.dec))


def read_pointing_declinations(path: Path) -> dict[int, float]:
    """Run -> pointing declination from a run catalogue (runs with NaN left out)."""
    return {run: e.dec for run, e in read_run_catalogue(path).items() if e.dec is not None}
