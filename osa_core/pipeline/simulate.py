"""The ``simulate`` profile: every step waits a configured time and writes a small placeholder.

It exists for demos, tests and sites without lstchain. Everything it produces says
``"simulated": true``; the snapshot carries ``simulation=True`` so every front end labels it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from osa_core.model.config import Failure
from osa_core.pipeline.base import CalibrationContext, Profile, StepCommand, SubrunContext

CALIBRATION_STEPS = ("drs4_baseline", "charge_calibration", "time_calibration")
SUBRUN_STEPS = ("r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2")
LABELS = {
    "drs4_baseline": "DRS4",
    "charge_calibration": "Charge",
    "time_calibration": "Time",
    "r0_to_dl1": "R0→DL1",
    "dl1_datacheck": "Datacheck",
    "muon_analysis": "Muons",
    "dl1_to_dl2": "DL1→DL2",
}
# Placeholder event counts: deterministic per (run, subrun) so merges can be checked.
EVENTS_BASE = 1000


def simulated_events(run: int, subrun: int) -> int:
    return EVENTS_BASE + (run * 7 + subrun * 13) % 500


class SimulateProfile(Profile):
    name = "simulate"
    simulation = True
    calibration_step_names = CALIBRATION_STEPS
    subrun_step_names = SUBRUN_STEPS
    step_labels = LABELS

    def _seconds(self, step: str) -> float:
        sim = self.config.pipeline.simulate
        return sim.step_seconds.get(step, sim.default_seconds)

    def _failure(self, run: int, subrun: int | None, step: str, attempt: int) -> Failure | None:
        for failure in self.config.pipeline.simulate.failures:
            if (
                failure.run == run
                and failure.step == step
                and (failure.subrun is None or failure.subrun == subrun)
                and attempt in failure.attempts
            ):
                return failure
        return None

    def _command(
        self, step: str, output: Path, run: int, subrun: int | None, attempt: int, inputs: tuple[Path, ...]
    ) -> StepCommand:
        argv = [
            sys.executable,
            "-m",
            "osa_core.pipeline.simstep",
            "--step",
            step,
            "--seconds",
            str(self._seconds(step)),
            "--output",
            str(output),
            "--run",
            str(run),
            "--subrun",
            str(subrun if subrun is not None else 0),
            "--events",
            str(simulated_events(run, subrun or 0)),
        ]
        failure = self._failure(run, subrun, step, attempt)
        if failure is not None:
            argv += ["--fail", str(failure.exit_code)]
            if failure.allocate_mb:
                argv += ["--allocate-mb", str(failure.allocate_mb)]
        return StepCommand(name=step, argv=tuple(argv), outputs=(output,), inputs=inputs)

    def calibration_steps(self, ctx: CalibrationContext) -> list[StepCommand]:
        products = ctx.products
        outputs = {
            "drs4_baseline": products.drs4,
            "charge_calibration": products.charge,
            "time_calibration": products.time,
        }
        external = {"drs4_baseline": "drs4", "charge_calibration": "charge", "time_calibration": "time"}
        steps = []
        for step in CALIBRATION_STEPS:
            if external[step] in products.external:
                continue
            steps.append(self._command(step, outputs[step], ctx.pedcal_run, None, ctx.attempt, ()))
        return steps

    def subrun_steps(self, ctx: SubrunContext) -> list[StepCommand]:
        layout, run, subrun = ctx.layout, ctx.run, ctx.subrun
        calibration: tuple[Path, ...] = ()
        if ctx.calibration is not None:
            calibration = (ctx.calibration.drs4, ctx.calibration.charge)
        dl1 = layout.dl1(run, subrun)
        return [
            self._command("r0_to_dl1", dl1, run, subrun, ctx.attempt, calibration),
            self._command("dl1_datacheck", layout.datacheck(run, subrun), run, subrun, ctx.attempt, (dl1,)),
            self._command("muon_analysis", layout.muons(run, subrun), run, subrun, ctx.attempt, (dl1,)),
            self._command("dl1_to_dl2", layout.dl2(run, subrun), run, subrun, ctx.attempt, (dl1,)),
        ]
