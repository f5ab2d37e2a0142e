"""The Cat-B calibration stage: built per run at closing from the run's own Cat-A calibration, and
read by the DL1ab re-cleaning; off, or without DL1ab, it leaves no trace in DL1ab's argv."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest

from osa_core.model.config import config_from_dict
from osa_core.model.errors import ConfigError
from osa_core.model.layout import NightLayout
from osa_core.pipeline.base import StepCommand
from osa_core.pipeline.factory import get_profile

NIGHT = dt.date(2020, 1, 27)


def run_steps(tmp_path: Path, calibration: dict[str, Any] | None, **stages: bool) -> dict[str, StepCommand]:
    pipeline: dict[str, Any] = {"profile": "lstchain", "lstchain": {"run_summary_dir": "rs"}}
    if calibration is not None:
        pipeline["calibration"] = calibration
    if stages:
        pipeline["stages"] = stages
    config = config_from_dict({"pipeline": pipeline}, base=tmp_path)
    profile = get_profile(msgspec.structs.replace(config, source=tmp_path / "osa.toml"))
    layout = NightLayout(config, NIGHT)
    products = profile.calibration_products(layout, 1872, 1873) if calibration is None else None
    return {s.name: s for s in profile.merge_steps(layout, 1874, range(3), products)}


def test_catb_reads_the_runs_interleaved_events_and_its_cat_a_calibration(tmp_path: Path) -> None:
    steps = run_steps(tmp_path, None)
    layout = NightLayout(config_from_dict({}, base=tmp_path), NIGHT)
    catb = steps["catb_calibration"]
    assert catb.argv[0] == "lstchain_create_cat_B_calibration_file"
    cat_a = get_profile(config_from_dict({}, base=tmp_path)).calibration_products(layout, 1872, 1873).charge
    assert f"--cat_A_calibration_file={cat_a}" in catb.argv  # the calibration sequence's charge file
    assert "--input_file_pattern=interleaved_LST-1.Run01874.*.h5" in catb.argv
    interleaved = [p for p in catb.inputs if p.name.startswith("interleaved_")]
    assert [p.name for p in interleaved] == [f"interleaved_LST-1.Run01874.{s:04d}.h5" for s in range(3)]
    (out,) = catb.outputs
    assert out.name == "cat_B_calibration_filters_52.Run01874.h5"
    dl1ab = steps["dl1ab"]
    flag = dl1ab.argv.index("--catB-calibration-file")
    assert dl1ab.argv[flag + 1] == str(out) and out in dl1ab.inputs
    order = list(steps)
    assert order.index("merge_dl1") < order.index("catb_calibration") < order.index("dl1ab")


def test_an_external_cat_a_file_is_used_when_the_run_has_no_calibration_sequence(tmp_path: Path) -> None:
    steps = run_steps(tmp_path, {"drs4": "drs4.h5", "charge": "catA.h5"})
    assert f"--cat_A_calibration_file={tmp_path / 'catA.h5'}" in steps["catb_calibration"].argv


def test_without_any_cat_a_calibration_the_run_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"run 1874: the Cat-B calibration needs the run's Cat-A"):
        run_steps(tmp_path, {})


@pytest.mark.parametrize("off", ["catb_calibration", "dl1ab"])
def test_off_or_without_dl1ab_no_catb_step_and_no_dl1ab_flag(tmp_path: Path, off: str) -> None:
    steps = run_steps(tmp_path, None, **{off: False})
    assert "catb_calibration" not in steps
    if off == "catb_calibration":
        assert "--catB-calibration-file" not in steps["dl1ab"].argv
    else:
        assert "dl1ab" not in steps
