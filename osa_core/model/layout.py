"""Where a night's files live: one pure mapping from (config, night) to paths.

Names follow LST-1's conventions (``LST-1.1.Run01874.0003.fits.fz``, ``dl1_LST-1.Run01874.0003.h5``);
nothing here touches the disk except :meth:`NightLayout.make_dirs`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.config import Config

EVENT_TABLES = {
    "dl1": "/dl1/event/telescope/parameters/LST_LSTCam",
    "dl2": "/dl2/event/telescope/parameters/LST_LSTCam",
    "datacheck": "/dl1datacheck/cosmics",
}
"""Where, inside an lstchain product (HDF5), its event table lives: counted when verifying merges."""


def night_tag(date: dt.date) -> str:
    """``YYYYMMDD``: the night as it appears in directory and job names."""
    return date.strftime("%Y%m%d")


@dataclass(frozen=True)
class NightLayout:
    config: Config
    date: dt.date

    @property
    def night(self) -> str:
        return night_tag(self.date)

    @property
    def tel(self) -> int:
        return self.config.telescope.id

    # --- work area -----------------------------------------------------------------------------
    @property
    def analysis_dir(self) -> Path:
        return self.config.paths.analysis / self.night / self.config.night.prod_id

    @property
    def scripts_dir(self) -> Path:
        return self.analysis_dir / "scripts"

    @property
    def job_log_dir(self) -> Path:
        return self.analysis_dir / "log"

    @property
    def history_dir(self) -> Path:
        return self.analysis_dir / "history"

    @property
    def calibration_dir(self) -> Path:
        return self.analysis_dir / "calibration"

    @property
    def dl1_dir(self) -> Path:
        return self.analysis_dir / "DL1"

    @property
    def dl2_dir(self) -> Path:
        return self.analysis_dir / "DL2"

    @property
    def muons_dir(self) -> Path:
        return self.analysis_dir / "muons"

    @property
    def datacheck_dir(self) -> Path:
        return self.analysis_dir / "datacheck"

    @property
    def r0g_dir(self) -> Path:
        """Gain-selected raw data (R0G) the lstchain profile's gain selection writes, per subrun."""
        return self.analysis_dir / "R0G"

    @property
    def raw_dir(self) -> Path:
        return self.config.paths.raw / self.night

    # --- state -----------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.config.paths.state / self.night

    @property
    def ledger_path(self) -> Path:
        return self.state_dir / f"ledger_{self.config.night.prod_id}.sqlite"

    @property
    def status_cache(self) -> Path:
        """What a cold status keeps of finished sequences (osa_core/track/status_parts.py)."""
        return self.state_dir / f"status-cache_{self.config.night.prod_id}"

    @property
    def lock_path(self) -> Path:
        return self.state_dir / f"mutation_{self.config.night.prod_id}.lock"

    @property
    def engine_log(self) -> Path:
        return self.config.paths.logs / f"osa_{self.night}.log"

    @property
    def night_summary(self) -> Path:
        return self.config.night_summary_path(self.night)

    # --- names -----------------------------------------------------------------------------------
    def job_name(self, run: int) -> str:
        """Job name: lstosa's ``LST1_01874`` plus the night tag, so one sacct call finds the night."""
        return f"LST{self.tel}_{run:05d}_{self.night}"

    def merge_job_name(self, run: int) -> str:
        return f"LST{self.tel}_{run:05d}_{self.night}_merge"

    def merge_script(self, run: int) -> Path:
        return self.scripts_dir / f"merge_LST{self.tel}_{run:05d}.sh"

    def merge_log_pattern(self, run: int, stream: str = "out") -> str:
        """SLURM's ``--output``/``--error`` pattern of a run's merge job (one file per job id)."""
        return str(self.job_log_dir / f"merge_Run{run:05d}_jobid_%j.{stream}")

    def script(self, run: int) -> Path:
        return self.scripts_dir / f"sequence_LST{self.tel}_{run:05d}.sh"

    def task_stdout_pattern(self, run: int, array: bool) -> str:
        """SLURM's ``--output`` pattern: one file per task and job id, hence per attempt."""
        if array:
            return str(self.job_log_dir / f"Run{run:05d}.%4a_jobid_%A.out")
        return str(self.job_log_dir / f"Run{run:05d}_jobid_%j.out")

    def task_stderr_pattern(self, run: int, array: bool) -> str:
        return self.task_stdout_pattern(run, array)[: -len(".out")] + ".err"

    def task_log(self, run: int, subrun: int | None, job_id: str, stream: str = "out") -> Path:
        """The concrete log file of one task (``subrun`` None: a single, non-array job)."""
        if subrun is None:
            return self.job_log_dir / f"Run{run:05d}_jobid_{job_id}.{stream}"
        return self.job_log_dir / f"Run{run:05d}.{subrun:04d}_jobid_{job_id}.{stream}"

    def history(self, run: int, subrun: int | None) -> Path:
        """One JSON line per step record; calibration runs have ``subrun`` None."""
        if subrun is None:
            return self.history_dir / f"Run{run:05d}.history"
        return self.history_dir / f"Run{run:05d}.{subrun:04d}.history"

    def merge_history(self, run: int) -> Path:
        """The step records of a run's merge jobs at closing (every attempt appends)."""
        return self.history_dir / f"Run{run:05d}.merge.history"

    def raw_file(self, run: int, subrun: int, stream: int = 1) -> Path:
        return self.raw_dir / f"LST-1.{stream}.Run{run:05d}.{subrun:04d}.fits.fz"

    def dl1(self, run: int, subrun: int) -> Path:
        return self.dl1_dir / f"dl1_LST-1.Run{run:05d}.{subrun:04d}.h5"

    def interleaved(self, run: int, subrun: int) -> Path:
        """The subrun's interleaved pedestal and flat-field events, written by R0->DL1 (lstchain's
        name: the DL1 file's, ``dl1`` replaced) and read by the run's Cat-B calibration."""
        return self.dl1_dir / "interleaved" / f"interleaved_LST-1.Run{run:05d}.{subrun:04d}.h5"

    def dl2(self, run: int, subrun: int) -> Path:
        return self.dl2_dir / f"dl2_LST-1.Run{run:05d}.{subrun:04d}.h5"

    def muons(self, run: int, subrun: int) -> Path:
        return self.muons_dir / f"muons_LST-1.Run{run:05d}.{subrun:04d}.fits"

    def datacheck(self, run: int, subrun: int) -> Path:
        return self.datacheck_dir / f"datacheck_dl1_LST-1.Run{run:05d}.{subrun:04d}.h5"

    def drs4_file(self, drs4_run: int) -> Path:
        return self.calibration_dir / f"drs4_pedestal.Run{drs4_run:05d}.0000.h5"

    def charge_file(self, pedcal_run: int) -> Path:
        return self.calibration_dir / f"calibration_filters_52.Run{pedcal_run:05d}.0000.h5"

    def time_file(self, pedcal_run: int) -> Path:
        return self.calibration_dir / f"time_calibration.Run{pedcal_run:05d}.0000.h5"

    # --- the datacheck web tree (the web server's own layout, pushed as it is) -----------------
    @property
    def web_root(self) -> Path:
        return self.analysis_dir / "datacheck_web"

    def web_night_dir(self, category: str) -> Path:
        """``<category>/YYYYMMDD/<prod_id>`` below :attr:`web_root`; category ``dl1``, ``drs4``, ..."""
        return self.web_root / category / self.night / self.config.night.prod_id

    @property
    def web_page(self) -> Path:
        """The night page: ``dl1/YYYYMMDD/<prod_id>/index.html``."""
        return self.web_night_dir("dl1") / "index.html"

    def web_provenance(self, run: int) -> Path:
        """A run's W3C PROV record (PROV-JSON), published beside the datacheck."""
        return self.web_night_dir("dl1") / "provenance" / f"Run{run:05d}.prov.json"

    # --- final places -----------------------------------------------------------------------------
    def final_dir(self, level: str) -> Path:
        """``final/<level>/YYYYMMDD/<prod_id>`` for level DL1, DL2, muons, datacheck, calibration."""
        return self.config.paths.final / level / self.night / self.config.night.prod_id

    @property
    def dl1ab_dir(self) -> Path:
        """Run-wise DL1 re-cleaned with the run's own tail cuts (lstosa's ``tailcut`` directory),
        with the tail-cut finder's cleaning config beside it."""
        return self.final_dir("DL1") / "tailcut"

    # --- the night-wise checks at closing (what the DL1 datacheck section shows) ---------------
    @property
    def longterm_dir(self) -> Path:
        """``final/longterm/YYYYMMDD/<prod_id>``: the night's long-term DL1 check."""
        return self.final_dir("longterm")

    @property
    def longterm_file(self) -> Path:
        """``DL1_datacheck_YYYYMMDD.h5``: lstchain_longterm_dl1_check's table of the night's runs,
        with the Cherenkov transparency added to it by lstchain_cherenkov_transparency."""
        return self.longterm_dir / f"DL1_datacheck_{self.night}.h5"

    @property
    def longterm_page(self) -> Path:
        """``DL1_datacheck_YYYYMMDD.html``: the long-term check's page, written beside its table."""
        return self.longterm_file.with_suffix(".html")

    @property
    def closing_checks_job_name(self) -> str:
        return f"LST{self.tel}_{self.night}_night_checks"

    @property
    def closing_checks_script(self) -> Path:
        return self.scripts_dir / f"night_checks_LST{self.tel}_{self.night}.sh"

    def closing_checks_log_pattern(self, stream: str = "out") -> str:
        return str(self.job_log_dir / f"night_checks_jobid_%j.{stream}")

    @property
    def closing_checks_history(self) -> Path:
        return self.history_dir / "night_checks.history"

    @property
    def closed_flag(self) -> Path:
        return self.state_dir / f"NightFinished_{self.config.night.prod_id}.json"

    def make_dirs(self) -> None:
        for path in (
            self.scripts_dir,
            self.job_log_dir,
            self.history_dir,
            self.calibration_dir,
            self.dl1_dir,
            self.dl2_dir,
            self.muons_dir,
            self.datacheck_dir,
            self.r0g_dir,
            self.state_dir,
            self.engine_log.parent,
        ):
            path.mkdir(parents=True, exist_ok=True)
