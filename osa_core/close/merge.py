"""Merging one run's subrun products into run-wise files: what they are, and the merge job.

The merge runs as a batch job (``osa-core run-merge``, one per run, submitted by
:mod:`osa_core.close.closer`) and writes into the night's staging area ``merged/``, laid out like the
final places (``merged/<level>/YYYYMMDD/<prod_id>/``). It touches no subrun file and no final
place: the closer verifies what it made (:mod:`osa_core.close.verify`) before anything moves or is
deleted. A job killed halfway may leave a partial staged file; the job is then FAILED, its
outputs are never verified, and the next merge job starts by removing them.

The lstchain commands are the profile's own (:func:`osa_core.pipeline.lstchain.merge_steps`),
pointed at the staging area by giving them a layout whose final places are the staging ones.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from osa_core.jobs.history import StepRecord, append_record, now_iso
from osa_core.jobs.runner import MISSING_INPUT, TaskIdentity
from osa_core.model.config import Config
from osa_core.model.faults import kill_point
from osa_core.model.fileio import fsync_dir
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import CalibrationProducts
from osa_core.pipeline.factory import is_simulation

SIMULATED_MERGE = "merge_simulated"
"""The simulate profile's merge, as its step records name it."""
KINDS = {
    "dl1_": "dl1",
    "dl2_": "dl2",
    "muons_": "muons",
    "datacheck_dl1_": "datacheck",
    "cat_B_calibration": "catB",
}


class MergeError(Exception):
    """A merge that cannot be done or whose result is wrong; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Product:
    """One run-wise file: its name below the ``final_dir`` of its level (``tailcut/dl1_...h5`` for the
    DL1ab file beside the merged DL1), and that level."""

    name: str
    level: str

    @property
    def kind(self) -> str:
        """``dl1``, ``dl2``, ``muons``, ``datacheck`` (tables with events), ``catB`` (the run's Cat-B
        calibration), ``pdf`` or ``config`` (a JSON file a step wrote for the next one, e.g. the
        run's tail cuts)."""
        base = Path(self.name).name
        if base.endswith(".pdf"):
            return "pdf"
        if base.endswith(".json"):
            return "config"
        for prefix, kind in KINDS.items():
            if base.startswith(prefix):
                return kind
        raise MergeError(f"{self.name}: not a product the closer knows")

    @property
    def from_subruns(self) -> bool:
        """Its events are the sum over the subrun files of the same kind. Not so for a file in a
        subdirectory (``tailcut/``): made from a merged file, with cuts of its own, it is checked to
        open with its table."""
        return self.kind not in ("pdf", "config", "catB") and "/" not in self.name


def staging_root(layout: NightLayout) -> Path:
    return layout.analysis_dir / "merged"


def staging_layout(layout: NightLayout) -> NightLayout:
    """The night's layout with its final places moved into the staging area."""
    paths = layout.config.paths.replace(final=staging_root(layout))
    return NightLayout(layout.config.replace(paths=paths), layout.date)


def staged(layout: NightLayout, product: Product) -> Path:
    return staging_layout(layout).final_dir(product.level) / product.name


def final(layout: NightLayout, product: Product) -> Path:
    return layout.final_dir(product.level) / product.name


def run_products(
    layout: NightLayout, run: int, subruns: int, calibration: CalibrationProducts | None = None
) -> tuple[Product, ...]:
    """The run-wise files a profile makes for a run (``calibration``: the run's, see
    :meth:`osa_core.pipeline.base.Profile.run_calibration`)."""
    tag = f"LST-{layout.tel}.Run{run:05d}"
    if is_simulation(layout.config):
        return (
            Product(f"dl1_{tag}.h5", "DL1"),
            Product(f"datacheck_dl1_{tag}.h5", "datacheck"),
            Product(f"muons_{tag}.fits", "muons"),
            Product(f"dl2_{tag}.h5", "DL2"),
        )
    from osa_core.pipeline.lstchain import merge_steps

    stage = staging_layout(layout)
    out = []
    for step in merge_steps(stage, run, range(subruns), calibration):
        for path in step.outputs:
            if path.parent == layout.datacheck_dir:  # lstchain writes the run's datacheck beside its inputs
                out.append(Product(path.name, "datacheck"))
            else:
                level = path.relative_to(stage.config.paths.final).parts[0]
                out.append(Product(str(path.relative_to(stage.final_dir(level))), level))
    return tuple(out)


def subrun_file(layout: NightLayout, kind: str, run: int, subrun: int) -> Path:
    return {"dl1": layout.dl1, "dl2": layout.dl2, "muons": layout.muons, "datacheck": layout.datacheck}[kind](
        run, subrun
    )


def subrun_files(
    layout: NightLayout, run: int, subruns: int, calibration: CalibrationProducts | None = None
) -> list[Path]:
    """Every subrun product of a run that a merge replaces (what ``keep_subrun_files`` governs)."""
    kinds = [p.kind for p in run_products(layout, run, subruns, calibration) if p.from_subruns]
    return [subrun_file(layout, kind, run, s) for kind in kinds for s in range(subruns)]


def discard_staged(
    layout: NightLayout, run: int, subruns: int, calibration: CalibrationProducts | None = None
) -> None:
    """Outputs of an earlier merge of this run: never verified, they replace nothing."""
    for product in run_products(layout, run, subruns, calibration):
        path = staged(layout, product)
        path.unlink(missing_ok=True)
        partial_name(path).unlink(missing_ok=True)


def partial_name(path: Path) -> Path:
    """A hidden temporary name beside ``path`` that keeps its suffix."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


def write_whole(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_name(path)
    with tmp.open("w") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    kill_point("merge-partial")
    os.replace(tmp, path)
    fsync_dir(path.parent)


# --- the job side -------------------------------------------------------------------------------------


def run_merge(
    config: Config,
    layout: NightLayout,
    run: int,
    subruns: int,
    attempt: int = 1,
    calibration: CalibrationProducts | None = None,
) -> int:
    """Merge a run's subrun products into the staging area; 0, or the exit code of what failed."""
    discard_staged(layout, run, subruns, calibration)
    products = run_products(layout, run, subruns, calibration)
    if not is_simulation(config):
        return _merge_lstchain(layout, run, subruns, products, attempt, calibration)
    print(f"[osa] SIMULATION: merging the placeholders of run {run:05d}", flush=True)
    # step records as the lstchain merges' runner writes them: the run's provenance reads them
    who = TaskIdentity.from_environment(attempt)
    history = layout.merge_history(run)

    def record(event: str, code: int | None = None, outputs: tuple[str, ...] = (), detail: str = "") -> None:
        when = now_iso()
        step = StepRecord(
            event, SIMULATED_MERGE, when, who.attempt, who.host, who.job_id, None, code, outputs, detail
        )
        append_record(history, step)

    record("start")
    for product in products:
        try:
            merge_simulated(layout, product, run, subruns)
        except MergeError as exc:
            print(f"[osa] merge of run {run:05d}: {exc}", file=sys.stderr, flush=True)
            record("end", MISSING_INPUT, detail=str(exc))
            return MISSING_INPUT
    record("end", 0, tuple(str(staged(layout, p)) for p in products))
    print(f"[osa] run {run:05d}: merged {', '.join(p.name for p in products)}", flush=True)
    return 0


def merge_simulated(layout: NightLayout, product: Product, run: int, subruns: int) -> None:
    """A real merge of the simulate profile's placeholders: their events add up."""
    per_subrun = []
    for s in range(subruns):
        path = subrun_file(layout, product.kind, run, s)
        try:
            per_subrun.append(int(json.loads(path.read_text())["events"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MergeError(f"{path}: not a readable placeholder ({exc})") from None
    merged = {
        "simulated": True,
        "kind": product.kind,
        "run": run,
        "subruns": subruns,
        "events": sum(per_subrun),
        "per_subrun_events": per_subrun,
    }
    write_whole(staged(layout, product), json.dumps(merged) + "\n")


def _merge_lstchain(
    layout: NightLayout,
    run: int,
    subruns: int,
    products: tuple[Product, ...],
    attempt: int,
    calibration: CalibrationProducts | None,
) -> int:
    from osa_core.jobs.runner import run_steps
    from osa_core.pipeline.lstchain import merge_steps

    stage = staging_layout(layout)
    for product in products:  # lstchain does not create its output directories
        staged(layout, product).parent.mkdir(parents=True, exist_ok=True)
    steps = merge_steps(stage, run, range(subruns), calibration)
    code = run_steps(steps, layout.merge_history(run), TaskIdentity.from_environment(attempt))
    if code != 0:
        return code
    for product in products:
        beside_inputs = layout.datacheck_dir / product.name
        if product.level == "datacheck" and beside_inputs.exists():
            os.replace(beside_inputs, staged(layout, product))
    return 0
