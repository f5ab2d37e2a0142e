"""The placeholders the engine gives a profile file at each level, and the derived ones it defines.

Pure: values come from the config, the night's layout and the task's context. Which names exist
at which level is declared here once, so a profile file is checked when it is read, before a
night is submitted.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import CalibrationContext, CalibrationProducts, SubrunContext
from osa_core.pipeline.spec import Level
from osa_core.pipeline.template import Value, expand, names_in

EVERY_LEVEL = frozenset(
    {
        "night", "tel", "prod_id", "python", "python_bindir", "raw_dir", "analysis_dir",
        "calibration_dir", "dl1_dir", "dl2_dir", "muons_dir", "datacheck_dir", "r0g_dir", "log_dir",
        "final_dl1_dir", "final_dl2_dir", "final_muons_dir", "final_datacheck_dir", "dl1ab_dir",
        "final_calibration_dir",
    }
)  # fmt: skip
CALIBRATION = frozenset(
    {
        "attempt", "run", "drs4_run", "pedcal_run", "drs4_raw", "pedcal_raw", "drs4", "charge", "time",
        "drs4_external", "charge_external", "time_external", "external_note",
    }
)  # fmt: skip
SUBRUN = frozenset(
    {
        "attempt", "run", "subrun", "tag", "raw", "dl1", "dl2", "muons", "datacheck", "drs4", "charge",
        "time", "parent_drs4", "parent_charge", "parent_time", "calibration_note",
    }
)  # fmt: skip
RUN = frozenset(
    {
        "run", "tag", "subrun_count", "first_subrun", "single_subrun", "several_subruns",
        "subrun_dl1", "subrun_dl2", "subrun_muons", "subrun_datacheck", "subrun_interleaved", "charge",
    }
)  # fmt: skip
CLOSING = frozenset({"longterm_dir", "longterm_file", "longterm_page", "runs"})
GIVEN: dict[Level, frozenset[str]] = {
    Level.NIGHT: EVERY_LEVEL,
    Level.CALIBRATION: EVERY_LEVEL | CALIBRATION,
    Level.SUBRUN: EVERY_LEVEL | SUBRUN,
    Level.RUN: EVERY_LEVEL | RUN,
    Level.CLOSING: EVERY_LEVEL | CLOSING,
}
CALIBRATION_FILES = ("drs4", "charge", "time")


def night_values(layout: NightLayout) -> dict[str, Value]:
    python = Path(sys.executable)
    return {
        "night": layout.night,
        "tel": layout.tel,
        "prod_id": layout.config.night.prod_id,
        "python": str(python),
        "python_bindir": str(python.parent),
        "raw_dir": layout.raw_dir,
        "analysis_dir": layout.analysis_dir,
        "calibration_dir": layout.calibration_dir,
        "dl1_dir": layout.dl1_dir,
        "dl2_dir": layout.dl2_dir,
        "muons_dir": layout.muons_dir,
        "datacheck_dir": layout.datacheck_dir,
        "r0g_dir": layout.r0g_dir,
        "log_dir": layout.job_log_dir,
        "dl1ab_dir": layout.dl1ab_dir,
        **{
            f"final_{lv.lower()}_dir": layout.final_dir(lv)
            for lv in ("DL1", "DL2", "muons", "datacheck", "calibration")
        },
    }


def external_note(products: CalibrationProducts) -> str:
    """What the operator reads in the job log about calibration files taken from the config."""
    if not products.external:
        return ""
    used = ", ".join(f"{name} {getattr(products, name)}" for name in products.external)
    return f"external calibration used (not computed): {used}"


def calibration_values(ctx: CalibrationContext) -> dict[str, Value]:
    layout, prod = ctx.layout, ctx.products
    return {
        "attempt": ctx.attempt,
        "run": ctx.pedcal_run,
        "drs4_run": ctx.drs4_run,
        "pedcal_run": ctx.pedcal_run,
        "drs4_raw": layout.raw_file(ctx.drs4_run, 0),
        "pedcal_raw": layout.raw_file(ctx.pedcal_run, 0),
        "drs4": prod.drs4,
        "charge": prod.charge,
        "time": prod.time,
        **{f"{n}_external": n if n in prod.external else None for n in CALIBRATION_FILES},
        "external_note": external_note(prod),
    }


def subrun_values(ctx: SubrunContext) -> dict[str, Value]:
    """A data subrun's files; its calibration is the parent's, or the config's external files."""
    layout, run, subrun = ctx.layout, ctx.run, ctx.subrun
    parent = ctx.calibration
    ext = layout.config.pipeline.calibration
    if parent is not None:
        calib: dict[str, Path | None] = {n: getattr(parent, n) for n in CALIBRATION_FILES}
        external = parent.external
    else:
        calib = {n: getattr(ext, n) for n in CALIBRATION_FILES}
        external = tuple(n for n in CALIBRATION_FILES if calib[n] is not None)
    note = "calibration: " + ", ".join(
        f"{n} {calib[n] or 'none'}{' (external)' if n in external else ''}" for n in CALIBRATION_FILES
    )
    return {
        "attempt": ctx.attempt,
        "run": run,
        "subrun": subrun,
        "tag": f"LST-{layout.tel}.Run{run:05d}",
        "raw": layout.raw_file(run, subrun),
        "dl1": layout.dl1(run, subrun),
        "dl2": layout.dl2(run, subrun),
        "muons": layout.muons(run, subrun),
        "datacheck": layout.datacheck(run, subrun),
        **calib,
        **{f"parent_{n}": getattr(parent, n) if parent else None for n in CALIBRATION_FILES},
        "calibration_note": note,
    }


def run_values(
    layout: NightLayout, run: int, subruns: Sequence[int], calibration: CalibrationProducts | None = None
) -> dict[str, Value]:
    """A run's subrun files and its Cat-A (charge) calibration: its calibration sequence's, or the
    config's external file."""
    subs = list(subruns)
    charge = calibration.charge if calibration is not None else layout.config.pipeline.calibration.charge
    return {
        "run": run,
        "tag": f"LST-{layout.tel}.Run{run:05d}",
        "subrun_count": len(subs),
        "first_subrun": subs[0] if subs else None,
        "single_subrun": subs[0] if len(subs) == 1 else None,
        "several_subruns": len(subs) if len(subs) > 1 else None,
        "subrun_dl1": tuple(layout.dl1(run, s) for s in subs),
        "subrun_dl2": tuple(layout.dl2(run, s) for s in subs),
        "subrun_muons": tuple(layout.muons(run, s) for s in subs),
        "subrun_datacheck": tuple(layout.datacheck(run, s) for s in subs),
        "subrun_interleaved": tuple(layout.interleaved(run, s) for s in subs),
        "charge": charge,
    }


def closing_values(layout: NightLayout, runs: Sequence[int]) -> dict[str, Value]:
    """The night-wise checks at closing: where they write, and the runs merged (``12,15``)."""
    return {
        "longterm_dir": layout.longterm_dir,
        "longterm_file": layout.longterm_file,
        "longterm_page": layout.longterm_page,
        "runs": ",".join(str(r) for r in runs) or None,
    }


def with_derived(values: Mapping[str, Value], derived: Mapping[str, tuple[str, ...]]) -> dict[str, Value]:
    """Add the file's derived placeholders: each the first of its templates that is defined.

    Derived placeholders may use each other (the file is checked for cycles when read), so they
    are resolved in dependency order.
    """
    out = dict(values)
    done: set[str] = set()

    def resolve(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for template in derived[name]:
            for used in names_in(template):
                if used in derived:
                    resolve(used)
            text = expand(template, out)
            if text is not None:
                out[name] = text
                return
        out[name] = None

    for name in derived:
        resolve(name)
    return out
