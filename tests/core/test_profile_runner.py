"""What the runner takes from a profile file's steps: PATH entries, rerun skipping, real simulated steps."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

from osa_core.jobs.history import read_records
from osa_core.jobs.runner import CANNOT_START, TaskIdentity, run_steps
from osa_core.model.config import config_from_dict
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import StepCommand, SubrunContext
from osa_core.pipeline.factory import get_profile

WHO = TaskIdentity(attempt=1, job_id="1", array_index=0, host="here")


def tool(directory: Path, name: str) -> Path:
    """An executable found only through PATH, that leaves a file saying it ran."""
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(f"#!{sys.executable}\nimport pathlib, sys\npathlib.Path(sys.argv[1]).write_text('ran')\n")
    path.chmod(0o755)
    return path


def test_a_steps_path_entries_find_its_executable(tmp_path: Path) -> None:
    tool(tmp_path / "bin", "osa_test_tool")
    out = tmp_path / "out.txt"
    step = StepCommand(name="t", argv=("osa_test_tool", str(out)), outputs=(out,))
    assert run_steps([step], tmp_path / "a.history", WHO) == CANNOT_START
    found = StepCommand(name="t", argv=step.argv, outputs=(out,), path_prepend=(str(tmp_path / "bin"),))
    assert run_steps([found], tmp_path / "b.history", WHO) == 0
    assert out.read_text() == "ran"


def test_a_step_that_may_not_be_skipped_runs_again(tmp_path: Path) -> None:
    marker = tmp_path / "count"
    argv = (sys.executable, "-c", f"open({str(marker)!r}, 'a').write('x')")
    history = tmp_path / "h.history"
    always = StepCommand(name="always", argv=argv, skip_when_done=False)
    once = StepCommand(name="once", argv=argv)
    for _ in range(2):
        assert run_steps([always, once], history, WHO) == 0
    assert marker.read_text() == "xxx"
    records, _ = read_records(history)
    assert [(r.event, r.step) for r in records][-3:] == [
        ("start", "always"),
        ("end", "always"),
        ("skip", "once"),
    ]


def test_simulate_profile_steps_run_for_real(tmp_path: Path) -> None:
    """The simulate file's steps, built and run by the job-side runner: placeholders appear whole."""
    config = config_from_dict(
        {"pipeline": {"simulate": {"default_seconds": 0}}, "paths": {"analysis": "a", "raw": "r"}},
        base=tmp_path,
    )
    layout = NightLayout(config, dt.date(2020, 1, 27))
    layout.make_dirs()
    steps = get_profile(config).subrun_steps(SubrunContext(layout, 1874, 3, 1, None))
    env_path = os.environ.get("PATH", "")
    assert all(s.path_prepend == (str(Path(sys.executable).parent),) for s in steps)
    assert run_steps(steps, layout.history(1874, 3), WHO) == 0
    assert os.environ.get("PATH", "") == env_path
    for path in (layout.dl1(1874, 3), layout.datacheck(1874, 3), layout.muons(1874, 3), layout.dl2(1874, 3)):
        product = json.loads(path.read_text())
        assert product["simulated"] and (product["run"], product["subrun"]) == (1874, 3)
