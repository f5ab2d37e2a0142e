"""A real LST-1 night for the lstchain tests, made of the one raw file we ship.

``lstchain_night`` is the night the lstchain step test and the end-to-end SLURM test share:

- night 2020-02-18, the night run 2008 was really taken (its events are stamped 21:03 UTC);
- ``raw/20200218/`` holds links to ``shared/data/lst1/LST-1.1.Run02008.0000_first50.fits.fz``
  named as run 2005 (DRS4), run 2006 (PEDCALIB) and run 2008 subruns 0, 1, 2, and the
  NightSummary that lists them;
- external calibration: a charge calibration (the run has one flat-field event, too few to
  compute one) and a time calibration (lstchain 0.12.3's time tool cannot run here: see
  ``docs/lstchain-profile.md``), both written as lstchain writes them;
- random-forest models trained by lstchain's own ``build_models`` on synthetic DL1 tables;
- lstchain's full standard config with ``pointing_information = true``, and a drive log that
  covers the run, so the events have a pointing and survive into DL2;
- three STAND-INS (``standins/``), named as the executables they replace and configured as those
  steps' executables: gain selection (``lstchain_r0_to_r0g`` needs four streams and R1v1 data;
  the stand-in copies the file, selecting no gain), the Cat-B calibration
  (``lstchain_create_cat_B_calibration_file`` needs thousands of interleaved events; the stand-in
  reads the run's interleaved files and writes fixed coefficients) and the tail-cut finder
  (``lstchain_find_tailcuts`` needs interleaved pedestals; the stand-in writes fixed, stricter
  cuts). Their orchestration is tested, their science is not; every other step is lstchain's own.

Everything that imports ctapipe or lstchain runs in a child interpreter (this file run as a
script): the pytest process stays free of them, so a test elsewhere in the session can still
check that ``osa_core`` does not import lstchain.

Where CI asked for real services (``CI`` or ``OSA_REQUIRE_SERVICES`` set) a missing lstchain is
a failure, never a skip: a green run must mean these tests ran.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RAW_FILE = ROOT.parent / "shared" / "data" / "lst1" / "LST-1.1.Run02008.0000_first50.fits.fz"
VENV_BIN = Path(sys.executable).parent
STANDINS = Path(__file__).resolve().parent / "standins"
"""Stand-in executables for the stages the shipped file cannot feed (see the module docstring)."""

NIGHT = dt.date(2020, 2, 18)
DRS4_RUN, PEDCAL_RUN, DATA_RUN, DATA_SUBRUNS = 2005, 2006, 2008, 3

# The first event of the shipped file with a valid UCTS time (event 3), as lstchain's
# EventTimeCalculator reports it: the NightSummary's reference columns, and the drive log's span.
UCTS_T0 = 1582059789516351903
DRAGON_COUNTER0 = 2516351600

# Pointing written into the drive log: finite, and between the models' training nodes.
POINTING_AZ_DEG, POINTING_ZD_DEG = 100.0, 25.0
TRAINING_NODES = [(zd, az) for zd in (10.0, 30.0, 50.0) for az in (90.0, 270.0)]

EXECUTABLES = (
    "lstchain_create_drs4_pedestal_file",
    "lstchain_dl1ab",
    "lstchain_longterm_dl1_check",
    "lstchain_cherenkov_transparency",
    "lstchain_data_r0_to_dl1",
    "lstchain_check_dl1",
    "lstchain_dl1_to_dl2",
    "lstchain_merge_hdf5_files",
    "lstchain_merge_muon_files",
)

TIMINGS_KEY = pytest.StashKey[list[tuple[str, float, int, int]]]()


@dataclass(frozen=True)
class LstchainNight:
    """A night the ``lstchain`` profile can process, and the config values that point at it."""

    date: dt.date
    night_summary: Path
    raw_root: Path
    """``[paths] raw``: the night's files are in ``raw_root / YYYYMMDD``."""
    raw_dir: Path
    drs4_run: int
    pedcal_run: int
    data_run: int
    data_subruns: int
    lstchain: dict[str, Any]
    """``[pipeline.lstchain]`` (field names of :class:`osa_core.config.LstchainConfig`)."""
    calibration: dict[str, Any]
    """``[pipeline.calibration]``: the external charge and time calibration files."""
    scheduler: dict[str, Any] = field(default_factory=dict)
    """``[scheduler]`` minimum resources: the DRS4 step peaks at 2.8 GB, a subrun step at 0.9 GB."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment the job side needs: the venv's ``bin`` on PATH, a headless matplotlib."""

    @property
    def night(self) -> str:
        return self.date.strftime("%Y%m%d")

    @property
    def pipeline(self) -> dict[str, Any]:
        return {"profile": "lstchain", "lstchain": self.lstchain, "calibration": self.calibration}

    def config_dict(self, work: Path) -> dict[str, Any]:
        """A whole config as TOML would give it: products under ``work``, raw data from here."""
        return {
            "paths": {
                "raw": str(self.raw_root),
                "analysis": str(work / "running_analysis"),
                "final": str(work / "final"),
                "logs": str(work / "logs"),
                "state": str(work / "state"),
                "night_summary": f"{self.raw_root}/{{night}}/NightSummary_{{night}}.txt",
            },
            "night": {"prod_id": "test"},
            "scheduler": dict(self.scheduler),
            "pipeline": self.pipeline,
        }

    def config(self, work: Path) -> Any:
        from osa_core.model.config import config_from_dict

        return config_from_dict(self.config_dict(work), base=work)


def services_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("OSA_REQUIRE_SERVICES"))


def require_lstchain() -> None:
    """Skip, or fail where CI asked for it, when lstchain or its executables are missing."""
    problems = []
    if importlib.util.find_spec("lstchain") is None:
        problems.append("lstchain is not importable (pip install -e '.[lstchain]')")
    missing = [n for n in EXECUTABLES if not (VENV_BIN / n).exists() and shutil.which(n) is None]
    if missing:
        problems.append(f"executables missing: {', '.join(missing)}")
    if not RAW_FILE.is_file():
        problems.append(f"the shipped raw file is missing: {RAW_FILE}")
    if problems:
        message = "; ".join(problems)
        if services_required():
            pytest.fail(f"lstchain is required here (CI/OSA_REQUIRE_SERVICES set): {message}")
        pytest.skip(message)


def job_env() -> dict[str, str]:
    return {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MPLBACKEND": "Agg",
    }


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def lstchain_products(
    tmp_path_factory: pytest.TempPathFactory, step_timings: list[tuple[str, float, int, int]]
) -> Path:
    """Config, calibration files and models, built once per session in a child interpreter."""
    require_lstchain()
    out = tmp_path_factory.mktemp("lstchain_products")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, __file__, str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **job_env()},
    )
    if result.returncode != 0:
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        pytest.fail(f"building the lstchain fixtures failed:\n{output}")
    step_timings.append(("fixtures (config, calibration, models)", time.monotonic() - start, 0, 0))
    return out


@pytest.fixture(scope="session")
def lstchain_raw_night(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``raw/`` with ``20200218/``: links named as runs 2005, 2006, 2008.0000-0002, and the night file."""
    require_lstchain()
    return make_raw_night(tmp_path_factory.mktemp("raw"))


def make_raw_night(raw_root: Path) -> Path:
    night_dir = raw_root / NIGHT.strftime("%Y%m%d")
    night_dir.mkdir(parents=True)
    names = [(DRS4_RUN, 0), (PEDCAL_RUN, 0)] + [(DATA_RUN, s) for s in range(DATA_SUBRUNS)]
    for run, subrun in names:
        # Links, not copies: shared/ is read-only and nothing writes next to raw files.
        (night_dir / f"LST-1.1.Run{run:05d}.{subrun:04d}.fits.fz").symlink_to(RAW_FILE)
    (night_dir / f"NightSummary_{night_dir.name}.txt").write_text(night_summary_text())
    return raw_root


@pytest.fixture(scope="session")
def lstchain_night(lstchain_raw_night: Path, lstchain_products: Path) -> LstchainNight:
    night_dir = lstchain_raw_night / NIGHT.strftime("%Y%m%d")
    return LstchainNight(
        date=NIGHT,
        night_summary=night_dir / f"NightSummary_{night_dir.name}.txt",
        raw_root=lstchain_raw_night,
        raw_dir=night_dir,
        drs4_run=DRS4_RUN,
        pedcal_run=PEDCAL_RUN,
        data_run=DATA_RUN,
        data_subruns=DATA_SUBRUNS,
        lstchain={
            "config": str(lstchain_products / "lstchain_config.json"),
            "models": str(lstchain_products / "models"),
            "pointing": str(lstchain_products / drive_log_name()),
            # The run-wise datacheck PDF cannot be drawn from these events: lstchain log-scales
            # 2-D histograms that are empty here and matplotlib stops ("Invalid vmin or vmax").
            # The datacheck files are still merged run-wise. DL1ab: the file has no pedestal
            # events, so no pedestal-threshold cleaning (the tail cuts' own thresholds apply).
            "extra_args": {"datacheck_run": ["--omit-pdf"], "dl1ab": ["--no-pedestal-cleaning"]},
            "executables": {
                "gain_selection": str(STANDINS / "lstchain_r0_to_r0g"),
                "catb_calibration": str(STANDINS / "lstchain_create_cat_B_calibration_file"),
                "find_tailcuts": str(STANDINS / "lstchain_find_tailcuts"),
            },
        },
        calibration={
            "charge": str(lstchain_products / f"calibration_filters_52.Run{PEDCAL_RUN:05d}.0000.h5"),
            "time": str(lstchain_products / f"time_calibration.Run{PEDCAL_RUN:05d}.0000.h5"),
        },
        scheduler={"memory": "2G", "calibration_memory": "4G"},
        env=job_env(),
    )


@pytest.fixture
def lstchain_night_private(lstchain_night: LstchainNight, tmp_path: Path) -> LstchainNight:
    """The same night with its own raw directory: a test may remove or add raw files in it."""
    raw_root = make_raw_night(tmp_path / "raw")
    night_dir = raw_root / lstchain_night.night
    return dataclasses.replace(
        lstchain_night,
        raw_root=raw_root,
        raw_dir=night_dir,
        night_summary=night_dir / lstchain_night.night_summary.name,
    )


@pytest.fixture(scope="session")
def step_timings(request: pytest.FixtureRequest) -> list[tuple[str, float, int, int]]:
    """(step, seconds, exit code, peak memory in MB) of every step run; printed at the end."""
    return request.config.stash.setdefault(TIMINGS_KEY, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    timings = config.stash.get(TIMINGS_KEY, [])
    if not timings:
        return
    terminalreporter.section("lstchain step timings")
    for name, seconds, code, peak_mb in timings:
        peak = f"peak {peak_mb:5d} MB" if peak_mb else ""
        terminalreporter.write_line(f"{name:<40} {seconds:6.1f} s  exit {code:<3} {peak}")


# --- plain files ---------------------------------------------------------------------------------
def night_summary_text() -> str:
    """The 11-column NightSummary: DRS4 2005, PEDCALIB 2006, DATA 2008 with 3 subruns.

    The reference columns are those of the shipped file's first valid event (all three runs are
    that file); the TIB columns are missing (``nan``), as for most runs of that season.
    """
    rows = [
        (DRS4_RUN, 1, "DRS4", "20:31:02"),
        (PEDCAL_RUN, 1, "PEDCALIB", "20:44:37"),
        (DATA_RUN, DATA_SUBRUNS, "DATA", "21:02:58"),
    ]
    return "".join(
        f"{run:05d} {n:4d} {kind} {NIGHT.isoformat()} {start} 0003 {UCTS_T0} {DRAGON_COUNTER0} nan nan nan\n"
        for run, n, kind, start in rows
    )


def drive_log_name() -> str:
    return f"DrivePosition_log_{NIGHT.strftime('%Y%m%d')}.txt"


def write_drive_log(path: Path) -> None:
    """ctapipe_io_lst's drive report: ``unix_time azimuth zenith`` (deg), one line per 10 s.

    It interpolates the pointing at each event time and fails outside the log's span, so the log
    covers the evening around the run generously.
    """
    first = UCTS_T0 // 10**9 - 3600
    lines = (f"{t} {POINTING_AZ_DEG} {POINTING_ZD_DEG}\n" for t in range(first, first + 7200, 10))
    path.write_text("".join(lines))


# --- built in a child interpreter (this file run as a script) ---------------------------------------
def write_charge_calibration(path: Path) -> None:
    """A charge calibration file as lstchain_create_calibration_file writes it.

    dc_to_pe is nominal (1/80 pe per ADC count high gain, 17.5/80 low gain); pedestal_per_sample
    is the measured median of the DRS4-corrected waveforms, 0 ADC in both gains for this file
    (the DRS4 baseline already removes the pedestal). No pixel is flagged unusable.
    """
    import astropy.units as u
    import numpy as np
    from ctapipe.containers import (
        FlatFieldContainer,
        PedestalContainer,
        PixelStatusContainer,
        WaveformCalibrationContainer,
    )
    from ctapipe.io import HDF5TableWriter

    shape = (2, 1855)
    zeros, ones = np.zeros(shape, np.float32), np.ones(shape, np.float32)
    good = np.zeros(shape, bool)
    dc_to_pe = np.stack([np.full(1855, 1 / 80), np.full(1855, 17.5 / 80)]).astype(np.float32)
    t0 = 0 * u.s
    calibration = WaveformCalibrationContainer(
        time=t0, time_min=t0, time_max=t0, dc_to_pe=dc_to_pe, pedestal_per_sample=zeros,
        # ctapipe_io_lst subtracts this with .to_value(u.ns): it must carry a unit.
        time_correction=zeros * u.ns, n_pe=ones * 80, unusable_pixels=good,
    )  # fmt: skip
    pedestal = PedestalContainer(
        n_events=1, sample_time=t0, sample_time_min=t0, sample_time_max=t0, charge_mean=zeros,
        charge_median=zeros, charge_std=ones * 30, charge_median_outliers=good, charge_std_outliers=good,
    )  # fmt: skip
    flatfield = FlatFieldContainer(
        sample_time=t0, sample_time_min=t0, sample_time_max=t0, n_events=1, charge_mean=ones * 6400,
        charge_median=ones * 6400, charge_std=ones * 300, time_mean=zeros * u.ns,
        time_median=zeros * u.ns, time_std=zeros * u.ns, relative_gain_mean=ones,
        relative_gain_median=ones, relative_gain_std=zeros, relative_time_median=zeros * u.ns,
        charge_median_outliers=good, charge_std_outliers=good, time_median_outliers=good,
    )  # fmt: skip
    status = PixelStatusContainer(
        hardware_failing_pixels=good, pedestal_failing_pixels=good, flatfield_failing_pixels=good
    )
    with HDF5TableWriter(path, group_name="tel_1", mode="w") as writer:
        writer.write("calibration", calibration)
        writer.write("pedestal", pedestal)
        writer.write("flatfield", flatfield)
        writer.write("pixel_status", status)


def write_time_calibration(path: Path) -> None:
    """A DRS4 time calibration with all Fourier coefficients 0: no time correction.

    Same layout as lstchain's (``/fan`` and ``/fbn``, gains x pixels x 16 harmonics).
    """
    import numpy as np
    import tables

    with tables.open_file(path, "w") as f:
        f.create_array("/", "fan", np.zeros((2, 1855, 16)))
        f.create_array("/", "fbn", np.zeros((2, 1855, 16)))


def synthetic_dl1(n: int, gamma: bool, seed: int) -> Any:
    """A DL1 parameter table shaped like simulated LST-1 data (metres, radians), not physics.

    Enough columns and sane ranges for lstchain's ``build_models``: Hillas and timing
    parameters, pointing on :data:`TRAINING_NODES`, true energy and direction, particle type.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    zd, az = np.array(TRAINING_NODES)[rng.integers(0, len(TRAINING_NODES), n)].T
    alt_tel, az_tel = np.deg2rad(90 - zd), np.deg2rad(az)
    log_e = rng.uniform(-1.5, 1.5, n)
    log_intensity = 2.5 + log_e + rng.normal(0, 0.2, n)
    width = (0.03 if gamma else 0.08) * (1 + 0.2 * log_e) * rng.lognormal(0, 0.2, n)
    length = width * rng.uniform(1.5, 4.0 if gamma else 2.5, n)
    offset = np.deg2rad(rng.uniform(0, 1.0 if gamma else 3.0, n))
    angle = rng.uniform(0, 2 * np.pi, n)
    x, y = rng.normal(0, 0.3, n), rng.normal(0, 0.3, n)
    return pd.DataFrame(
        {
            "obs_id": np.ones(n, int), "event_id": np.arange(n), "tel_id": np.ones(n, int),
            "intensity": 10**log_intensity, "log_intensity": log_intensity,
            "x": x, "y": y, "r": np.hypot(x, y), "phi": np.arctan2(y, x),
            "psi": rng.uniform(-np.pi / 2, np.pi / 2, n), "length": length, "width": width,
            "wl": width / length, "skewness": rng.normal(0, 0.5, n), "kurtosis": rng.normal(3, 0.5, n),
            "time_gradient": rng.normal(0, 5, n), "leakage_intensity_width_2": rng.uniform(0, 0.1, n),
            "alt_tel": alt_tel, "az_tel": az_tel, "sin_az_tel": np.sin(az_tel),
            "mc_alt_tel": alt_tel, "mc_az_tel": az_tel,
            "mc_alt": alt_tel + offset * np.cos(angle),
            "mc_az": az_tel + offset * np.sin(angle) / np.cos(alt_tel),
            "mc_energy": 10**log_e, "log_mc_energy": log_e, "mc_type": np.full(n, 0 if gamma else 101),
        }
    )  # fmt: skip


def train_models(models: Path, work: Path) -> None:
    """Real scikit-learn random forests, trained by lstchain's ``build_models`` (small forests)."""
    import astropy.units as u
    from astropy.table import Table
    from ctapipe_io_lst import LSTEventSource
    from lstchain.io.io import dl1_params_lstcam_key
    from lstchain.reco.dl1_to_dl2 import build_models

    subarray = LSTEventSource.create_subarray(tel_id=1)
    files = {}
    for name, gamma, seed in (("gamma", True, 1), ("proton", False, 2)):
        files[name] = work / f"synthetic_{name}_dl1.h5"
        subarray.to_hdf(files[name])  # build_models reads the focal length from it
        synthetic_dl1(1500, gamma, seed).to_hdf(files[name], key=dl1_params_lstcam_key)
    small = {"n_estimators": 10, "max_depth": 10, "n_jobs": 2, "random_state": 0}
    forests = {
        key: small
        for key in (
            "random_forest_energy_regressor_args",
            "random_forest_disp_regressor_args",
            "random_forest_disp_classifier_args",
            "random_forest_particle_classifier_args",
        )
    }
    build_models(str(files["gamma"]), str(files["proton"]), path_models=str(models), custom_config=forests)
    # The training pointings, read by lstchain_dl1_to_dl2 for its cos(zenith) interpolation.
    zd, az = zip(*TRAINING_NODES, strict=True)
    Table({"zd": list(zd) * u.deg, "az": list(az) * u.deg}).write(models / "training_dirs.ecsv")


def build_products(out: Path) -> None:
    from osa_core.pipeline.lstchain import write_standard_config

    write_standard_config(out / "lstchain_config.json", pointing_information=True)
    write_drive_log(out / drive_log_name())
    write_charge_calibration(out / f"calibration_filters_52.Run{PEDCAL_RUN:05d}.0000.h5")
    write_time_calibration(out / f"time_calibration.Run{PEDCAL_RUN:05d}.0000.h5")
    (out / "models").mkdir()
    train_models(out / "models", out)


if __name__ == "__main__":
    build_products(Path(sys.argv[1]))
