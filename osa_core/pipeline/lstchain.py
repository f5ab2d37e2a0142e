"""The ``lstchain`` profile: the real LST-1 analysis chain (lstchain 0.12) as argument lists.

Pure: every function here builds commands from the config and the night's layout, except the
two ``write_*`` helpers at the end, which write the JSON configs the commands read; they import
lstchain lazily, so importing this module costs nothing (the console and ``status`` never pay
lstchain's 6-40 s import). See ``docs/lstchain-profile.md`` for argv, products and timings.

Where lstchain insists on its own file names, the output directories are chosen so products land
at the :class:`NightLayout` paths:

- ``lstchain_data_r0_to_dl1`` names its outputs from the raw file name: ``--output-dir
  layout.dl1_dir`` gives ``dl1_LST-1.RunRRRRR.SSSS.h5`` (the layout's name), plus
  ``muons_LST-1.RunRRRRR.SSSS.fits`` and ``interleaved/`` next to it;
- ``lstchain_check_dl1`` on one subrun writes ``datacheck_dl1_LST-1.RunRRRRR.SSSS.h5``;
- ``lstchain_dl1_to_dl2`` replaces the first ``dl1`` of the input name by ``dl2``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from osa_core.model.config import Config
from osa_core.model.errors import ConfigError, PlanError
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import (
    CalibrationContext,
    CalibrationProducts,
    Profile,
    StepCommand,
    SubrunContext,
)

DEFAULT_EXECUTABLES: dict[str, str] = {
    "drs4_baseline": "lstchain_create_drs4_pedestal_file",
    "time_calibration": "lstchain_data_create_time_calibration_file",
    "charge_calibration": "lstchain_create_calibration_file",
    "r0_to_dl1": "lstchain_data_r0_to_dl1",
    "dl1_datacheck": "lstchain_check_dl1",
    # The muon rings are analysed inside lstchain_data_r0_to_dl1, on the waveforms with the
    # muon extractor (GlobalPeakWindowSum): that is LST-1's production muon analysis. This step
    # moves its table to the muons directory. lstchain_dl1_muon_analysis (re-analysis of the DL1
    # images) is the alternative: configure it as this step's executable; it needs the blosc
    # HDF5 filter plugin (HDF5_PLUGIN_PATH from the hdf5plugin package) to read lstchain's images.
    "muon_analysis": "mv",
    "dl1_to_dl2": "lstchain_dl1_to_dl2",
    "merge_dl1": "lstchain_merge_hdf5_files",
    # Not lstchain_merge_hdf5_files: in 0.12.3 it fails on DL2 files (their /provenance node holds
    # variable-length strings it cannot copy). The run-wise DL2 is made from the merged DL1.
    "merge_dl2": "lstchain_dl1_to_dl2",
    "merge_muons": "lstchain_merge_muon_files",
    "datacheck_run": "lstchain_check_dl1",
}

STEP_LABELS: dict[str, str] = {
    "drs4_baseline": "DRS4",
    "time_calibration": "Time cal",
    "charge_calibration": "Charge cal",
    "r0_to_dl1": "R0→DL1",
    "dl1_datacheck": "Datacheck",
    "muon_analysis": "Muons",
    "dl1_to_dl2": "DL1→DL2",
    "merge_dl1": "Merge DL1",
    "merge_dl2": "Merge DL2",
    "merge_muons": "Merge muons",
    "datacheck_run": "Run datacheck",
}

# Batch nodes have no display: matplotlib (datacheck plots) must not look for one.
STEP_ENV: tuple[tuple[str, str], ...] = (("MPLBACKEND", "Agg"),)

DL1_MUON_REANALYSIS = "lstchain_dl1_muon_analysis"


# --- where the profile's own files are ---------------------------------------------------------
def standard_config_path(layout: NightLayout) -> Path:
    """The full standard lstchain config, used when ``pipeline.lstchain.config`` is not set."""
    return layout.analysis_dir / "lstchain_standard_config.json"


def camera_calibration_config_path(layout: NightLayout) -> Path:
    """lstchain's onsite camera-calibration config, read by the time and charge calibration tools."""
    return layout.calibration_dir / "onsite_camera_calibration_param.json"


def lstchain_config_path(config: Config, layout: NightLayout) -> Path:
    return config.pipeline.lstchain.config or standard_config_path(layout)


def run_summary_path(config: Config, layout: NightLayout) -> Path | None:
    directory = config.pipeline.lstchain.run_summary_dir
    return None if directory is None else directory / f"RunSummary_{layout.night}.ecsv"


def external_note(products: CalibrationProducts) -> str:
    """What the operator reads in the job log about calibration files taken from the config."""
    if not products.external:
        return ""
    used = ", ".join(f"{name} {getattr(products, name)}" for name in products.external)
    return f"external calibration used (not computed): {used}"


# --- the profile -------------------------------------------------------------------------------
class LstchainProfile(Profile):
    """Steps that run lstchain's executables; lstchain itself is never imported here."""

    name = "lstchain"
    simulation = False
    # Execution order: the charge calibration reads the time calibration (as lstchain's onsite
    # script does), so time comes before charge.
    calibration_step_names = ("drs4_baseline", "time_calibration", "charge_calibration")
    subrun_step_names = ("r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2")
    merge_step_names = ("merge_dl1", "merge_dl2", "merge_muons", "datacheck_run")
    step_labels = STEP_LABELS

    def prepare(self, layout: NightLayout) -> None:
        """The lstchain and camera-calibration configs, written once per night (imports lstchain)."""
        write_setup_files(self.config, layout)

    def calibration_steps(self, ctx: CalibrationContext) -> list[StepCommand]:
        """DRS4, time, charge; a product given in ``[pipeline.calibration]`` is simply not computed.

        If all three are external the list is empty: the engine completes the sequence at once
        and logs :func:`external_note`. Otherwise the first step's note says which are external.
        """
        layout, prod = ctx.layout, ctx.products
        cam_config = camera_calibration_config_path(layout)
        summary = run_summary_path(self.config, layout)
        pedcal_raw = layout.raw_file(ctx.pedcal_run, 0)
        steps: list[StepCommand] = []
        if "drs4" not in prod.external:
            drs4_raw = layout.raw_file(ctx.drs4_run, 0)
            args = ["--input", str(drs4_raw), "--output", str(prod.drs4), "--overwrite", "--no-progress"]
            steps.append(self._step("drs4_baseline", args, (drs4_raw,), (prod.drs4,)))
        if "time" not in prod.external:
            if summary is None:
                raise ConfigError(
                    "the time calibration (lstchain_data_create_time_calibration_file) needs a "
                    "RunSummary: set pipeline.lstchain.run_summary_dir, or give an existing file "
                    "as pipeline.calibration.time",
                    path=self.config.source,
                )
            args = [
                f"--input-file={pedcal_raw}",
                f"--output-file={prod.time}",
                f"--pedestal-file={prod.drs4}",
                f"--config={cam_config}",
                f"--run-summary-path={summary}",
                "--no-progress",
            ]
            steps.append(
                self._step(
                    "time_calibration", args, (pedcal_raw, prod.drs4, cam_config, summary), (prod.time,)
                )
            )
        if "charge" not in prod.external:
            # ctapipe Tool (traitlets) options: --name=value keeps a value starting with "-" safe.
            args = [
                f"--config={cam_config}",
                f"--input_file={pedcal_raw}",
                f"--output_file={prod.charge}",
                f"--pedestal_file={prod.drs4}",
                f"--time_calibration_file={prod.time}",
                "--LSTEventSource.default_trigger_type=tib",
            ]
            inputs: tuple[Path, ...] = (pedcal_raw, prod.drs4, prod.time, cam_config)
            if summary is not None:
                args.append(f"--run_summary_file={summary}")
                inputs += (summary,)
            steps.append(self._step("charge_calibration", args, inputs, (prod.charge,)))
        if steps and prod.external:
            steps[0] = dataclasses.replace(steps[0], note=external_note(prod))
        return steps

    def subrun_steps(self, ctx: SubrunContext) -> list[StepCommand]:
        """R0->DL1, datacheck, muons, and DL1->DL2 when models are configured."""
        layout, run, subrun = ctx.layout, ctx.run, ctx.subrun
        lst = self.config.pipeline.lstchain
        calib = self._subrun_calibration(ctx)
        lst_config = lstchain_config_path(self.config, layout)
        raw, dl1, muons = layout.raw_file(run, subrun), layout.dl1(run, subrun), layout.muons(run, subrun)
        # Where lstchain_data_r0_to_dl1 puts the muon table: next to the DL1 file.
        r0_muons = layout.dl1_dir / muons.name

        args = [
            "--input-file", str(raw),
            "--output-dir", str(layout.dl1_dir),
            "--pedestal-file", str(calib.drs4),
            "--calibration-file", str(calib.charge),
            "--config", str(lst_config),
        ]  # fmt: skip
        inputs: tuple[Path, ...] = (raw, calib.drs4, calib.charge, lst_config)
        if calib.time is not None:
            args += ["--time-calibration-file", str(calib.time)]
            inputs += (calib.time,)
        if lst.pointing is not None:
            # Pointing is filled only if the config says pointing_information=true (see
            # write_standard_config); without it alt/az are NaN and DL1->DL2 keeps no event.
            args += ["--pointing-file", str(lst.pointing)]
            inputs += (lst.pointing,)
        summary = run_summary_path(self.config, layout)
        if summary is not None:
            args += ["--run-summary-path", str(summary)]
            inputs += (summary,)
        if lst.max_events > 0:
            args += ["--max-events", str(lst.max_events)]
        note = "calibration: " + ", ".join(
            f"{name} {getattr(calib, name) or 'none'}{' (external)' if name in calib.external else ''}"
            for name in ("drs4", "charge", "time")
        )
        steps = [self._step("r0_to_dl1", args, inputs, (dl1,), note=note)]

        # --omit-pdf: the PDF is made run-wise by the closer (datacheck_run), as lstosa does.
        args = [
            "--input-file", str(dl1),
            "--output-dir", str(layout.datacheck_dir),
            "--muons-dir", str(layout.muons_dir),
            "--omit-pdf", "--batch",
        ]  # fmt: skip
        steps.append(self._step("dl1_datacheck", args, (dl1,), (layout.datacheck(run, subrun),)))

        if Path(self.executable("muon_analysis")).name == DL1_MUON_REANALYSIS:
            args = ["--input-file", str(dl1), "--output-file", str(muons)]
            args += ["--calibration-file", str(calib.charge)]
            steps.append(self._step("muon_analysis", args, (dl1, calib.charge), (muons,)))
        else:
            args = ["-f", str(r0_muons), str(muons)]
            note = "muon rings analysed by lstchain_data_r0_to_dl1; moving its table to the muons directory"
            steps.append(self._step("muon_analysis", args, (r0_muons,), (muons,), note))

        if lst.models is not None:
            # reg_energy and cls_gh are needed whatever the disp method: checking them catches a
            # wrong model directory before lstchain starts. --overwrite: a rerun replaces a
            # partial DL2 file instead of failing on it.
            args = [
                "--input-files", str(dl1),
                "--path-models", str(lst.models),
                "--output-dir", str(layout.dl2_dir),
                "--config", str(lst_config),
                "--overwrite",
            ]  # fmt: skip
            inputs = (dl1, lst.models / "reg_energy.sav", lst.models / "cls_gh.sav", lst_config)
            steps.append(self._step("dl1_to_dl2", args, inputs, (layout.dl2(run, subrun),)))
        return steps

    def merge_steps(self, layout: NightLayout, run: int, subruns: Sequence[int]) -> list[StepCommand]:
        """Run-wise products of a closed run, in ``final/<level>/YYYYMMDD/<prod_id>/``.

        lstchain's merge tools select files by directory and glob pattern, not by list: every
        subrun file of ``run`` in the directory is merged. ``subruns`` are the inputs checked
        before starting, so the closer merges a run only once those subruns are complete.
        The closer creates the final directories (lstchain does not).
        """
        if not subruns:
            raise PlanError(f"run {run}: nothing to merge (no subruns given)")
        tag = f"LST-{layout.tel}.Run{run:05d}"
        dl1_out = layout.final_dir("DL1") / f"dl1_{tag}.h5"
        steps = [
            self._merge_h5("merge_dl1", layout.dl1_dir, f"dl1_{tag}.*.h5", run, dl1_out,
                           tuple(layout.dl1(run, s) for s in subruns)),
        ]  # fmt: skip
        lst = self.config.pipeline.lstchain
        if lst.models is not None:
            # Same models and config as the subruns' DL2, applied to the merged DL1 (see
            # DEFAULT_EXECUTABLES): the same events and values as merging the subrun DL2 files.
            lst_config = lstchain_config_path(self.config, layout)
            args = [
                "--input-files", str(dl1_out),
                "--path-models", str(lst.models),
                "--output-dir", str(layout.final_dir("DL2")),
                "--config", str(lst_config),
                "--overwrite",
            ]  # fmt: skip
            inputs = (dl1_out, lst.models / "reg_energy.sav", lst.models / "cls_gh.sav", lst_config)
            note = "run-wise DL2 from the merged DL1"
            dl2_out = layout.final_dir("DL2") / f"dl2_{tag}.h5"
            steps.append(self._step("merge_dl2", args, inputs, (dl2_out,), note))
        muons_out = layout.final_dir("muons") / f"muons_{tag}.fits"
        args = [
            "--input-dir", str(layout.muons_dir),
            "--pattern", f"muons_{tag}.*.fits",
            "--run-number", str(run),
            "--output-file", str(muons_out),
        ]  # fmt: skip
        muons_in = tuple(layout.muons(run, s) for s in subruns)
        steps.append(self._step("merge_muons", args, muons_in, (muons_out,)))

        # Given datacheck files, lstchain_check_dl1 only merges and plots: the merged .h5 goes
        # next to its inputs (lstchain's choice), the PDF to --output-dir. With one subrun there
        # is nothing to merge and the PDF keeps the subrun's name. "--omit-pdf" in extra_args
        # leaves the merge only (the PDF cannot be drawn from a few events: see the docs).
        pdf_dir = layout.final_dir("datacheck")
        run_check = layout.datacheck_dir / f"datacheck_dl1_{tag}.h5"
        merged: tuple[Path, ...] = () if len(subruns) == 1 else (run_check,)
        pdf = pdf_dir / (layout.datacheck(run, subruns[0]) if len(subruns) == 1 else run_check).name
        with_pdf = "--omit-pdf" not in lst.extra_args.get("datacheck_run", [])
        outputs = merged + ((pdf.with_suffix(".pdf"),) if with_pdf else ())
        args = [
            "--input-file", str(layout.datacheck_dir / f"datacheck_dl1_{tag}.*.h5"),
            "--output-dir", str(pdf_dir),
            "--muons-dir", str(layout.muons_dir),
            "--batch",
        ]  # fmt: skip
        checks_in = tuple(layout.datacheck(run, s) for s in subruns)
        steps.append(self._step("datacheck_run", args, checks_in, outputs))
        return steps

    # --- helpers -------------------------------------------------------------------------------
    def executable(self, step: str) -> str:
        return self.config.pipeline.lstchain.executables.get(step, DEFAULT_EXECUTABLES[step])

    def _step(
        self,
        step: str,
        args: Sequence[str],
        inputs: tuple[Path, ...],
        outputs: tuple[Path, ...],
        note: str = "",
    ) -> StepCommand:
        extra = self.config.pipeline.lstchain.extra_args.get(step, [])
        return StepCommand(
            name=step,
            argv=(self.executable(step), *args, *extra),
            outputs=outputs,
            inputs=inputs,
            env=STEP_ENV,
            note=note,
        )

    def _merge_h5(
        self, step: str, directory: Path, pattern: str, run: int, output: Path, inputs: tuple[Path, ...]
    ) -> StepCommand:
        args = [
            "--input-dir", str(directory),
            "--pattern", pattern,
            "--run-number", str(run),
            "--output-file", str(output),
            "--no-progress",
        ]  # fmt: skip
        return self._step(step, args, inputs, (output,))

    def _subrun_calibration(self, ctx: SubrunContext) -> _SubrunCalibration:
        """The parent's products; without a parent, the config must name DRS4 and charge files."""
        if ctx.calibration is not None:
            c = ctx.calibration
            return _SubrunCalibration(c.drs4, c.charge, c.time, c.external)
        ext = self.config.pipeline.calibration
        if ext.drs4 is None or ext.charge is None:
            raise PlanError(
                f"run {ctx.run} has no calibration sequence: lstchain needs a DRS4 baseline and a "
                "charge calibration; give them as pipeline.calibration.drs4 and .charge"
            )
        # Without a time file lstchain applies no DRS4 time correction: allowed, and said in the note.
        external = tuple(n for n in ("drs4", "charge", "time") if getattr(ext, n) is not None)
        return _SubrunCalibration(ext.drs4, ext.charge, ext.time, external)


@dataclass(frozen=True, slots=True)
class _SubrunCalibration:
    """What R0->DL1 reads: the parent's products, or the config's files for a run without one."""

    drs4: Path
    charge: Path
    time: Path | None
    external: tuple[str, ...]


def merge_steps(layout: NightLayout, run: int, subruns: Sequence[int]) -> list[StepCommand]:
    """The closer's run-wise merge commands (see :meth:`LstchainProfile.merge_steps`)."""
    return LstchainProfile(layout.config).merge_steps(layout, run, subruns)


# --- the few functions that write files (and import lstchain) -------------------------------------
def write_standard_config(path: Path, pointing_information: bool) -> Path:
    """Write lstchain's full standard config as JSON, with ``pointing_information`` set.

    The full config, not a partial one: lstchain_data_r0_to_dl1 does not merge a partial config
    with its standard one and fails. ``pointing_information`` must be true exactly when a drive
    log is passed (``pipeline.lstchain.pointing``): true without one fails R0->DL1, false with one
    ignores it. Written atomically, so a running job never reads half a file.
    """
    from lstchain.io.config import get_standard_config  # lazy: importing lstchain takes 6-40 s

    config = get_standard_config()
    config["source_config"]["LSTEventSource"]["pointing_information"] = pointing_information
    # json writes inf as Infinity, which lstchain's reader (json.load) reads back.
    return _write_atomic(path, json.dumps(config, indent=2))


def write_camera_calibration_config(path: Path) -> Path:
    """Copy lstchain's onsite camera-calibration config (tel_id, extractors, sample sizes).

    Without it lstchain_create_calibration_file stops at once: its calculators default to
    telescope 0.
    """
    from lstchain.onsite import DEFAULT_CONFIG  # lazy, as above

    return _write_atomic(path, Path(DEFAULT_CONFIG).read_text())


def write_setup_files(config: Config, layout: NightLayout) -> list[Path]:
    """Write the JSON configs the night's commands read, unless they exist; returns those written.

    The engine calls this once per night before submitting, on a host with lstchain installed.
    """
    written = []
    if config.pipeline.lstchain.config is None and not standard_config_path(layout).exists():
        pointing = config.pipeline.lstchain.pointing is not None
        written.append(write_standard_config(standard_config_path(layout), pointing_information=pointing))
    # Only the time and charge calibration tools read it: not needed when both are external.
    ext = config.pipeline.calibration
    calibrating = ext.time is None or ext.charge is None
    if calibrating and not camera_calibration_config_path(layout).exists():
        written.append(write_camera_calibration_config(camera_calibration_config_path(layout)))
    return written


def _write_atomic(path: Path, text: str) -> Path:
    atomic_write(path, text)
    return path
