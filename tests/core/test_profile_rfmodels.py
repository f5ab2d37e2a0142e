"""Per-run random-forest models: the declination line of a model tree nearest the run's pointing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from osa_core.model.config import config_from_dict
from osa_core.model.errors import InputError, PlanError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import SubrunContext
from osa_core.pipeline.factory import get_profile
from osa_core.pipeline.rfmodels import (
    DecLine,
    choose_dec_line,
    dec_lines,
    declination_of,
    read_pointing_declinations,
)

SEED = Path(__file__).resolve().parents[2] / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"
# Declination lines of an all-sky model tree (LST-1's are of this kind: hundredths of a degree).
TREE = ("dec_min_413", "dec_931", "dec_1519", "dec_2276", "dec_3476", "dec_4376", "dec_5628")
LINES = tuple(DecLine(declination_of(n) or 0.0, n) for n in TREE)
CATALOGUE = """\
# %ECSV 1.0
# ---
# datatype:
# - {name: run_id, datatype: int32}
# - {name: source_name, datatype: string}
# - {name: source_ra, datatype: float64}
# - {name: source_dec, datatype: float64}
# delimiter: ','
# schema: astropy-2.0
run_id,source_name,source_ra,source_dec
1874,Crab,83.633,22.0
1876,Mrk421,166.11,38.2
1877,nowhere,10.0,nan
"""


def test_directory_names_give_declinations() -> None:
    assert declination_of("dec_2276") == pytest.approx(22.76)
    assert declination_of("dec_min_413") == pytest.approx(-4.13)
    assert declination_of("dec_931") == pytest.approx(9.31)
    for other in ("dec_22", "dec_abc", "dec_min_", "README", "dec_22760", "xdec_2276"):
        assert declination_of(other) is None


def test_a_run_at_22_degrees_uses_the_nearest_line() -> None:
    assert choose_dec_line(1874, 22.0, LINES).name == "dec_2276"
    assert choose_dec_line(1874, 24.0, LINES).name == "dec_2276"
    assert choose_dec_line(1874, -6.0, LINES).name == "dec_min_413"


def test_beyond_the_lines_around_the_latitude_a_line_culminating_nearer_the_zenith_wins() -> None:
    # At 41.0 the nearest line is 43.76 (2.76 away), but it culminates 15.0 deg from the zenith
    # (LST-1 at 28.76 N), farther than the pointing's 12.24 deg: 34.76 (culminating at 6.0) is used.
    assert choose_dec_line(1, 41.0, LINES).name == "dec_3476"
    # At 12.0 the nearest is 9.31 (culminating at 19.45 deg, the pointing at 16.76): 15.19 is used.
    assert choose_dec_line(1, 12.0, LINES).name == "dec_1519"
    # At -2.0 the nearest, -4.13, culminates at 32.89 deg, the pointing at 30.76: 9.31 is used.
    assert choose_dec_line(1, -2.0, LINES).name == "dec_931"
    # With a latitude the lines do not bracket differently, the plain nearest comes back.
    assert choose_dec_line(1, -2.0, LINES, latitude=-4.13).name == "dec_min_413"
    # Between the two lines around the latitude (22.76 and 34.76) the nearest is kept as it is.
    assert choose_dec_line(1, 30.0, LINES).name == "dec_3476"
    assert choose_dec_line(1, 27.0, LINES).name == "dec_2276"
    # Far north the nearest line culminating nearer the zenith: 56.28 (27.5 deg) beats nothing else.
    assert choose_dec_line(1, 58.0, LINES).name == "dec_5628"


def test_a_run_without_pointing_or_outside_the_tree_is_a_plan_problem() -> None:
    with pytest.raises(PlanError, match=r"run 1875: no pointing declination is known"):
        choose_dec_line(1875, None, LINES)
    # The widest gap is 13.44 deg (-4.13 -> 9.31): the tree reaches 6.72 deg beyond its ends.
    with pytest.raises(
        PlanError, match=r"run 1876: pointing declination -11.00 deg is outside the model tree"
    ):
        choose_dec_line(1876, -11.0, LINES)
    assert choose_dec_line(1876, -10.0, LINES).name == "dec_min_413"
    with pytest.raises(PlanError, match="no declination lines"):
        choose_dec_line(1, 20.0, ())


def test_dec_lines_of_a_tree(tmp_path: Path) -> None:
    for name in (*TREE, "dec_bad", "plots"):
        (tmp_path / name).mkdir()
    (tmp_path / "dec_1000").write_text("a file, not a line")
    assert dec_lines(tmp_path) == tuple(sorted(LINES))
    assert dec_lines(tmp_path / "missing") == ()


def test_run_catalogue(tmp_path: Path) -> None:
    path = tmp_path / "RunCatalog_20200127.ecsv"
    path.write_text(CATALOGUE)
    assert read_pointing_declinations(path) == {1874: 22.0, 1876: 38.2}
    path.write_text(CATALOGUE.replace("1876,Mrk421,166.11,38.2", "1876,Mrk421,166.11,north"))
    with pytest.raises(InputError) as info:
        read_pointing_declinations(path)
    assert str(info.value) == f"{path}:12: source_dec: expected degrees, got 'north'"


def model_night(tmp_path: Path, catalogue: bool = True) -> Path:
    tree = tmp_path / "models"
    for name in TREE:
        (tree / name).mkdir(parents=True)
    monitoring = tmp_path / "monitoring"
    (monitoring / "RunSummary").mkdir(parents=True)
    if catalogue:
        (monitoring / "RunCatalog").mkdir()
        (monitoring / "RunCatalog" / "RunCatalog_20200127.ecsv").write_text(CATALOGUE)
    config = tmp_path / "osa.toml"
    config.write_text(
        '[pipeline]\nprofile = "lstchain"\n[pipeline.lstchain]\nmodels = "models"\n'
        'run_summary_dir = "monitoring/RunSummary"\n'
    )
    return config


def test_the_profile_uses_the_runs_declination_line(tmp_path: Path) -> None:
    model_night(tmp_path)
    config = config_from_dict(
        {
            "pipeline": {
                "profile": "lstchain",
                "lstchain": {"models": "models", "run_summary_dir": "monitoring/RunSummary"},
            }
        },
        base=tmp_path,
    )
    layout = NightLayout(config, dt.date(2020, 1, 27))
    profile = get_profile(msgspec.structs.replace(config, source=tmp_path / "osa.toml"))
    products = profile.calibration_products(layout, 1872, 1873)
    steps = {s.name: s for s in profile.subrun_steps(SubrunContext(layout, 1874, 5, 1, products))}
    line = tmp_path / "models" / "dec_2276"
    dl2 = steps["dl1_to_dl2"]
    assert dl2.argv[dl2.argv.index("--path-models") + 1] == str(line)
    assert line / "reg_energy.sav" in dl2.inputs
    merge = {s.name: s for s in profile.merge_steps(layout, 1876, range(3), products)}["merge_dl2"]
    assert merge.argv[merge.argv.index("--path-models") + 1] == str(tmp_path / "models" / "dec_3476")
    with pytest.raises(PlanError, match="run 1875: no pointing declination is known"):
        profile.subrun_steps(SubrunContext(layout, 1875, 0, 1, products))


def plan_json(tmp_path: Path, config: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(config), "plan", str(SEED), "--json"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_plan_lists_the_runs_whose_models_cannot_be_chosen(tmp_path: Path) -> None:
    out = plan_json(tmp_path, model_night(tmp_path))
    problems = out["run_problems"]
    assert isinstance(problems, list)
    # 1874 (22.0) and 1876 (38.2) are in the catalogue; 1877 has NaN; the others are missing.
    runs = sorted(int(p.split(":")[0].removeprefix("run ")) for p in problems)
    assert runs == [1875, 1877, 1878, 1879, 1880, 1881]
    assert all("no pointing declination is known" in p for p in problems)


def test_plan_says_when_the_run_catalogue_is_missing(tmp_path: Path) -> None:
    out = plan_json(tmp_path, model_night(tmp_path, catalogue=False))
    problems = out["run_problems"]
    assert isinstance(problems, list) and len(problems) == 8
    assert "RunCatalog_20200127.ecsv, which does not exist" in problems[0]
