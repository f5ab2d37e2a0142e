"""``osa-core plan`` shows the stages a night will run, by level, from the profile file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SEED = Path(__file__).resolve().parents[2] / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"


def plan(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "osa.toml").write_text(config)
    return subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(tmp_path / "osa.toml"), "plan", str(SEED), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )


def stages(tmp_path: Path, config: str) -> dict[str, Any]:
    result = plan(tmp_path, config, "--json")
    assert result.returncode == 0, result.stderr
    return {s["level"]: s for s in json.loads(result.stdout)["stages"]}


def names(stage: dict[str, Any]) -> list[str]:
    return [s["name"] for s in stage["steps"]]


def test_lstchain_night_stages_follow_the_configuration(tmp_path: Path) -> None:
    by_level = stages(
        tmp_path,
        '[pipeline]\nprofile = "lstchain"\n[pipeline.lstchain]\nrun_summary_dir = "rs"\n'
        '[pipeline.calibration]\ndrs4 = "drs4.h5"\n',
    )
    assert list(by_level) == ["night", "calibration", "subrun", "run", "closing"]
    assert names(by_level["night"]) == ["prepare"]
    assert names(by_level["calibration"]) == ["time_calibration", "charge_calibration"]
    assert by_level["calibration"]["left_out"] == [{"name": "drs4_baseline", "why": "{drs4_external} is set"}]
    assert names(by_level["subrun"]) == ["gain_selection", "r0_to_dl1", "dl1_datacheck", "muon_analysis"]
    assert by_level["subrun"]["left_out"] == [{"name": "dl1_to_dl2", "why": "no {models}"}]
    assert [s["executable"] for s in by_level["subrun"]["steps"]] == [
        "lstchain_r0_to_r0g", "lstchain_data_r0_to_dl1", "lstchain_check_dl1", "mv"
    ]  # fmt: skip
    run = ["merge_dl1", "catb_calibration", "find_tailcuts", "dl1ab", "merge_muons", "datacheck_run"]
    assert names(by_level["run"]) == run
    assert names(by_level["closing"]) == ["longterm_check", "cherenkov_transparency"]
    assert by_level["calibration"]["resources"] == ["memory >= 4G (configured 8G)"]


def test_the_optional_stages_turned_off_in_the_configuration(tmp_path: Path) -> None:
    by_level = stages(
        tmp_path,
        '[pipeline]\nprofile = "lstchain"\nstages = { gain_selection = false, dl1ab = false }\n'
        '[pipeline.lstchain]\nrun_summary_dir = "rs"\n[pipeline.calibration]\ndrs4 = "drs4.h5"\n',
    )
    assert names(by_level["subrun"]) == ["r0_to_dl1", "dl1_datacheck", "muon_analysis"]
    off = {"name": "gain_selection", "why": "stage gain_selection is off"}
    assert off in by_level["subrun"]["left_out"]
    assert names(by_level["run"]) == ["merge_dl1", "merge_muons", "datacheck_run"]
    assert {"name": "dl1ab", "why": "stage dl1ab is off"} in by_level["run"]["left_out"]
    assert names(by_level["closing"]) == ["longterm_check", "cherenkov_transparency"]


def test_an_unknown_stage_in_the_configuration_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "osa.toml"
    config.write_text('[pipeline]\nprofile = "lstchain"\nstages = { dl1b = false }\n')
    result = subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(config), "plan", str(SEED)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    line = result.stderr.strip()
    assert line.startswith(f"osa-core: {config}: pipeline.stages.dl1b: the profile "), line
    stages = "catb_calibration, cherenkov_transparency, dl1ab, gain_selection, longterm_check"
    assert f"has no such stage (its stages: {stages})" in line


def test_a_level_that_cannot_be_built_is_shown_as_a_problem(tmp_path: Path) -> None:
    config = '[pipeline]\nprofile = "lstchain"\n[scheduler]\ncalibration_memory = "2G"\n'
    by_level = stages(tmp_path, config)
    assert "needs a RunSummary: set pipeline.lstchain.run_summary_dir" in by_level["calibration"]["problem"]
    assert by_level["calibration"]["resources"] == ["memory >= 4G (configured 2G, TOO LOW)"]
    text = plan(tmp_path, config)
    assert text.returncode == 0
    assert "Stages: profile lstchain" in text.stdout
    assert "PROBLEM: the time calibration" in text.stdout
    assert "Gain sel (lstchain_r0_to_r0g) → R0→DL1 (lstchain_data_r0_to_dl1) → Datacheck" in text.stdout


def test_simulate_stages_without_a_configuration(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "osa_core", "plan", str(SEED), "--json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["profile"]["name"] == "simulate"
    assert [s["level"] for s in out["stages"]] == ["calibration", "subrun"]
    assert names(out["stages"][1]) == ["r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2"]
