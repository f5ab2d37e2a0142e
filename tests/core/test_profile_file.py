"""Profile files are checked when read: every mistake is one line naming the file, the line and the step.

Each case edits the shipped ``cfg/profiles/lstchain.toml`` the way a site would get it wrong and
reads it back with the real reader; the CLI cases run ``osa-core`` as a process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from osa_core.model.errors import ConfigError
from osa_core.pipeline.factory import shipped_profile
from osa_core.pipeline.spec import Level
from osa_core.pipeline.specfile import read_profile

SEED = Path(__file__).resolve().parents[2] / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"
LSTCHAIN = shipped_profile("lstchain").read_text()
SIMULATE = shipped_profile("simulate").read_text()

R0_TO_DL1 = '''name = "r0_to_dl1"'''
DATACHECK_STEP = """[[subrun.steps]]
name = "dl1_datacheck"
label = "Datacheck"
executable = "lstchain_check_dl1"
# --omit-pdf: the PDF is made run-wise at closing (datacheck_run), as lstosa does.
argv = ["--input-file", "{dl1}", "--output-dir", "{datacheck_dir}", "--muons-dir", "{muons_dir}",
        "--omit-pdf", "--batch"]
inputs = ["{dl1}"]
outputs = ["{datacheck}"]
"""


def edited(tmp_path: Path, old: str, new: str, text: str = LSTCHAIN) -> Path:
    assert old in text, f"the shipped file changed: {old!r} is gone"
    path = tmp_path / "lstchain.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        read_profile(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}:")
    return text


def test_the_shipped_profiles_read_with_their_levels() -> None:
    lst = read_profile(shipped_profile("lstchain"))
    assert lst.step_names(Level.CALIBRATION) == ("drs4_baseline", "time_calibration", "charge_calibration")
    subrun = ("gain_selection", "r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2")
    assert lst.step_names(Level.SUBRUN) == subrun
    run = (
        *("merge_dl1", "catb_calibration", "find_tailcuts", "dl1ab", "merge_dl2", "dl1ab_to_dl2"),
        *("merge_muons", "datacheck_run"),
    )
    assert lst.step_names(Level.RUN) == run
    assert lst.step_names(Level.CLOSING) == ("longterm_check", "cherenkov_transparency")
    stages = ("gain_selection", "dl1ab", "catb_calibration", "longterm_check", "cherenkov_transparency")
    assert lst.stages == dict.fromkeys(stages, True)
    assert lst.level(Level.NIGHT).prepare == "lstchain_setup_files"
    sim = read_profile(shipped_profile("simulate"))
    assert sim.simulation and not lst.simulation
    assert sim.step_names(Level.CALIBRATION) == ("drs4_baseline", "charge_calibration", "time_calibration")


def test_shipped_profiles_are_the_cfg_files() -> None:
    cfg = Path(__file__).resolve().parents[2] / "cfg" / "profiles"
    for name in ("lstchain", "simulate"):
        assert shipped_profile(name).read_bytes() == (cfg / f"{name}.toml").read_bytes()


def test_unknown_placeholder_names_step_and_line(tmp_path: Path) -> None:
    path = edited(tmp_path, '"--output-dir", "{dl1_dir}"', '"--output-dir", "{dl1_directory}"')
    text = error(path)
    assert text.startswith(f"{path}:{line_of(path, R0_TO_DL1)}: step 'r0_to_dl1': unknown placeholder")
    assert "{dl1_directory}" in text


def test_placeholder_of_another_level(tmp_path: Path) -> None:
    path = edited(tmp_path, '"--output", "{drs4}", "--overwrite"', '"--output", "{dl1}", "--overwrite"')
    text = error(path)
    assert "step 'drs4_baseline'" in text and "{dl1} at the calibration level" in text


def test_unknown_key_in_a_step(tmp_path: Path) -> None:
    path = edited(tmp_path, 'label = "R0→DL1"\n', 'label = "R0→DL1"\nretries = 3\n')
    text = error(path)
    assert text.startswith(f"{path}:{line_of(path, 'retries = 3')}: step 'r0_to_dl1': unknown key 'retries'")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = edited(tmp_path, "simulation = false\n", "simulation = false\nprofile_version = 2\n")
    assert "unknown key 'profile_version'" in error(path)


def test_a_step_before_the_step_that_makes_its_input(tmp_path: Path) -> None:
    text = LSTCHAIN.replace(DATACHECK_STEP, "")
    text = text.replace(
        '[[subrun.steps]]\nname = "r0_to_dl1"', DATACHECK_STEP + '\n[[subrun.steps]]\nname = "r0_to_dl1"'
    )
    path = tmp_path / "lstchain.toml"
    path.write_text(text)
    message = error(path)
    line = line_of(path, 'name = "dl1_datacheck"')
    assert f":{line}: step 'dl1_datacheck' reads what step 'r0_to_dl1'" in message
    assert "put 'r0_to_dl1' first" in message


def test_a_cycle_between_steps(tmp_path: Path) -> None:
    extra = """
[[subrun.steps]]
name = "ping"
executable = "ping"
argv = ["{dl2_dir}/a.h5", "{dl2_dir}/b.h5"]
inputs = ["{dl2_dir}/a.h5"]
outputs = ["{dl2_dir}/b.h5"]

[[subrun.steps]]
name = "pong"
executable = "pong"
inputs = ["{dl2_dir}/b.h5"]
outputs = ["{dl2_dir}/a.h5"]
"""
    path = edited(tmp_path, "# --- per run, at closing", extra + "\n# --- per run, at closing")
    message = error(path)
    assert "steps ping -> pong -> ping form a cycle" in message
    line = line_of(path, 'name = "ping"')
    assert f":{line}:" in message


def test_a_file_in_the_argv_that_is_not_an_input(tmp_path: Path) -> None:
    path = edited(tmp_path, 'inputs = ["{drs4_raw}"]\n', "inputs = []\n")
    message = error(path)
    assert (
        "step 'drs4_baseline': its argv names {drs4_raw} but neither its inputs nor its outputs do" in message
    )


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('settings = "lstchain"', 'settings = "lstchain2"', "settings: unknown hook 'lstchain2'"),
        ('prepare = "lstchain_setup_files"', 'prepare = "setup"', "night.prepare: unknown hook 'setup'"),
        (
            'when = "models"\nexecutable = "lstchain_dl1_to_dl2"',
            'when = "modelz"\nexecutable = "lstchain_dl1_to_dl2"',
            "step 'dl1_to_dl2': condition on unknown placeholder {modelz}",
        ),
        (
            'resources = { memory = "2G" }',
            'resources = { memory = "lots" }',
            "subrun.resources.memory: not a SLURM memory",
        ),
        (
            'executable = "lstchain_data_r0_to_dl1"\n',
            "",
            "step 'r0_to_dl1'.executable: expected a non-empty string",
        ),
        (
            'inputs = ["{subrun_dl1}"]',
            'inputs = ["{subrun_dl1}"]\nnote = "{subrun_dl1}"',
            "is a list of files",
        ),
        (
            'run_summary = "{run_summary_dir}/RunSummary_{night}.ecsv"',
            'run_summary = "{r0_muons}"\nr0 = "{run_summary}"',
            "unknown placeholder",
        ),
        ('name = "merge_muons"', 'name = "merge_dl1"', "step 'merge_dl1': defined twice"),
        ("format = 1", "format = 2", "format: expected 1"),
        (
            '"/configuration/instrument/telescope/camera/readout_0"]\ninputs = ["{subrun_dl1}"]',
            '"/configuration/instrument/telescope/camera/readout_0}"]\ninputs = ["{subrun_dl1}"]',
            "a brace",
        ),
        ("[night]\n", '[night]\nsteps = [{ name = "x", executable = "y" }]\n', "night-level steps"),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in error(edited(tmp_path, old, new))


def test_derived_placeholders_in_a_cycle(tmp_path: Path) -> None:
    path = edited(
        tmp_path, 'r0_muons = "{dl1_dir}/{muons.name}"', 'r0_muons = "{dl1_dir}/{rd}"\nrd = "{r0_muons}"'
    )
    assert "refer to each other in a cycle" in error(path)


def test_bad_toml_names_its_line(tmp_path: Path) -> None:
    path = edited(tmp_path, 'label = "Muons"', 'label = "Muons')
    line = line_of(path, 'label = "Muons')
    assert f":{line}: not valid TOML" in error(path)


def plan_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(tmp_path / "osa.toml"), "plan", str(SEED), *args],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip


def test_a_site_profile_beside_the_config_is_run_and_checked(tmp_path: Path) -> None:
    (tmp_path / "osa.toml").write_text('[pipeline]\nprofile = "lstchain"\n')
    (tmp_path / "profiles").mkdir()
    site = tmp_path / "profiles" / "lstchain.toml"
    site.write_text(LSTCHAIN.replace('"{dl1_dir}", "--pedestal-file"', '"{dl1_dri}", "--pedestal-file"'))
    result = plan_cli(tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"osa-core: {site}:{line_of(site, R0_TO_DL1)}: step 'r0_to_dl1': "
        "unknown placeholder {dl1_dri} at the subrun level (in '{dl1_dri}')"
    ]
    site.write_text(LSTCHAIN.replace('label = "Muons"', 'label = "Muon rings"'))
    result = plan_cli(tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["profile"] == {"name": "lstchain", "file": str(site)}
    subrun = next(s for s in out["stages"] if s["level"] == "subrun")
    assert "Muon rings" in [s["label"] for s in subrun["steps"]]
