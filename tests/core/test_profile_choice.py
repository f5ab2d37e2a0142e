"""Which profile file a configuration names, where the run catalogue is, and a submission refused
for runs whose models cannot be chosen (real files, the real CLI, the local backend's ledger)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_profile_rfmodels import CATALOGUE, SEED, TREE

from osa_core.model.config import load_config
from osa_core.model.config_schema import PipelineConfig
from osa_core.model.errors import PlanError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.factory import get_profile, is_simulation, shipped_profile
from osa_core.pipeline.stages import check_plan
from osa_core.plan.planner import plan_file


def osa(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(config), *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


def test_an_unknown_profile_names_the_key_the_line_and_what_exists(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "mysite.toml").write_text("# a site's chain\n")
    config = tmp_path / "osa.toml"
    config.write_text('[night]\nprod_id = "v1"\n[pipeline]\nprofile = "lstchian"\n')
    result = osa(tmp_path, config, "plan", str(SEED))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"osa-core: {config}:4: pipeline.profile: no profile 'lstchian'"), line
    assert "profiles that exist: lstchain, mysite, simulate" in line


def test_a_sites_own_profile_runs_from_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    own = tmp_path / "profiles" / "lst1_site.toml"
    text = shipped_profile("simulate").read_text()
    own.write_text(text.replace('name = "simulate"', 'name = "lst1_site"', 1))
    config = tmp_path / "osa.toml"
    config.write_text('[pipeline]\nprofile = "lst1_site"\n')
    result = osa(tmp_path, config, "plan", str(SEED), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["profile"] == {"name": "lst1_site", "file": str(own)}
    # the closer merges a simulation's placeholders by itself, whatever the file is named
    assert is_simulation(load_config(config))
    assert not is_simulation(load_config(config).replace(pipeline=PipelineConfig(profile="lstchain")))


def model_night(tmp_path: Path, catalog_dir: str | None) -> Path:
    """A model tree, the seed night and a catalogue in ``catalog/`` (not beside the RunSummary)."""
    for name in TREE:
        (tmp_path / "models" / name).mkdir(parents=True)
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "RunCatalog_20200127.ecsv").write_text(CATALOGUE)
    raw = tmp_path / "raw" / "20200127"
    raw.mkdir(parents=True)
    shutil.copy(SEED, raw / SEED.name)
    calib = tmp_path / "calib"
    calib.mkdir()
    for name in ("drs4.h5", "charge.h5"):
        (calib / name).write_text("x")
    config = tmp_path / "osa.toml"
    lines = [
        '[paths]\nraw = "raw"\nanalysis = "analysis"\nfinal = "final"\nlogs = "logs"\nstate = "state"',
        'night_summary = "raw/{night}/NightSummary_{night}.txt"',
        '[pipeline]\nprofile = "lstchain"',
        '[pipeline.lstchain]\nmodels = "models"',
    ]
    if catalog_dir is not None:
        lines.append(f'run_catalog_dir = "{catalog_dir}"')
    config.write_text("\n".join(lines) + "\n")
    return config


def test_run_catalog_dir_is_where_the_pointing_is_read(tmp_path: Path) -> None:
    out = json.loads(osa(tmp_path, model_night(tmp_path, "catalog"), "plan", str(SEED), "--json").stdout)
    runs = sorted(int(p.split(":")[0].removeprefix("run ")) for p in out["run_problems"])
    assert runs == [1875, 1877, 1878, 1879, 1880, 1881]  # 1874 and 1876 are in the catalogue


def test_without_a_catalogue_key_plan_says_which_keys_to_set(tmp_path: Path) -> None:
    out = json.loads(osa(tmp_path, model_night(tmp_path, None), "plan", str(SEED), "--json").stdout)
    assert len(out["run_problems"]) == 8
    assert "set pipeline.lstchain.run_catalog_dir" in out["run_problems"][0]


def test_submit_refuses_runs_whose_models_cannot_be_chosen_and_submits_nothing(tmp_path: Path) -> None:
    config = model_night(tmp_path, "catalog")
    result = osa(tmp_path, config, "submit", "--date", "2020-01-27")
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "6 run(s) cannot be processed as configured; nothing was submitted" in line
    assert "run 1875: no pointing declination is known" in line
    assert "run 1877: no pointing declination is known" in line
    # Nothing reached the scheduler: no job script was written, and status has no job to show.
    assert not list(tmp_path.glob("analysis/**/*.sh"))
    status = osa(tmp_path, config, "status", "--date", "2020-01-27", "--json")
    assert '"job_id": "' not in status.stdout, status.stdout


def test_a_submission_of_some_runs_is_judged_on_them(tmp_path: Path) -> None:
    """The autopilot submits runs as their raw files complete: a later run's missing pointing
    does not hold back one whose models can be chosen."""
    config = load_config(model_night(tmp_path, "catalog"))
    layout = NightLayout(config, dt.date(2020, 1, 27))
    plan = plan_file(SEED)
    profile = get_profile(config)
    check_plan(profile, layout, plan, frozenset({1874, 1876}))
    with pytest.raises(PlanError, match=r"1 run\(s\) cannot be processed.*run 1875: no pointing"):
        check_plan(profile, layout, plan, frozenset({1874, 1875}))
