"""The source each run observed, from the night's run catalogue: in ``status`` (table and JSON) and
on the night page (real config and night files, the real CLI, the engine's own snapshot)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

from test_profile_rfmodels import CATALOGUE, SEED

from osa_core.engine import Engine
from osa_core.model.config import load_config
from osa_core.publish.nightpage import render_page

DATE = "2020-01-27"


def night(tmp_path: Path, *, catalogue: str | None = CATALOGUE) -> Path:
    """The seed night (simulate profile, nothing submitted) with ``run_catalog_dir`` set."""
    raw = tmp_path / "raw" / "20200127"
    raw.mkdir(parents=True)
    shutil.copy(SEED, raw / SEED.name)
    (tmp_path / "catalog").mkdir()
    if catalogue is not None:
        (tmp_path / "catalog" / "RunCatalog_20200127.ecsv").write_text(catalogue)
    config = tmp_path / "osa.toml"
    config.write_text(
        '[paths]\nraw = "raw"\nanalysis = "analysis"\nfinal = "final"\nlogs = "logs"\nstate = "state"\n'
        'night_summary = "raw/{night}/NightSummary_{night}.txt"\n'
        '[pipeline.lstchain]\nrun_catalog_dir = "catalog"\n'
    )
    return config


def status(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(config), "status", "--date", DATE, *args],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env={"COLUMNS": "200", "PATH": ""},
    )  # fmt: skip


def test_status_shows_each_runs_source(tmp_path: Path) -> None:
    config = night(tmp_path)
    out = json.loads(status(tmp_path, config, "--json").stdout)
    sources = {s["run"]: s["source"] for s in out["sequences"]}
    assert sources[1874] == "Crab" and sources[1876] == "Mrk421"
    assert sources[1875] is None  # not in the catalogue
    assert sources[1877] == "nowhere"  # listed without pointing: its source is still known
    table = status(tmp_path, config).stdout
    assert "Source" in table
    row = next(line for line in table.splitlines() if "01874" in line)
    assert "Crab" in row, table


def test_a_night_without_a_catalogue_keeps_its_table(tmp_path: Path) -> None:
    config = night(tmp_path, catalogue=None)
    out = json.loads(status(tmp_path, config, "--json").stdout)
    assert {s["source"] for s in out["sequences"]} == {None}
    assert "Source" not in status(tmp_path, config).stdout


def test_a_bad_catalogue_does_not_hide_the_night(tmp_path: Path) -> None:
    config = night(tmp_path, catalogue=CATALOGUE.replace("1874,Crab,83.633,22.0", "1874,Crab"))
    result = status(tmp_path, config, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["sequences"]) == 9


def test_the_night_page_names_the_sources(tmp_path: Path) -> None:
    engine = Engine(load_config(night(tmp_path)), dt.date(2020, 1, 27))
    try:
        engine.plan()
        engine.state.set_sequences(list(engine.plan().sequences))
        snapshot = engine.snapshot
    finally:
        engine.shutdown()
    page = render_page(snapshot, engine.layout, [])
    assert "<th>source</th>" in page
    row = page[page.index('<tr id="seq-1">') :].split("</tr>")[0]
    assert "01874" in row and '<td class="l">Crab</td>' in row
