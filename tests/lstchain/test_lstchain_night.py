"""The real LST analysis chain through the real SLURM: run 2008 of 2020-02-18, three subruns
made from the shipped LST-1 raw file, the DRS4 baseline really computed, the charge and time
calibration supplied as external files by the fixture, and per subrun gain selection (a STAND-IN:
the real tool needs four streams and R1v1 data), R0->DL1 from its output, datacheck, muons and
DL1->DL2 run by lstchain 0.12. One subrun's raw file is missing at first: it fails at its first
step with that reason, and completes once the file is there and it is resubmitted. Then the
night is closed: lstchain's merges run as SLURM jobs, then the run's Cat-B calibration from the
interleaved events R0->DL1 wrote (a STAND-IN: one flat-field event, no pedestal; it writes fixed
coefficients), the tail-cut finder (a STAND-IN: no interleaved pedestals) and the real
lstchain_dl1ab re-cleaning the merged DL1 with its cuts and that Cat-B calibration; the closer
counts the merged events against the subrun files before it moves anything.
The night-wise job runs the real lstchain_longterm_dl1_check on the run-wise products; on this
file it writes the night's table and then stops at its HTML plot (no pedestals: exit 1), which
the closing reports without being held open. The real lstchain_cherenkov_transparency then runs
on that table from the job side. Only then are the subrun files deleted. The night
page shows the datacheck's sections from these products (the DRS4 baseline computed here, the
fixture's charge calibration called not physical, why lstchain's run-wise PDF is absent), and
each run has a PROV record naming the real raw files with their checksums and the job ids SLURM
gave."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.nights import Night, all_finished, deep_merge, toml_dumps

from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout

pytestmark = [pytest.mark.lstchain, pytest.mark.slurm]

PARAMETERS = "/dl1/event/telescope/parameters/LST_LSTCam"
DL2_PARAMETERS = "/dl2/event/telescope/parameters/LST_LSTCam"
N_EVENTS = 50


def make_lstchain_night(lstchain_night: Any, work: Path, partition: str) -> Night:
    config = deep_merge(
        lstchain_night.config_dict(work),
        {
            "scheduler": {
                "backend": "slurm",
                "partition": partition,
                "refresh_min": 2.0,
                "refresh_max": 5.0,
                "walltime": "00:20:00",
                "calibration_walltime": "00:20:00",
            },
            "close": {"keep_subrun_files": False},
        },
    )
    path = work / "osa.toml"
    work.mkdir(parents=True, exist_ok=True)
    path.write_text(toml_dumps(config))
    return Night(root=work, config=path, date=lstchain_night.date.isoformat(), backend="slurm")


def test_real_night_on_slurm_with_a_missing_raw_file(
    lstchain_night_private: Any, tmp_path: Path, slurm_cluster: str
) -> None:
    import pandas as pd
    import tables

    night_data = dataclasses.replace(lstchain_night_private)
    missing = night_data.raw_dir / f"LST-1.1.Run{night_data.data_run:05d}.0002.fits.fz"
    target = missing.resolve()
    missing.unlink()
    night = make_lstchain_night(night_data, tmp_path / "work", slurm_cluster)

    night.cli("submit", env=night_data.env, timeout=300)
    status = night.wait(all_finished, timeout=600, every=3.0)
    by_key = {(r["run"], r["subrun"]): r for r in status["subruns"]}

    calibration = by_key[(night_data.pedcal_run, 0)]
    assert calibration["state"] == "COMPLETED", calibration
    assert [s["name"] for s in calibration["steps"]] == ["drs4_baseline"]  # charge, time: external

    failed = by_key[(night_data.data_run, 2)]
    assert failed["state"] == "FAILED"
    assert failed["reason"].startswith("gain_selection exited 66: missing input:"), failed["reason"]
    assert str(missing) in failed["reason"]
    for subrun in (0, 1):
        done = by_key[(night_data.data_run, subrun)]
        assert done["state"] == "COMPLETED", done
        names = [s["name"] for s in done["steps"]]
        assert names == ["gain_selection", "r0_to_dl1", "dl1_datacheck", "muon_analysis", "dl1_to_dl2"]
        assert all(s["exit_code"] == 0 and s["seconds"] > 0 for s in done["steps"])

    missing.symlink_to(target)
    out = night.cli("resubmit", "--failed", env=night_data.env).stdout
    assert "--array=2 " in out
    status = night.wait(
        lambda s: all_finished(s) and s["subruns"][-1]["attempt"] == 2, timeout=600, every=3.0
    )
    assert {r["state"] for r in status["subruns"]} == {"COMPLETED"}

    analysis = tmp_path / "work" / "running_analysis" / night_data.night / "test"
    for subrun in range(night_data.data_subruns):
        tag = f"Run{night_data.data_run:05d}.{subrun:04d}"
        params = pd.read_hdf(analysis / "DL1" / f"dl1_LST-1.{tag}.h5", PARAMETERS)
        assert len(params) == N_EVENTS
        assert {"intensity", "width", "length", "psi", "x", "y"} <= set(params.columns)
        survived = params[np.isfinite(params["intensity"]) & (params["intensity"] > 0)]
        assert len(survived) > 0
        with tables.open_file(analysis / "datacheck" / f"datacheck_dl1_LST-1.{tag}.h5") as datacheck:
            assert any(
                isinstance(node, tables.Table) and node.nrows > 0 for node in datacheck.walk_nodes("/")
            )
        assert (analysis / "muons" / f"muons_LST-1.{tag}.fits").stat().st_size > 0
        dl2 = pd.read_hdf(analysis / "DL2" / f"dl2_LST-1.{tag}.h5", DL2_PARAMETERS)
        assert len(dl2) > 0
        assert np.isfinite(dl2["reco_energy"]).all() and (dl2["reco_energy"] > 0).all()
        assert dl2["gammaness"].between(0, 1).all()

    # --- closing: real merges on SLURM, verified before anything moves or is deleted ----------
    dl1_events = sum(
        len(pd.read_hdf(analysis / "DL1" / f"dl1_LST-1.Run{night_data.data_run:05d}.{s:04d}.h5", PARAMETERS))
        for s in range(night_data.data_subruns)
    )
    dl2_events = sum(
        len(
            pd.read_hdf(
                analysis / "DL2" / f"dl2_LST-1.Run{night_data.data_run:05d}.{s:04d}.h5", DL2_PARAMETERS
            )
        )
        for s in range(night_data.data_subruns)
    )
    closed = night.cli("close", "--wait", "--timeout", "900", env=night_data.env, check=False, timeout=1000)
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert "night-wise checks: running (job " in closed.stdout, closed.stdout

    layout = NightLayout(load_config(night.config), dt.date.fromisoformat(night.date))
    tag = f"LST-1.Run{night_data.data_run:05d}"
    merged_dl1 = pd.read_hdf(layout.final_dir("DL1") / f"dl1_{tag}.h5", PARAMETERS)
    assert len(merged_dl1) == dl1_events == N_EVENTS * night_data.data_subruns
    merged_dl2 = pd.read_hdf(layout.final_dir("DL2") / f"dl2_{tag}.h5", DL2_PARAMETERS)
    assert len(merged_dl2) == dl2_events
    assert (layout.final_dir("muons") / f"muons_{tag}.fits").stat().st_size > 0
    with tables.open_file(layout.final_dir("datacheck") / f"datacheck_dl1_{tag}.h5") as check:
        assert check.get_node("/dl1datacheck/cosmics").nrows == night_data.data_subruns
    # keep_subrun_files = false: the subrun products are gone, now that the merges are verified
    assert not list((analysis / "DL1").glob(f"dl1_{tag}.*.h5"))
    assert not list((analysis / "DL2").glob(f"dl2_{tag}.*.h5"))

    flag = json.loads(layout.closed_flag.read_text())
    assert [p["run"] for p in flag["processed"]] == [night_data.data_run]
    assert flag["simulation"] is False and flag["excluded"] == []
    assert night.status()["closing"].startswith("closed ")

    # --- DL1ab: the real lstchain_dl1ab, with the stand-in finder's stricter cuts (12/6 p.e.) ----
    cuts = json.loads((layout.dl1ab_dir / f"dl1ab_Run{night_data.data_run:05d}.json").read_text())
    assert cuts["tailcut"]["picture_thresh"] == 12
    dl1ab = pd.read_hdf(layout.dl1ab_dir / f"dl1_{tag}.h5", PARAMETERS)
    assert list(dl1ab["event_id"]) == list(merged_dl1["event_id"])  # the same events, re-cleaned
    assert (dl1ab["n_pixels"] <= merged_dl1["n_pixels"]).all()
    assert (dl1ab["n_pixels"] < merged_dl1["n_pixels"]).any()  # stricter cuts keep fewer pixels
    assert not np.allclose(dl1ab["intensity"].fillna(0), merged_dl1["intensity"].fillna(0))
    assert len(pd.read_hdf(layout.final_dir("DL2") / "tailcut" / f"dl2_{tag}.h5", DL2_PARAMETERS)) > 0
    # the run's Cat-B calibration (STAND-IN coefficients) was verified, moved, and applied by DL1ab
    catb = layout.final_dir("calibration") / f"cat_B_calibration_filters_52.Run{night_data.data_run:05d}.h5"
    with tables.open_file(catb) as h5:
        assert h5.get_node("/tel_1/calibration").nrows == 1
        assert h5.get_node("/tel_1/calibration").col("unusable_pixels")[0][:, :7].all()
    with tables.open_file(layout.dl1ab_dir / f"dl1_{tag}.h5") as h5:
        assert h5.get_node("/dl1/monitoring/telescope/catB/calibration").nrows == 1
    assert (dl1ab["calibration_id"] == 0).all()  # every event calibrated with its one interval

    # --- the night-wise job: the real long-term check wrote the night's table, then its plot ----
    # needed interleaved pedestals (exit 1); the night closed and says so.
    assert flag["night_checks"].startswith("night-wise checks: failed (job "), flag["night_checks"]
    assert "FAILED (exit code 1)" in flag["night_checks"]
    runsummary = pd.read_hdf(layout.longterm_file, "runsummary")
    assert list(runsummary["runnumber"]) == [night_data.data_run]
    # --- the real transparency on that table, from the job side (the long-term check off) ------
    settings = toml_dumps(deep_merge(tomllib.loads(night.config.read_text()),
                                     {"pipeline": {"stages": {"longterm_check": False}}}))  # fmt: skip
    transparency = tmp_path / "work" / "transparency.toml"
    transparency.write_text(settings)
    job = subprocess.run(
        [sys.executable, "-m", "osa_core", "--config", str(transparency), "run-night-checks",
         "--date", night.date, "--runs", str(night_data.data_run)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **night_data.env},
    )  # fmt: skip
    assert job.returncode == 0, job.stdout + job.stderr
    with tables.open_file(layout.longterm_file) as longterm:
        assert "/cosmics_intensity_spectrum" in longterm
        assert "/runsummary" in longterm

    # --- the closing's jobs timed like the subruns' steps (the console's J shows the same) --------
    report = night.cli("report").stdout
    jobs = report.split("## Closing jobs", 1)[1].split("\n## ", 1)[0]
    merge = next(line for line in jobs.splitlines() if f"run {night_data.data_run:05d} merge (job " in line)
    for label in ("Merge DL1", "Cat-B cal", "Tail cuts", "DL1ab", "Merge DL2", "Merge muons"):
        assert f"{label} " in merge and f"{label} skipped" not in merge, merge
    assert " exit " not in merge  # every step of the merge job exited 0
    checks = next(line for line in jobs.splitlines() if "night-wise checks (job " in line)
    assert "Long-term check " in checks and "exit 1" in checks, checks

    # --- the datacheck's sections and the run's provenance, from the real products ------------
    check_night_page(layout, night_data)
    check_provenance(layout, night_data, night.config)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(found["id"] or "")
        if tag in ("img", "a"):
            self.links.append(found.get("src") or found.get("href") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_night_page(layout: NightLayout, night_data: Any) -> None:
    import tables

    page = _Page()
    page.feed(layout.web_page.read_text())
    text = " ".join(page.text)
    assert {"timing", "drs4", "enf", "dl1", "provenance"} <= set(page.ids)
    for link in page.links:  # images are files beside the page; every link resolves
        assert (layout.web_page.parent / link).resolve().is_file(), link
    # DRS4: the camera median of the pixels' baselines, as computed here from the pedestal file
    with tables.open_file(layout.drs4_file(night_data.drs4_run)) as f:
        row = f.root.r1.monitoring.drs4_baseline.tel_001[0]
    counts = row["baseline_counts"][0].astype(float)
    per_pixel = (row["baseline_mean"][0] * counts).sum(axis=1) / counts.sum(axis=1)
    assert f"{night_data.drs4_run:05d} high {np.median(per_pixel):.1f}" in " ".join(
        t.strip() for t in page.text
    )
    assert any(link.endswith("drs4_baseline.Run02005.png") for link in page.links)
    # ENF: the fixture's charge calibration is nominal, and the page says so
    assert "these values are NOT PHYSICAL" in text
    assert any(link.endswith("calibration.Run02006.png") for link in page.links)
    # DL1: the run-wise PDF is not made here (see the fixture), and the page says why
    assert "--omit-pdf is in pipeline.lstchain.extra_args.datacheck_run" in text
    # the DL1 plots read lstchain's (blosc-compressed) DL1 tables at closing, before the cleaning
    assert {"dl1_events.png", "dl1_intensity.png"} <= {Path(link).name for link in page.links}
    if layout.longterm_file.is_file():  # the long-term check's closing job, where it runs
        assert any(link.endswith(layout.longterm_file.name) for link in page.links)
    else:
        assert "Long-term DL1 check not produced" in text
    assert f"provenance/Run{night_data.data_run:05d}.prov.json" in page.links


def check_provenance(layout: NightLayout, night_data: Any, config: Path) -> None:
    from prov.model import ProvDocument

    run = night_data.data_run
    doc = ProvDocument.deserialize(content=layout.web_provenance(run).read_text(), format="json")
    records = list(doc.get_records())

    def attrs(record: Any) -> dict[str, Any]:
        return {str(k): v for k, v in record.attributes}

    entities = {str(attrs(e)["osa:path"]): attrs(e) for e in records if str(e.get_type()) == "prov:Entity"}
    activities = {str(a.identifier): attrs(a) for a in records if str(a.get_type()) == "prov:Activity"}
    agents = {str(a.identifier): attrs(a) for a in records if str(a.get_type()) == "prov:Agent"}
    raw = hashlib.sha256(night_data.raw_dir.joinpath(f"LST-1.1.Run{run:05d}.0000.fits.fz").read_bytes())
    for subrun in range(night_data.data_subruns):
        path = night_data.raw_dir / f"LST-1.1.Run{run:05d}.{subrun:04d}.fits.fz"
        assert entities[str(path)]["osa:sha256"] == raw.hexdigest()
    for path in (layout.drs4_file(night_data.drs4_run), Path(night_data.calibration["charge"]), config):
        assert entities[str(path)]["osa:sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    lstchain_config = entities[night_data.lstchain["config"]]
    assert str(lstchain_config["prov:type"]) == "osa:config"
    version = f"lstchain {importlib.metadata.version('lstchain')}"
    assert agents["osa:software_lstchain_data_r0_to_dl1"]["osa:version"] == version
    merged = layout.final_dir("DL1") / f"dl1_LST-1.Run{run:05d}.h5"
    assert entities[str(merged)]["osa:sha256"] == hashlib.sha256(merged.read_bytes()).hexdigest()
    with sqlite3.connect(layout.ledger_path) as db:
        seq = db.execute("SELECT seq FROM sequences WHERE run = ?", (run,)).fetchone()[0]
        query = "SELECT subrun, attempt, job_id, array_index FROM tasks WHERE seq = ?"
        tasks = {(s, a): f"{j}_{i}" for s, a, j, i in db.execute(query, (seq,))}
        merge_job = db.execute("SELECT job_id FROM closing_runs WHERE run = ?", (run,)).fetchone()[0]
    assert (2, 2) in tasks and tasks[(2, 1)] != tasks[(2, 2)]  # the resubmission was a new job
    for (subrun, attempt), job in tasks.items():  # every step of every attempt, in its own job
        task = f"osa:Run{run:05d}.{subrun:04d}."
        ran = [a for n, a in activities.items() if n.startswith(task) and n.endswith(f".attempt{attempt}")]
        assert ran and all(a["osa:job_id"] == job and a["osa:host"] for a in ran), (subrun, attempt)
    failed_task = f"osa:Run{run:05d}.0002."
    first = [a for n, a in activities.items() if n.startswith(failed_task) and n.endswith(".attempt1")]
    assert [a["osa:exit_code"] for a in first] == [66]  # the missing raw file, at its first step
    assert activities[f"osa:Run{run:05d}.merge.merge_dl1.attempt1"]["osa:job_id"] == merge_job
    # the run's Cat-B calibration and the night-wise job that read the run are in its record
    catb = activities[f"osa:Run{run:05d}.merge.catb_calibration.attempt1"]
    assert catb["osa:job_id"] == merge_job and catb["osa:exit_code"] == 0
    longterm = activities[f"osa:Night{layout.night}.checks.longterm_check.attempt1"]
    assert longterm["osa:exit_code"] == 1 and "lstchain_longterm_dl1_check" in str(longterm["osa:argv"])
