"""Job scripts: pure rendering of one batch script per sequence.

The ``#SBATCH`` lines document the job and let an operator resubmit it by hand; the engine also
passes the same options on sbatch's command line (which override them) so a resubmission can
raise memory or wall time. Values reach the script only as quoted words, never as shell code.
"""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from collections.abc import Sequence as Seq

from osa_core.model.arrays import index_spec
from osa_core.model.config import Config
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence


def runner_command(config: Config) -> list[str]:
    """How a job calls back into osa-core: the configured command, or this very interpreter."""
    if config.pipeline.runner:
        return shlex.split(config.pipeline.runner)
    return [sys.executable, "-m", "osa_core"]


def directive(option: str) -> str:
    """One ``#SBATCH`` line as sbatch 22.05 reads it.

    sbatch splits directive lines at whitespace outside double quotes, ends them at an unquoted
    ``#`` and drops backslashes unless escaped; inside double quotes ``\\"`` and ``\\\\`` are
    escapes. A line break would end the comment and hand the rest to bash: such an option is not
    written at all (the engine passes every option on sbatch's command line anyway).
    """
    if any(c in option for c in "\n\r\0"):
        return "# an option holding a line break is given on sbatch's command line only"
    key, sep, value = option.partition("=")
    if sep and any(c.isspace() or c in '#"\\' for c in value):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'#SBATCH {key}="{escaped}"'
    return f"#SBATCH {option}"


def sbatch_lines(
    config: Config, layout: NightLayout, sequence: Sequence, indices: Seq[int] | None
) -> list[str]:
    sched = config.scheduler
    array = not sequence.is_calibration
    lines = [
        f"--job-name={layout.job_name(sequence.run)}",
        f"--comment=osa night {layout.night} seq {sequence.seq} prod {config.night.prod_id}",
        f"--chdir={layout.analysis_dir}",
        f"--output={layout.task_stdout_pattern(sequence.run, array)}",
        f"--error={layout.task_stderr_pattern(sequence.run, array)}",
        f"--mem={sched.calibration_memory if sequence.is_calibration else sched.memory}",
        f"--time={sched.calibration_walltime if sequence.is_calibration else sched.walltime}",
    ]
    if sched.partition:
        lines.append(f"--partition={sched.partition}")
    if sched.account:
        lines.append(f"--account={sched.account}")
    if array:
        lines.append(f"--array={index_spec(indices or range(sequence.subruns), sched.array_throttle)}")
    lines.extend(sched.extra_sbatch_args)
    return lines


def render_script(
    config: Config,
    layout: NightLayout,
    sequence: Sequence,
    parent: Sequence | None,
    *,
    now: dt.datetime | None = None,
) -> str:
    """The batch script of a sequence. Arguments after the script name reach the runner."""
    if config.source is None:
        raise ValueError("job scripts need a configuration file the job can read")
    base = [*runner_command(config), "--config", str(config.source)]
    night = ["--date", layout.date.isoformat()]
    if sequence.is_calibration:
        body = [
            *base,
            "run-calibration",
            *night,
            "--seq",
            str(sequence.seq),
            "--drs4-run",
            str(sequence.drs4_run),
            "--pedcal-run",
            str(sequence.run),
        ]
        task = ""
    else:
        body = [*base, "run-subrun", *night, "--seq", str(sequence.seq), "--run", str(sequence.run)]
        if parent is not None:
            body += ["--drs4-run", str(parent.drs4_run), "--pedcal-run", str(parent.run)]
        body += ["--subrun"]
        task = ' "${SLURM_ARRAY_TASK_ID}"'
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    header = [
        "#!/bin/bash",
        *(directive(line) for line in sbatch_lines(config, layout, sequence, None)),
        "",
        f"# {sequence.type.value} sequence {sequence.seq}, run {sequence.run:05d}, night {layout.night}",
        f"# written by osa-core at {stamp}; extra arguments (e.g. --attempt-map) pass through",
        "set -u",
        "",
    ]
    return "\n".join(header) + "exec " + " ".join(shlex.quote(word) for word in body) + task + ' "$@"\n'


def render_merge_script(
    config: Config,
    layout: NightLayout,
    run: int,
    subruns: int,
    calibration: tuple[int, int] | None = None,
    *,
    now: dt.datetime | None = None,
) -> str:
    """The batch script of one run's merge job (the closer submits it; ``osa-core run-merge`` runs).

    ``calibration``: the (DRS4, pedcal) runs of the run's calibration sequence, whose products
    its run-wise steps may read (the Cat-B calibration reads the Cat-A one)."""
    if config.source is None:
        raise ValueError("merge jobs need a configuration file the job can read")
    argv = [*runner_command(config), "--config", str(config.source), "run-merge"]
    argv += ["--date", layout.date.isoformat(), "--run", str(run), "--subruns", str(subruns)]
    if calibration is not None:
        argv += ["--drs4-run", str(calibration[0]), "--pedcal-run", str(calibration[1])]
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    return "\n".join(
        [
            "#!/bin/bash",
            directive(f"--job-name={layout.merge_job_name(run)}"),
            directive(f"--chdir={layout.analysis_dir}"),
            f"# merge of run {run:05d} ({subruns} subruns), night {layout.night}",
            f"# written by osa-core at {stamp}",
            "set -u",
            "exec " + " ".join(shlex.quote(word) for word in argv) + ' "$@"',
            "",
        ]
    )
