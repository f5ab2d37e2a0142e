"""The closing's night-wise job on the local backend: the profile's ``[closing]`` steps run as one
job once every run is merged, before subrun files are cleaned, and the night closes after it.

The profile is the simulate one beside the configuration (a site's own file), with one closing
step added: a STAND-IN for lstchain_longterm_dl1_check, written here, that lists the run-wise
datacheck files it finds and the subrun muon tables still there, at the layout's long-term path.
The real long-term check and transparency run on the real LST-1 file through SLURM in
tests/lstchain/test_lstchain_night.py; this test is about the closer's orchestration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.nights import Night, make_night

from osa_core.jobs.history import read_records
from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.pipeline.factory import shipped_profile
from osa_core.scheduler.factory import make_scheduler

RUNS = [1874, 1875, 1876, 1877, 1878, 1879, 1880, 1881]
CLOSING = 12
KILLED = -signal.SIGKILL

STANDIN = '''\
"""STAND-IN long-term check: lists what it was given to read (no lstchain here)."""
import argparse, json, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("--input-dir", type=pathlib.Path)
p.add_argument("--muons-dir", type=pathlib.Path)
p.add_argument("--output-file", type=pathlib.Path)
p.add_argument("--runs")
a = p.parse_args()
found = sorted(f.name for f in a.input_dir.glob("datacheck_dl1_LST-1.Run?????.h5"))
muons = sorted(f.name for f in a.muons_dir.glob("muons_LST-1.Run?????.????.fits"))
out = {"runs": a.runs, "datacheck": found, "subrun_muons": len(muons), "job": os.environ.get("SLURM_JOB_ID")}
a.output_file.write_text(json.dumps(out))
'''
CLOSING_STEP = """
[[closing.steps]]
name = "longterm_check"
label = "Long-term check"
executable = "{python}"
argv = ["%s", "--input-dir", "{final_datacheck_dir}", "--muons-dir", "{muons_dir}",
        "--output-file", "{longterm_file}", "--runs", "{runs}"]
inputs = ["{final_datacheck_dir}"]
outputs = ["{longterm_file}"]
"""


@pytest.fixture
def night(tmp_path: Path) -> Iterator[Night]:
    made = make_night(tmp_path / "night", "local", {"close": {"keep_subrun_files": False}})
    standin = tmp_path / "standin_longterm.py"
    standin.write_text(STANDIN)
    (made.root / "profiles").mkdir()
    text = shipped_profile("simulate").read_text() + CLOSING_STEP % standin
    (made.root / "profiles" / "simulate.toml").write_text(text)
    yield made
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(made.root / "state" / "local-scheduler", kill_tasks=True)


def test_the_night_wise_job_runs_after_the_merges_and_before_the_cleaning(night: Night) -> None:
    night.cli("submit")
    night.wait_finished()
    preview = night.cli("close", "--dry-run").stdout
    assert "then one night-wise job: longterm_check" in preview, preview
    said = []
    deadline = time.monotonic() + 180
    while True:
        result = night.cli("close", check=False)
        said.append(result.stdout)
        if result.returncode != CLOSING:
            break
        assert time.monotonic() < deadline, result.stdout
        time.sleep(0.5)
    assert result.returncode == 0, result.stdout + result.stderr
    assert any("night-wise checks: running (job " in text for text in said), said

    layout = NightLayout(load_config(night.config), dt.date.fromisoformat(night.date))
    written = json.loads(layout.longterm_file.read_text())
    # After the moves: every run's run-wise datacheck in its final place; before the cleaning:
    # the subrun muon tables (keep_subrun_files = false removes them afterwards) still there.
    assert written["runs"] == ",".join(map(str, RUNS))
    assert written["datacheck"] == [f"datacheck_dl1_LST-1.Run{r:05d}.h5" for r in RUNS]
    assert written["subrun_muons"] == 3 * len(RUNS)
    assert not list(layout.muons_dir.glob("muons_*.fits"))

    flag = json.loads(layout.closed_flag.read_text())
    assert flag["night_checks"] == f"night-wise checks: done (job {written['job']})"
    records, _ = read_records(layout.closing_checks_history)
    ends = [r for r in records if r.event == "end"]
    assert [(r.step, r.exit_code, r.job_id) for r in ends] == [("longterm_check", 0, written["job"])]
    # a closed night submits nothing more
    again = night.cli("close", check=False)
    assert again.returncode == 0 and "closed" in again.stdout


def test_a_closer_killed_after_submitting_the_job_finds_it_again(night: Night) -> None:
    """A real SIGKILL between sbatch's answer and the ledger: the next round adopts that job."""
    night.cli("submit")
    night.wait_finished()
    deadline = time.monotonic() + 180
    while True:
        killed = night.cli("close", check=False, env={"OSA_FAULT_KILL_AT": "night-checks-submitted:1"})
        if killed.returncode == KILLED:
            break
        assert killed.returncode == CLOSING, killed.stdout + killed.stderr
        assert time.monotonic() < deadline
        time.sleep(0.5)
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    while True:
        result = night.cli("close", check=False)
        if result.returncode != CLOSING:
            break
        assert time.monotonic() < deadline, result.stdout
        time.sleep(0.5)
    assert result.returncode == 0, result.stdout + result.stderr

    config = load_config(night.config)
    layout = NightLayout(config, dt.date.fromisoformat(night.date))
    infos = asyncio.run(make_scheduler(config).query([layout.closing_checks_job_name], started))
    jobs = {i.job_id for i in infos}
    assert len(jobs) == 1, jobs  # adopted, never submitted twice
    flag = json.loads(layout.closed_flag.read_text())
    assert flag["night_checks"] == f"night-wise checks: done (job {jobs.pop()})"
