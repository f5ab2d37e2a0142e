"""The seed night's job scripts and step commands under each profile, as plain JSON.

Used by ``test_profile_equivalence.py``: the golden files in ``data/profile_golden/`` were written
by this module against the Python profiles that the TOML profile files replaced (commit
"Capture the seed night's commands before the profiles become data"); the test rebuilds them
with the current code and compares. Paths are under the fake root ``/osa`` (nothing is read or
written: building commands is pure), and this interpreter's path is written as ``{python}``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from osa_core.jobs.scripts import render_script
from osa_core.model.config import Config, config_from_dict
from osa_core.model.errors import OsaError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import CalibrationContext, StepCommand, SubrunContext
from osa_core.pipeline.factory import get_profile
from osa_core.plan.planner import plan_file

SEED = Path(__file__).resolve().parents[2] / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"
GOLDEN = Path(__file__).parent / "data" / "profile_golden"
ROOT = Path("/osa")
DETAILED_RUNS = (1874, 1875, 1878)
NOW = dt.datetime(2020, 1, 28, 6, 0, tzinfo=dt.UTC)

PATHS = {"raw": "raw", "analysis": "running_analysis", "final": "final", "logs": "logs", "state": "state"}

CASES: dict[str, dict[str, Any]] = {
    "simulate_default": {"pipeline": {"profile": "simulate"}},
    "simulate_failures": {
        "pipeline": {
            "profile": "simulate",
            "simulate": {
                "default_seconds": 0.5,
                "step_seconds": {"r0_to_dl1": 3.0, "drs4_baseline": 2},
                "failures": [
                    {"run": 1874, "step": "dl1_datacheck", "subrun": 1, "attempts": [1, 2], "exit_code": 7},
                    {"run": 1875, "step": "r0_to_dl1", "allocate_mb": 600},
                    {"run": 1873, "step": "charge_calibration"},
                ],
            },
            "calibration": {"drs4": "ext/drs4.h5"},
        }
    },
    "lstchain_production": {
        "pipeline": {
            "profile": "lstchain",
            "lstchain": {
                "models": "models/dec_2276",
                "pointing": "drive/DrivePosition_log_20200127.txt",
                "run_summary_dir": "monitoring/RunSummary",
                "extra_args": {"charge_calibration": ["--EventSource.min_flatfield_adc=3000"]},
            },
        }
    },
    "lstchain_test_night": {
        "pipeline": {
            "profile": "lstchain",
            "lstchain": {
                "config": "lstchain_config.json",
                "models": "models",
                "pointing": "DrivePosition_log_20200127.txt",
                "max_events": 50,
                "extra_args": {"datacheck_run": ["--omit-pdf"]},
            },
            "calibration": {"charge": "ext/charge.h5", "time": "ext/time.h5"},
        }
    },
    "lstchain_all_external": {
        "pipeline": {
            "profile": "lstchain",
            "lstchain": {
                "executables": {
                    "muon_analysis": "/opt/lst/bin/lstchain_dl1_muon_analysis",
                    "r0_to_dl1": "/opt/lst/bin/lstchain_data_r0_to_dl1",
                },
                "extra_args": {"muon_analysis": ["--plot-rings"]},
            },
            "calibration": {"drs4": "ext/drs4.h5", "charge": "ext/charge.h5", "time": "ext/time.h5"},
        }
    },
    "lstchain_no_run_summary": {"pipeline": {"profile": "lstchain"}},
    "lstchain_drs4_charge_external": {
        "pipeline": {
            "profile": "lstchain",
            "lstchain": {"run_summary_dir": "monitoring/RunSummary"},
            "calibration": {"drs4": "ext/drs4.h5", "charge": "ext/charge.h5"},
        }
    },
}


# The stages the Python profiles did not have, off: with them off the file builds the same chain,
# word for word (with them on: tests/core/test_profile_plan.py), but for merge_dl1's --keys-to-copy
# (a fix: lstchain 0.12.3 appended every subrun's instrument tables to the merged file).
NEW_STAGES = dict.fromkeys(
    ("gain_selection", "dl1ab", "catb_calibration", "longterm_check", "cherenkov_transparency"), False
)


def case_config(name: str) -> Config:
    case = CASES[name]
    if case["pipeline"]["profile"] == "lstchain":
        case = {**case, "pipeline": {**case["pipeline"], "stages": NEW_STAGES}}
    config = config_from_dict({"paths": dict(PATHS), **case}, base=ROOT)
    return msgspec.structs.replace(config, source=ROOT / "cfg" / "osa.toml")


def _step(step: StepCommand) -> dict[str, Any]:
    return {
        "name": step.name,
        "argv": list(step.argv),
        "inputs": [str(p) for p in step.inputs],
        "outputs": [str(p) for p in step.outputs],
        "env": [list(e) for e in step.env],
        "note": step.note,
    }


def _steps(build: Any) -> Any:
    try:
        return [_step(s) for s in build()]
    except OsaError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def build_case(name: str) -> dict[str, Any]:
    """Everything the seed night produces under this case's config."""
    config = case_config(name)
    plan = plan_file(SEED)
    layout = NightLayout(config, plan.date)
    profile = get_profile(config)
    out: dict[str, Any] = {"scripts": {}, "calibration": {}, "subruns": {}, "merges": {}}
    for seq in plan.sequences:
        parent = plan.by_seq(seq.parent) if seq.parent is not None else None
        out["scripts"][str(seq.seq)] = render_script(config, layout, seq, parent, now=NOW)
        if seq.is_calibration:
            assert seq.drs4_run is not None
            drs4_run = seq.drs4_run
            for attempt in (1, 2):
                products = profile.calibration_products(layout, drs4_run, seq.run)
                ctx = CalibrationContext(layout, drs4_run, seq.run, attempt, products)
                build = lambda c=ctx: profile.calibration_steps(c)  # noqa: E731
                out["calibration"][f"{seq.run}/{attempt}"] = _steps(build)
            continue
        if seq.run not in DETAILED_RUNS:  # the other runs build the same commands
            continue
        calibration = None
        if parent is not None and parent.drs4_run is not None:
            calibration = profile.calibration_products(layout, parent.drs4_run, parent.run)
        for subrun in sorted({0, 1, seq.subruns - 1}):
            for attempt in (1, 2):
                ctx2 = SubrunContext(layout, seq.run, subrun, attempt, calibration)
                key = f"{seq.run}.{subrun}/{attempt}"
                out["subruns"][key] = _steps(lambda c=ctx2: profile.subrun_steps(c))
        # A data run without a calibration sequence (the config's files, or a PlanError).
        orphan = SubrunContext(layout, seq.run, 0, 1, None)
        out["subruns"][f"{seq.run}.0/orphan"] = _steps(lambda c=orphan: profile.subrun_steps(c))
        if config.pipeline.profile == "lstchain":
            from osa_core.pipeline.lstchain import merge_steps

            for n in (1, 2, 3):
                merge = lambda n=n, r=seq.run: merge_steps(layout, r, range(n))  # noqa: E731
                out["merges"][f"{seq.run}/{n}"] = _steps(merge)
    cases: dict[str, Any] = json.loads(json.dumps(out).replace(sys.executable, "{python}"))
    return cases


def golden_path(name: str) -> Path:
    return GOLDEN / f"{name}.json"


if __name__ == "__main__":  # writes the golden files: only against the code they describe
    for case in CASES:
        golden_path(case).write_text(json.dumps(build_case(case), indent=1, sort_keys=True) + "\n")
        print("wrote", golden_path(case))
