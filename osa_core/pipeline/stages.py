"""What a night will run, level by level, from its profile file: what ``osa-core plan`` shows.

Pure: the steps are built for the plan's first calibration pair, first data subrun and a closed
run of that data run, exactly as the jobs and the closer will build them (conditions included),
without running or reading anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from osa_core.model.errors import OsaError, PlanError
from osa_core.model.layout import NightLayout
from osa_core.model.records import Plan
from osa_core.model.resources import memory_mb, walltime_seconds
from osa_core.pipeline.base import CalibrationContext, Profile, SubrunContext
from osa_core.pipeline.fileprofile import FileProfile
from osa_core.pipeline.placeholders import calibration_values, closing_values, run_values, subrun_values
from osa_core.pipeline.spec import Level
from osa_core.pipeline.template import Value

LEVEL_TITLES = {
    Level.NIGHT: "per night",
    Level.CALIBRATION: "per calibration",
    Level.SUBRUN: "per subrun",
    Level.RUN: "per run (closing)",
    Level.CLOSING: "per night (closing)",
}


@dataclass(frozen=True, slots=True)
class StageStep:
    name: str
    label: str
    executable: str


@dataclass(frozen=True, slots=True)
class Stage:
    level: Level
    steps: tuple[StageStep, ...]
    left_out: tuple[tuple[str, str], ...] = ()
    """(step, why) for the steps the configuration leaves out."""
    problem: str = ""
    """Why a task of this level cannot be built as configured (it would fail at submission)."""
    resources: tuple[str, ...] = ()
    """What the profile needs against what the configuration gives, e.g. ``memory >= 4G (8G)``."""

    def to_json(self) -> dict[str, object]:
        return {
            "level": self.level.value,
            "steps": [{"name": s.name, "label": s.label, "executable": s.executable} for s in self.steps],
            "left_out": [{"name": n, "why": w} for n, w in self.left_out],
            "problem": self.problem,
            "resources": list(self.resources),
        }


def night_stages(profile: FileProfile, layout: NightLayout, plan: Plan) -> list[Stage]:
    """The stages of the profile, built for this night's plan (a level the plan never reaches is shown
    from its definition)."""
    spec = profile.spec
    stages: list[Stage] = []
    prepare = spec.level(Level.NIGHT).prepare
    if prepare:
        stages.append(Stage(Level.NIGHT, (StageStep("prepare", "Prepare", prepare),)))
    calibration = next((s for s in plan.sequences if s.is_calibration), None)
    data = next((s for s in plan.sequences if not s.is_calibration), None)
    parent = plan.by_seq(data.parent) if data is not None and data.parent is not None else None
    products = None
    if parent is not None and parent.drs4_run is not None:
        products = profile.calibration_products(layout, parent.drs4_run, parent.run)
    contexts: dict[Level, dict[str, Value]] = {}
    if calibration is not None and calibration.drs4_run is not None:
        cal_products = profile.calibration_products(layout, calibration.drs4_run, calibration.run)
        contexts[Level.CALIBRATION] = calibration_values(
            CalibrationContext(layout, calibration.drs4_run, calibration.run, 1, cal_products)
        )
    if data is not None:
        contexts[Level.SUBRUN] = subrun_values(SubrunContext(layout, data.run, 0, 1, products))
        contexts[Level.RUN] = run_values(layout, data.run, range(data.subruns), products)
        contexts[Level.CLOSING] = closing_values(layout, [s.run for s in plan.data])
    for level in (Level.CALIBRATION, Level.SUBRUN, Level.RUN, Level.CLOSING):
        lspec = spec.level(level)
        if not lspec.steps:
            continue
        resources = _resources(profile, level)
        if level not in contexts:
            steps = tuple(StageStep(s.name, s.label, s.executable) for s in lspec.steps)
            stages.append(Stage(level, steps, resources=resources))
            continue
        try:
            built, left_out = profile.explain(level, layout, contexts[level])
        except OsaError as exc:
            steps = tuple(StageStep(s.name, s.label, s.executable) for s in lspec.steps)
            stages.append(Stage(level, steps, problem=exc.message, resources=resources))
            continue
        labels = profile.step_labels
        steps = tuple(StageStep(c.name, labels.get(c.name, c.name), c.argv[0]) for c in built)
        stages.append(Stage(level, steps, tuple(left_out), resources=resources))
    return stages


def _resources(profile: FileProfile, level: Level) -> tuple[str, ...]:
    """The profile's least needs against the configured requests; a shortfall is said."""
    need = profile.spec.level(level).resources
    sched = profile.config.scheduler
    calibration = level is Level.CALIBRATION
    given = {
        "memory": sched.calibration_memory if calibration else sched.memory,
        "walltime": sched.calibration_walltime if calibration else sched.walltime,
    }
    out = []
    for key, parse in (("memory", memory_mb), ("walltime", walltime_seconds)):
        wanted = getattr(need, key)
        if wanted is None or level in (Level.RUN, Level.CLOSING):  # the closer's jobs: its own requests
            continue
        short = parse(given[key]) < parse(wanted)
        out.append(f"{key} >= {wanted} (configured {given[key]}{', TOO LOW' if short else ''})")
    return tuple(out)


def run_problems(
    profile: Profile, layout: NightLayout, plan: Plan, runs: frozenset[int] | None = None
) -> dict[int, str]:
    """Per data run, why its subruns or its closing could not be built (e.g. no pointing for its models).

    Each data run's first subrun and its run-wise steps are built as the job side and the closer
    will build them; a run's problem is said once, before anything is submitted.
    """
    problems: dict[int, str] = {}
    for seq in plan.data:
        if runs is not None and seq.run not in runs:
            continue
        parent = plan.by_seq(seq.parent) if seq.parent is not None else None
        products = None
        if parent is not None and parent.drs4_run is not None:
            products = profile.calibration_products(layout, parent.drs4_run, parent.run)
        try:
            profile.subrun_steps(SubrunContext(layout, seq.run, 0, 1, products))
            profile.merge_steps(layout, seq.run, range(seq.subruns), products)
        except OsaError as exc:
            problems[seq.run] = exc.message
    return problems


def orphan_runs(layout: NightLayout, plan: Plan, runs: frozenset[int] | None = None) -> list[int]:
    """Data runs with no calibration sequence while no calibration file is configured either."""
    if layout.config.pipeline.calibration.external:
        return []
    return [s.run for s in plan.data if s.parent is None and (runs is None or s.run in runs)]


def unbuildable_runs(
    profile: Profile, layout: NightLayout, plan: Plan, runs: frozenset[int] | None = None
) -> dict[int, str]:
    """Every data run (of ``runs``) that a submission would refuse, with why: the autopilot leaves
    those out and submits the others, where a person's ``submit`` refuses the whole night."""
    out = {
        run: f"run {run:05d} has no calibration sequence; name existing calibration files in "
        "[pipeline.calibration] to process it"
        for run in orphan_runs(layout, plan, runs)
    }
    for run, problem in run_problems(profile, layout, plan, runs).items():
        out.setdefault(run, problem)
    return out


def check_plan(profile: Profile, layout: NightLayout, plan: Plan, runs: frozenset[int] | None = None) -> None:
    """Refuse a submission with a run that cannot be built: every such run said, nothing submitted.

    Data runs without a calibration sequence need the configured calibration files.
    A run without pointing, or outside the model tree, would otherwise be an array of subruns that
    all fail at DL1->DL2 (or a closing that cannot merge it); the whole night waits for the fix
    (catalogue, config) rather than being submitted in part and resubmitted by hand. ``runs``: a
    submission of only those runs (the autopilot's, as their raw files complete) is judged on them.
    """
    orphans = orphan_runs(layout, plan, runs)
    if orphans:
        raise PlanError(
            "data runs without a calibration sequence: "
            + ", ".join(f"{r:05d}" for r in orphans)
            + "; name existing calibration files in [pipeline.calibration] to process them. "
            + " ".join(plan.problems),
            path=layout.night_summary,
        )
    problems = run_problems(profile, layout, plan, runs)
    if problems:
        raise PlanError(
            f"{len(problems)} run(s) cannot be processed as configured; nothing was submitted: "
            + "; ".join(problems.values()),
            path=layout.night_summary,
        )
