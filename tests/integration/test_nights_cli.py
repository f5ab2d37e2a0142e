"""``osa-core nights`` and the ETA and failure signatures of ``status``, on a real simulate-profile
night run by the embedded local backend, through the real CLI as processes."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.nights import Night, all_finished, make_night

from osa_core.alert.notifier import AppriseNotifier
from osa_core.alert.reconcile import reconcile
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.track.ledger import Ledger

# Run 1875 fails in R0->DL1 with exit code 5 on every subrun; 1876.1 is killed for its memory
# (a real allocation past the request, which the local backend enforces; SLURM here has no cgroups).
FAILURES = [
    {"run": 1875, "step": "r0_to_dl1", "exit_code": 5},
    {"run": 1876, "subrun": 1, "step": "r0_to_dl1", "allocate_mb": 400, "exit_code": 0},
]
EXTRA = {
    "scheduler": {"memory": "150M"},
    "pipeline": {
        "simulate": {
            "failures": FAILURES,
            "default_seconds": 0.5,
            "step_seconds": {"r0_to_dl1": 2.5},
        }
    },
}


def nights(night: Night, *args: str, config: Path | None = None, env: dict[str, str] | None = None) -> Any:
    cmd = [sys.executable, "-m", "osa_core", "--config", str(config or night.config), "nights", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def nights_json(night: Night, *args: str) -> dict[str, Any]:
    result = nights(night, "--json", *args)
    assert result.returncode == 0, result.stderr
    listing: dict[str, Any] = json.loads(result.stdout)
    return listing


@pytest.fixture
def night(tmp_path: Path) -> Iterator[Night]:
    made = make_night(tmp_path / "night", "local", EXTRA)
    yield made
    made.cli("cancel", check=False)
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(made.root / "state" / "local-scheduler", kill_tasks=True)


def test_a_night_shows_its_eta_while_it_runs_and_its_failures_by_signature(night: Night) -> None:
    night.cli("submit")
    # while it runs: an estimate in the future, with its basis, in status and in nights
    running = night.wait(
        lambda s: s["eta"]["at"] is not None and not s["eta"]["done"] and s["eta"]["left"] > 4
    )
    eta = running["eta"]
    assert dt.datetime.fromisoformat(eta["at"]) > dt.datetime.fromisoformat(running["taken_at"])
    assert "subruns left" in eta["basis"] and eta["step_medians"]["r0_to_dl1"] >= 2.0
    assert eta["concurrency"] > 1  # 8 local slots: more than one subrun at once
    listed = nights_json(night)["nights"][0]
    assert listed["date"] == "2020-01-27" and not listed["finished"]
    assert listed["eta"] is not None and listed["eta"]["left"] > 0

    status = night.wait_finished()
    assert status["eta"]["done"] and status["eta"]["left"] == 0
    groups = status["failure_groups"]
    assert [(g["cause"], g["step"], g["count"]) for g in groups] == [
        ("exit 5", "r0_to_dl1", 3),
        ("OUT_OF_MEMORY", "r0_to_dl1", 1),
    ]
    assert groups[0]["members"] == [[2, 0], [2, 1], [2, 2]]
    assert groups[0]["message"] == "SIMULATION: r0_to_dl1 fails as configured (exit code <n>)"
    assert groups[1]["members"] == [[3, 1]]
    assert groups[0]["summary"].startswith("3 x exit 5 in r0_to_dl1")

    text = night.cli("status", env={"COLUMNS": "160"}).stdout
    assert "Nothing left to run (last subrun ended" in text
    assert "Failures by signature (2)" in text
    assert "SIMULATION: r0_to_dl1 fails as configured (exit code <n>)" in text

    # nights: the whole night from its ledger alone, with the scheduler unreachable
    listed = nights_json(night)["nights"][0]
    assert (listed["runs"], listed["subruns"], listed["done"], listed["failed"]) == (8, 25, 21, 4)
    assert (listed["running"], listed["waiting"], listed["finished"]) == (0, 0, True)
    assert (listed["closed"], listed["pushed"], listed["problem"]) == (False, False, None)
    slurm = night.root / "slurm.toml"
    slurm.write_text(night.config.read_text().replace('backend = "local"', 'backend = "slurm"'))
    cut_off = nights(night, "--json", config=slurm, env={"PATH": str(night.root / "no-bin")})
    assert cut_off.returncode == 0, cut_off.stderr
    assert json.loads(cut_off.stdout)["nights"][0]["done"] == 21
    text = nights(night, env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"}).stdout
    assert "2020-01-27" in text and "finished" in text


def test_nights_says_what_is_wrong_with_a_night_in_one_line(night: Night) -> None:
    night.cli("submit")
    all_finished(night.wait_finished())
    state = night.root / "state"
    ledger = next(state.rglob("ledger_*.sqlite"))
    # an incident open and a person's hold on the night: the listing shows both
    led = Ledger(ledger)
    try:
        seen = [Condition(ConditionKind.DISK_LOW, "fs=/data", "/data: 2 GiB free")]
        reconcile(led, dt.date(2020, 1, 27), seen, AppriseNotifier([], "[T]"), dt.datetime.now(dt.UTC))
    finally:
        led.close()
    night.cli("hold", "--reason", "checking the DRS4")
    # a night from a newer program, one from an older one, one whose file is not a ledger, and
    # one from before the alerts (schema 4): read as it is, without incidents
    for day, version in (("20200128", 99), ("20200129", 1), ("20200126", 4)):
        (state / day).mkdir()
        copy = state / day / ledger.name
        shutil.copy(ledger, copy)
        with sqlite3.connect(copy) as db:
            db.execute(f"PRAGMA user_version = {version}")
    (state / "20200130").mkdir()
    (state / "20200130" / ledger.name).write_bytes(b"not a database at all" * 100)
    (state / "20200131").mkdir()  # a night directory without a ledger
    (state / "20201399").mkdir()  # no date

    listing = nights_json(night)
    by_date = {n["date"]: n for n in listing["nights"]}
    assert list(by_date) == [
        "2020-01-31",
        "2020-01-30",
        "2020-01-29",
        "2020-01-28",
        "2020-01-27",
        "2020-01-26",
    ]
    assert (by_date["2020-01-27"]["alerts"], by_date["2020-01-26"]["alerts"]) == (1, 0)
    assert "checking the DRS4" in by_date["2020-01-27"]["hold"]
    assert by_date["2020-01-26"]["problem"] is None
    assert by_date["2020-01-26"]["done"] == by_date["2020-01-27"]["done"] > 0
    assert "newer than this program's" in by_date["2020-01-28"]["problem"]
    assert "older than this program's" in by_date["2020-01-29"]["problem"]
    assert "osa-core status --date 2020-01-29" in by_date["2020-01-29"]["problem"]
    assert "cannot be read" in by_date["2020-01-30"]["problem"]
    assert "no ledger" in by_date["2020-01-31"]["problem"]
    assert by_date["2020-01-27"]["problem"] is None
    assert listing["problems"] == [f"{state / '20201399'}: not a night's date"]
    assert nights_json(night, "--last", "2")["nights"][-1]["date"] == "2020-01-30"

    for day, code, words in (
        ("2020-01-28", 6, "newer than this program's"),
        ("2020-01-30", 6, "cannot be read"),
        ("2020-02-05", 2, "no ledger"),
    ):
        result = nights(night, "--date", day, env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"})
        assert result.returncode == code, result.stdout + result.stderr
        assert words in result.stdout and "Traceback" not in result.stdout + result.stderr
    # reading never creates a ledger, nor changes one
    assert not (state / "20200205").exists()
    with sqlite3.connect(state / "20200128" / ledger.name) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (99,)
    bad_count = nights(night, "--last", "many")
    assert bad_count.returncode == 2 and "expected a number of nights" in bad_count.stderr
