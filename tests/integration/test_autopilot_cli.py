"""``autopilot``, ``events``, ``hold`` and ``release`` on bad or unusual input, as processes: one line
and an exit code from docs/cli.md, never a traceback; a night file that cannot be read is a
condition of the pass, not a crash; a pass with no night to look at creates nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from support.nights import Night, make_night


def night_at(tmp_path: Path) -> Night:
    return make_night(tmp_path / "night", "local")


def ledger_files(night: Night) -> list[Path]:
    return sorted((night.root / "state").rglob("ledger_*.sqlite")) if (night.root / "state").exists() else []


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_events_and_release_of_a_night_never_started_are_refused(tmp_path: Path) -> None:
    night = night_at(tmp_path)
    for command in ("events", "release"):
        result = night.cli(command, check=False)
        assert result.returncode == 8, result.stderr
        assert "has no ledger yet" in one_line(result.stderr)
    assert ledger_files(night) == []


def test_hold_before_the_night_starts_then_release(tmp_path: Path) -> None:
    night = night_at(tmp_path)
    held = night.cli("hold", "--reason", "night file being fixed")
    assert "held by" in held.stdout and "night file being fixed" in held.stdout
    report = json.loads(night.cli("autopilot", "--json").stdout)
    assert "night file being fixed" in report["nights"][0]["skipped"]
    assert report["nights"][0]["whole"] is False  # its conditions are not the whole picture
    assert report["nights"][0]["decisions"] == []
    shown = night.cli("status")  # the shifter's table says who holds the night (Rich may wrap the why)
    assert "HOLD: held by" in shown.stdout
    released = night.cli("release")
    assert "released" in released.stdout
    assert "was not held" in night.cli("release").stdout
    kinds = [e["kind"] for e in json.loads(night.cli("events", "--json").stdout)["events"]]
    assert kinds == ["hold", "release"]


def test_an_unreadable_night_file_is_a_condition_not_a_crash(tmp_path: Path) -> None:
    night = night_at(tmp_path)
    night.cli("hold")
    night.cli("release")  # the night has a ledger: it was started
    (night.root / "raw" / "20200127" / "NightSummary_20200127.txt").write_bytes(b"\xff\xfe\x00garbage\n")
    result = night.cli("autopilot", "--json", check=False)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (report,) = json.loads(result.stdout)["nights"]
    assert report["whole"] is True
    assert [c["key"] for c in report["conditions"]] == ["night_file_unreadable:night"]
    assert "NightSummary_20200127.txt" in report["conditions"][0]["summary"]


def test_a_damaged_ledger_is_one_line_and_its_exit_code(tmp_path: Path) -> None:
    night = night_at(tmp_path)
    night.cli("hold")
    (ledger,) = ledger_files(night)
    ledger.write_bytes(b"not a ledger")
    result = night.cli("autopilot", check=False)
    assert result.returncode == 6
    assert "ledger rebuild" in one_line(result.stderr)


def test_without_a_date_a_quiet_day_creates_nothing(tmp_path: Path) -> None:
    extra = {"autopilot": {"watch_min_seconds": 1.0, "watch_max_seconds": 1.0}}
    night = make_night(tmp_path / "night", "local", extra)
    # no --date: tonight and the lookback days (2026) have no night file and no ledger
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "osa_core",
            "--config",
            str(night.config),
            "autopilot",
            "--watch",
            "--count",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("no night to look at") == 2
    assert ledger_files(night) == []


def test_a_run_without_calibration_is_a_condition_and_waits_for_the_fix(tmp_path: Path) -> None:
    """Data runs and no calibration: each is a ``run_unbuildable`` condition (exit 0, nothing
    submitted); once calibration files are configured the next pass submits them."""
    seed = Path(__file__).resolve().parents[2] / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"
    data_only = tmp_path / "NightSummary_20200127.txt"
    data_only.write_text("".join(line for line in seed.read_text().splitlines(True) if " DATA " in line[:16]))
    night = make_night(tmp_path / "night", "local", night_file=data_only)
    runs = [int(line[:5]) for line in data_only.read_text().splitlines()]
    raw = night.root / "raw" / "20200127"
    for run in runs:
        for subrun in range(3):  # the simulate profile's max_subruns in make_night
            (raw / f"LST-1.1.Run{run:05d}.{subrun:04d}.fits.fz").write_bytes(b"R0")
    try:
        result = night.cli("autopilot", "--json", check=False)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stdout + result.stderr
        (report,) = json.loads(result.stdout)["nights"]
        assert report["whole"] is True and report["decisions"] == []
        conditions = {c["key"]: c["summary"] for c in report["conditions"] if c["key"].startswith("run_")}
        assert sorted(conditions) == [f"run_unbuildable:run={run}" for run in sorted(runs)]
        assert "has no calibration sequence" in conditions[f"run_unbuildable:run={runs[0]}"]

        for name in ("drs4.h5", "charge.h5"):
            (tmp_path / name).write_bytes(b"HDF")
        config = night.config.read_text()
        calibration = (
            f'[pipeline.calibration]\ndrs4 = "{tmp_path / "drs4.h5"}"\ncharge = "{tmp_path / "charge.h5"}"\n'
        )
        night.config.write_text(config + "\n" + calibration)
        (fixed,) = json.loads(night.cli("autopilot", "--json").stdout)["nights"]
        assert [d["kind"] for d in fixed["decisions"] if d["kind"] == "submit"] == ["submit"]
        assert not [c for c in fixed["conditions"] if c["key"].startswith("run_unbuildable")]
    finally:
        from osa_core.scheduler.local.backend import stop_executor

        stop_executor(night.root / "state" / "local-scheduler", kill_tasks=True)
