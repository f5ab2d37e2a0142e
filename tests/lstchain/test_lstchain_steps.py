"""The lstchain profile's commands, run as they are built, on the real LST-1 file.

No engine and no scheduler: each StepCommand's argv runs as a process, in order, the way the
job-side runner runs it (inputs checked first, outputs checked after). One calibration (DRS4
baseline really computed from the raw file; charge and time calibration external) and one data
subrun (gain selection by a STAND-IN that copies the file, then R0->DL1 from its R0G output,
datacheck, muons, DL1->DL2), then the closer's run-wise merges. The assertions read the
products' contents. DL1ab and the night-wise checks run in the SLURM night test
(test_lstchain_night.py), which shares these fixtures: they are off here, to run once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tables

from osa_core.model.config import config_from_dict
from osa_core.model.errors import ConfigError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import CalibrationContext, StepCommand, SubrunContext
from osa_core.pipeline.lstchain import LstchainProfile

PARAMETERS = "/dl1/event/telescope/parameters/LST_LSTCam"
DL2_PARAMETERS = "/dl2/event/telescope/parameters/LST_LSTCam"
HILLAS = ["intensity", "x", "y", "r", "phi", "length", "width", "psi", "skewness", "kurtosis"]
N_EVENTS = 50


SUBRUNS = (0, 1)  # two, so the closer's merges really merge


@dataclass(frozen=True)
class Processed:
    layout: NightLayout
    profile: LstchainProfile
    calibration: list[StepCommand]
    subruns: dict[int, list[StepCommand]]


def run_steps(
    steps: Iterable[StepCommand],
    logs: Path,
    env: Mapping[str, str],
    timings: list[tuple[str, float, int, int]],
    label: str = "",
) -> None:
    """Run each step as the job-side runner does, and record its time and peak memory."""
    for step in steps:
        missing = [str(p) for p in step.inputs if not p.exists()]
        assert not missing, f"{step.name}: missing inputs {missing}"
        logs.mkdir(exist_ok=True)
        log = logs / f"{step.name}.log"
        start = time.monotonic()
        with log.open("w") as out:
            proc = subprocess.Popen(
                step.argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env, **dict(step.env)}
            )
            # wait4, not wait: it gives this child's own peak resident memory.
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        timings.append((f"{label}{step.name}", time.monotonic() - start, code, usage.ru_maxrss // 1024))
        tail = log.read_text()[-3000:]
        assert code == 0, f"{step.name} exited {code}: {' '.join(step.argv)}\n{tail}"
        missing = [str(p) for p in step.outputs if not p.exists()]
        assert not missing, f"{step.name} exited 0 but left no {missing}\n{tail}"


@pytest.fixture(scope="module")
def processed(
    lstchain_night: Any, tmp_path_factory: pytest.TempPathFactory, step_timings: list[Any]
) -> Processed:
    work = tmp_path_factory.mktemp("lstchain_work")
    settings = lstchain_night.config_dict(work)
    settings["pipeline"]["stages"] = {
        "dl1ab": False,
        "longterm_check": False,
        "cherenkov_transparency": False,
    }
    config = config_from_dict(settings, base=work)
    layout = NightLayout(config, lstchain_night.date)
    layout.make_dirs()
    profile = LstchainProfile(config)
    products = profile.calibration_products(layout, lstchain_night.drs4_run, lstchain_night.pedcal_run)
    calibration = profile.calibration_steps(
        CalibrationContext(layout, lstchain_night.drs4_run, lstchain_night.pedcal_run, 1, products)
    )
    run = lstchain_night.data_run
    subruns = {s: profile.subrun_steps(SubrunContext(layout, run, s, 1, products)) for s in SUBRUNS}
    run_steps(calibration, work / "calibration_logs", lstchain_night.env, step_timings)
    for subrun, steps in subruns.items():
        run_steps(steps, work / f"subrun_{subrun}_logs", lstchain_night.env, step_timings, f"{subrun:04d} ")
    return Processed(layout, profile, calibration, subruns)


@pytest.mark.lstchain
def test_gain_selection_stand_in_feeds_r0_to_dl1(processed: Processed) -> None:
    """Orchestration only: the STAND-IN copies the raw file (the real tool needs 4 streams, R1v1)."""
    layout = processed.layout
    for subrun, steps in processed.subruns.items():
        assert [s.name for s in steps][:2] == ["gain_selection", "r0_to_dl1"]
        r0g = layout.r0g_dir / layout.raw_file(2008, subrun).name
        assert steps[0].outputs == (r0g,) and "standins" in steps[0].argv[0]
        assert steps[1].argv[steps[1].argv.index("--input-file") + 1] == str(r0g)
        assert r0g.stat().st_size == layout.raw_file(2008, subrun).stat().st_size
        assert (
            "WITHOUT gain selection"
            in (layout.job_log_dir / f"R0_to_R0g_Run02008.{subrun:04d}.log").read_text()
        )


@pytest.mark.lstchain
def test_calibration_computes_only_the_drs4_baseline(processed: Processed) -> None:
    assert [s.name for s in processed.calibration] == ["drs4_baseline"]
    assert "external calibration used" in processed.calibration[0].note
    drs4 = processed.layout.drs4_file(2005)
    with tables.open_file(drs4) as f:
        row = f.root.r1.monitoring.drs4_baseline.tel_001[0]
    baseline, counts = row["baseline_mean"], row["baseline_counts"]
    assert baseline.shape == (2, 1855, 4096)
    # 50 events of 40 samples cannot visit all 4096 capacitors of a channel: about a third get
    # a baseline, near the ~400 ADC offset of LST-1's readout.
    sampled = counts > 0
    assert 0.2 < sampled.mean() < 0.6
    assert 350 < np.median(baseline[sampled]) < 450


@pytest.mark.lstchain
def test_dl1_has_every_event_with_hillas_parameters_and_pointing(processed: Processed) -> None:
    dl1 = processed.layout.dl1(2008, 0)
    params = pd.read_hdf(dl1, PARAMETERS)
    assert len(params) == N_EVENTS
    assert set(HILLAS) <= set(params.columns)
    # Events whose image survives cleaning have finite parameters (45 of 50 with this calibration).
    assert np.isfinite(params["intensity"]).sum() >= N_EVENTS // 2
    # The drive log reached the events: alt/az are those it was written with.
    assert np.allclose(np.rad2deg(params["alt_tel"]), 65.0)
    assert np.allclose(np.rad2deg(params["az_tel"]), 100.0)
    with tables.open_file(dl1) as f:
        assert f.get_node("/dl1/event/telescope/image/LST_LSTCam").nrows == N_EVENTS


@pytest.mark.lstchain
def test_datacheck_file_opens(processed: Processed) -> None:
    with tables.open_file(processed.layout.datacheck(2008, 0)) as f:
        assert "/dl1datacheck/cosmics" in f
        assert f.get_node("/dl1datacheck/cosmics").nrows == 1


@pytest.mark.lstchain
def test_muon_table_is_at_the_layout_path(processed: Processed) -> None:
    from astropy.table import Table

    muons = processed.layout.muons(2008, 0)
    table = Table.read(muons)
    # 50 events hold no complete ring: the table is empty, its columns are lstchain's.
    assert {"event_id", "ring_radius", "ring_size", "good_ring"} <= set(table.colnames)
    assert not (processed.layout.dl1_dir / muons.name).exists()


@pytest.mark.lstchain
def test_dl2_has_energy_and_gammaness_for_surviving_events(processed: Processed) -> None:
    dl2 = pd.read_hdf(processed.layout.dl2(2008, 0), DL2_PARAMETERS)
    assert len(dl2) > 0
    assert np.isfinite(dl2["reco_energy"]).all() and (dl2["reco_energy"] > 0).all()
    assert dl2["gammaness"].between(0, 1).all()
    dl1 = pd.read_hdf(processed.layout.dl1(2008, 0), PARAMETERS)
    assert set(dl2["event_id"]) <= set(dl1["event_id"][np.isfinite(dl1["intensity"])])


@pytest.mark.lstchain
def test_closer_merges_the_run(processed: Processed, lstchain_night: Any, step_timings: list[Any]) -> None:
    layout = processed.layout
    for level in ("DL1", "DL2", "muons", "datacheck"):
        layout.final_dir(level).mkdir(parents=True, exist_ok=True)
    steps = processed.profile.merge_steps(layout, 2008, SUBRUNS)
    assert [s.name for s in steps] == ["merge_dl1", "merge_dl2", "merge_muons", "datacheck_run"]
    run_steps(steps, layout.analysis_dir / "merge_logs", lstchain_night.env, step_timings)
    merged_dl1, merged_dl2, muons, checks = (s.outputs for s in steps)
    assert len(pd.read_hdf(merged_dl1[0], PARAMETERS)) == N_EVENTS * len(SUBRUNS)
    run_dl2 = pd.read_hdf(merged_dl2[0], DL2_PARAMETERS)
    subrun_dl2 = [pd.read_hdf(layout.dl2(2008, s), DL2_PARAMETERS) for s in SUBRUNS]
    # Made from the merged DL1 with the same models: the subruns' events, with their energies.
    assert len(run_dl2) == sum(len(d) for d in subrun_dl2)
    assert np.allclose(run_dl2["reco_energy"], pd.concat(subrun_dl2)["reco_energy"])
    assert muons[0].name == "muons_LST-1.Run02008.fits"
    with tables.open_file(checks[0]) as f:
        assert f.get_node("/dl1datacheck/cosmics").nrows == len(SUBRUNS)


# --- without lstchain: what the profile builds -----------------------------------------------------
def _profile(tmp_path: Path, **pipeline: Any) -> tuple[LstchainProfile, NightLayout]:
    import datetime as dt

    config = config_from_dict({"pipeline": {"profile": "lstchain", **pipeline}}, base=tmp_path)
    return LstchainProfile(config), NightLayout(config, dt.date(2020, 2, 18))


def test_importing_the_profile_does_not_import_lstchain() -> None:
    code = (
        "import sys, osa_core.pipeline.lstchain\n"
        "sys.exit('lstchain' in sys.modules or 'ctapipe' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=300).returncode == 0


def test_subrun_products_land_at_layout_paths(tmp_path: Path) -> None:
    lstchain = {"models": "models", "pointing": "drive.txt", "max_events": 7}
    profile, layout = _profile(tmp_path, lstchain=lstchain)
    calib = profile.calibration_products(layout, 2005, 2006)
    steps = profile.subrun_steps(SubrunContext(layout, 2008, 1, 1, calib))
    names = ["gain_selection", "r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2"]
    assert [s.name for s in steps] == names
    r0g, r0, check, muons, dl2 = steps
    assert r0g.argv[:3] == ("lstchain_r0_to_r0g", "--R0-file", str(layout.raw_file(2008, 1)))
    assert r0g.outputs == (layout.r0g_dir / layout.raw_file(2008, 1).name,)
    assert r0g.outputs[0] in r0.inputs and calib.drs4 in r0.inputs and calib.time in r0.inputs
    assert r0.outputs == (layout.dl1(2008, 1),)
    assert ("--pointing-file", str(tmp_path / "drive.txt")) == tuple(r0.argv[-4:-2])
    assert r0.argv[-2:] == ("--max-events", "7")
    # lstchain names the DL1 file after the raw file: the output directory decides where it lands.
    assert r0.argv[r0.argv.index("--output-dir") + 1] == str(layout.dl1_dir)
    assert check.outputs == (layout.datacheck(2008, 1),)
    moved = layout.dl1_dir / layout.muons(2008, 1).name
    assert muons.argv == ("mv", "-f", str(moved), str(layout.muons(2008, 1)))
    assert dl2.outputs == (layout.dl2(2008, 1),)
    assert str(layout.analysis_dir / "lstchain_standard_config.json") in r0.argv


def test_external_calibration_is_not_recomputed(tmp_path: Path) -> None:
    profile, layout = _profile(tmp_path, calibration={"drs4": "d.h5", "charge": "c.h5", "time": "t.h5"})
    calib = profile.calibration_products(layout, 2005, 2006)
    assert profile.calibration_steps(CalibrationContext(layout, 2005, 2006, 1, calib)) == []
    profile, layout = _profile(tmp_path, calibration={"charge": "c.h5"})
    calib = profile.calibration_products(layout, 2005, 2006)
    with pytest.raises(ConfigError, match="run_summary_dir"):
        profile.calibration_steps(CalibrationContext(layout, 2005, 2006, 1, calib))


def test_overrides_and_no_models(tmp_path: Path) -> None:
    profile, layout = _profile(
        tmp_path,
        lstchain={"executables": {"r0_to_dl1": "/opt/r0dl1"}, "extra_args": {"r0_to_dl1": ["--x", "1"]}},
    )
    calib = profile.calibration_products(layout, 2005, 2006)
    steps = profile.subrun_steps(SubrunContext(layout, 2008, 0, 1, calib))
    r0 = next(s for s in steps if s.name == "r0_to_dl1")
    assert r0.argv[0] == "/opt/r0dl1" and r0.argv[-2:] == ("--x", "1")
    assert "dl1_to_dl2" not in [s.name for s in steps]


# --- the datacheck's calibration sections, from these real files -----------------------------------
SECTIONS_CHILD = """
import json, sys
from pathlib import Path
from osa_core.publish import calibcheck, drs4check
from osa_core.publish.camera import CalibrationFiles
drs4, charge, out = (Path(a) for a in sys.argv[1:4])
files = CalibrationFiles(2005, 2006, drs4, charge, ("charge",))
_, drs4_rows = drs4check.build_run(out / "drs4", files)
cal = calibcheck.read_calibration(charge)
why = calibcheck.not_physical(cal)
calibcheck.draw_run(out / "enf", files, cal, bool(why))
print(json.dumps({"drs4_rows": drs4_rows, "why": why}))
"""


@pytest.mark.lstchain
def test_calibration_sections_show_the_values_of_the_real_drs4_file(
    processed: Processed, lstchain_night: Any, tmp_path: Path
) -> None:
    """The DRS4 section's values are those computed here from the pedestal file lstchain wrote;
    the fixture's nominal charge calibration is called not physical."""
    drs4 = processed.layout.drs4_file(2005)
    charge = Path(lstchain_night.calibration["charge"])
    # ctapipe draws the camera: in a child interpreter, as everything that imports it here
    child = subprocess.run(
        [sys.executable, "-c", SECTIONS_CHILD, str(drs4), str(charge), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **lstchain_night.env},
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    said = json.loads(child.stdout.splitlines()[-1])
    shown = json.loads((tmp_path / "drs4" / "drs4_baseline.Run02005.json").read_text())

    with tables.open_file(drs4) as f:
        row = f.root.r1.monitoring.drs4_baseline.tel_001[0]
    for g, gain in enumerate(("high", "low")):
        # pixel by pixel, over the capacitors that got samples
        expected = np.full(1855, np.nan)
        spread = np.full(1855, np.nan)
        for pixel in range(1855):
            weights = row["baseline_counts"][g, pixel].astype(float)
            sampled = weights > 0
            if sampled.any():
                values_c = row["baseline_mean"][g, pixel, sampled].astype(float)
                expected[pixel] = np.average(values_c, weights=weights[sampled])
                deviations = (values_c - expected[pixel]) ** 2
                spread[pixel] = np.sqrt(np.average(deviations, weights=weights[sampled]))
        values = shown["gains"][gain]
        assert np.allclose(np.array(values["baseline"], dtype=float), expected, atol=1e-3, equal_nan=True)
        assert np.allclose(np.array(values["spread"], dtype=float), spread, atol=1e-3, equal_nan=True)
        # the outlier rule the page states, applied here to the values computed here
        outliers = set()
        for value in (expected, spread):
            median = np.nanmedian(value)
            sigma = 1.4826 * np.nanmedian(np.abs(value - median))
            outliers |= set(
                np.flatnonzero(~np.isfinite(value) | (np.abs(value - median) > 5 * sigma)).tolist()
            )
        assert values["outliers"] == sorted(outliers)
        table_row = said["drs4_rows"][1 + g]
        assert table_row[1] == gain and table_row[2] == f"{np.nanmedian(expected):.1f}"
        assert table_row[5] == str(len(outliers))
    assert png_size(tmp_path / "drs4" / "drs4_baseline.Run02005.png")[0] > 500

    enf = json.loads((tmp_path / "enf" / "calibration.Run02006.json").read_text())
    assert enf["physical"] is False and enf["flatfield_events"] == 1
    assert any("1 event" in why for why in said["why"])
    assert enf["gains"]["high"]["median_dc_to_pe"] == pytest.approx(1 / 80)
    assert png_size(tmp_path / "enf" / "calibration.Run02006.png")[0] > 500


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.lstchain
def test_dl1_section_shows_the_real_long_term_check(
    processed: Processed, lstchain_night: Any, step_timings: list[Any]
) -> None:
    """lstchain_longterm_dl1_check run on the run-wise datacheck file, as the closing runs it, at
    the layout's path; the DL1 section links its output and shows its per-run summary.

    lstchain 0.12.3 writes the HDF5 summary, then fails drawing its interactive page for a run
    without interleaved pedestals (a bokeh figure is None): the section must say the page is
    missing and still show the summary."""
    import datetime as dt

    from osa_core.model.snapshot import NightSnapshot, SchedulerHealth, SequenceStatus
    from osa_core.model.states import JobState, SequenceType
    from osa_core.publish.dl1check import build_section

    layout = processed.layout
    # the run-wise datacheck file, where the closer moves it: lstchain writes it beside its inputs
    steps = [s for s in processed.profile.merge_steps(layout, 2008, SUBRUNS) if s.name == "datacheck_run"]
    made = steps[0].outputs[0]
    if not made.is_file():  # made by test_closer_merges_the_run when the module runs whole
        run_steps(steps, layout.analysis_dir / "longterm_logs", lstchain_night.env, step_timings)
    run_check = layout.final_dir("datacheck") / made.name
    run_check.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(made, run_check)
    longterm = layout.longterm_file
    layout.final_dir("muons").mkdir(parents=True, exist_ok=True)
    argv = ["lstchain_longterm_dl1_check", "--input-dir", str(run_check.parent), "--output-file",
            str(longterm), "--muons-dir", str(layout.final_dir("muons")), "--batch"]  # fmt: skip
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=300, env={**os.environ, **lstchain_night.env}
    )
    assert longterm.is_file(), done.stdout[-2000:] + done.stderr[-2000:]

    # the night as the engine would show it: one data run, complete
    status = SequenceStatus(1, SequenceType.DATA, 2008, len(SUBRUNS), 0, None, JobState.COMPLETED,
                            {JobState.COMPLETED: len(SUBRUNS)}, 1, "1", None, None)  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    snapshot = NightSnapshot(layout.date, "slurm", "lstchain", False, now, SchedulerHealth(True),
                             (status,), {}, {}, {})  # fmt: skip
    with tables.open_file(run_check) as f:
        cosmics = int(f.get_node("/dl1datacheck/cosmics").col("num_events").sum())
    section = build_section(snapshot, layout, [])
    head, *rows = section.tables[0]
    assert len(rows) == 1
    shown = dict(zip(head, rows[0], strict=True))
    assert shown["run"] == "2008" and shown["cosmics"] == str(cosmics)
    linked = [d.path for d in section.documents]
    assert layout.web_night_dir("dl1") / longterm.name in linked and linked[0].is_file()
    if not longterm.with_suffix(".html").is_file():
        assert any("its interactive page was not made" in note for note in section.notes)
