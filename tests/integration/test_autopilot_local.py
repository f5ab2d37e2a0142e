"""A night driven only by ``osa-core autopilot`` passes, as cron runs them: the local backend, the
simulate profile, the night file growing between passes, a raw file arriving late, an
out-of-memory failure a retry fixes, one that persists past the cap, a hold, a dry run; the
night ends closed and its datacheck pushed to a real OpenSSH server on 127.0.0.1, and exactly the
expected alerts reached a real SMTP server and a real webhook receiver on 127.0.0.1, each once."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sqlite3
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from alert_servers import Arrived, SmtpServer, WebhookServer
from sshd import SshServer
from support.nights import Night, make_night, toml_dumps

from osa_core.model.config import load_config
from osa_core.model.layout import NightLayout
from osa_core.track.lock import night_lock

pytestmark = pytest.mark.ssh

DATE = dt.date(2020, 3, 2)
SUBRUNS = 3
FIRST = [(3001, "DRS4"), (3002, "CALI"), (3003, "DATA")]
LATER = [(3004, "DATA"), (3005, "DATA")]


def night_line(run: int, kind: str, index: int) -> str:
    when = dt.datetime.combine(DATE, dt.time(21, 0)) + dt.timedelta(minutes=10 * index)
    return (
        f"{run:05d}  {SUBRUNS:3d} {kind} {when:%Y-%m-%d %H:%M:%S} 0001 1580154753739954334 5739954100"
        " 0001 1580154753739954334 5739951300\n"
    )


def raw_file(night: Night, run: int, subrun: int) -> Path:
    return night.root / "raw" / f"{DATE:%Y%m%d}" / f"LST-1.1.Run{run:05d}.{subrun:04d}.fits.fz"


def arrive(night: Night, run: int, subruns: range) -> None:
    for subrun in subruns:
        raw_file(night, run, subrun).write_bytes(b"R0")


def passes(night: Night, *extra: str) -> dict[str, Any]:
    """One autopilot pass as cron runs it; its --json report."""
    result = night.cli("autopilot", "--json", *extra, check=False, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    night_report: dict[str, Any] = report["nights"][0]
    return night_report


def acts(report: dict[str, Any]) -> list[str]:
    """The decisions' kinds, without the night page's pushes (at most every page_minutes)."""
    return [d["kind"] for d in report["decisions"] if d["kind"] != "page"]


def events(night: Night) -> list[dict[str, str]]:
    out = night.cli("events", "--json").stdout
    rows: list[dict[str, str]] = json.loads(out)["events"]
    return rows


def jobs(night: Night) -> int:
    ledger = next((night.root / "state").rglob("ledger_*.sqlite"))
    with sqlite3.connect(ledger) as db:
        return int(db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0])


def layout(night: Night) -> NightLayout:
    return NightLayout(load_config(night.config), DATE)


def set_config(night: Night, **autopilot: Any) -> None:
    data = tomllib.loads(night.config.read_text())
    data["autopilot"] = {**data.get("autopilot", {}), **autopilot}
    night.config.write_text(toml_dumps(data))


@pytest.fixture
def smtp() -> Any:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def web() -> Any:
    server = WebhookServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def night(tmp_path: Path, sshd_server: SshServer, smtp: SmtpServer, web: WebhookServer) -> Any:
    www = tmp_path / "www"
    www.mkdir()
    (tmp_path / "known_hosts").write_text(sshd_server.known_hosts_line())
    start = tmp_path / "in" / f"NightSummary_{DATE:%Y%m%d}.txt"
    start.parent.mkdir()
    start.write_text("".join(night_line(r, k, i) for i, (r, k) in enumerate(FIRST)))
    failures = [
        # fixed by the retry with more memory
        {"run": 3004, "subrun": 1, "step": "r0_to_dl1", "allocate_mb": 400, "exit_code": 0},
        # out of memory on both tries: past the cap of 2
        {
            "run": 3005,
            "subrun": 0,
            "step": "r0_to_dl1",
            "allocate_mb": 400,
            "exit_code": 0,
            "attempts": [1, 2],
        },
    ]
    extra = {
        "scheduler": {"memory": "150M"},
        "pipeline": {"simulate": {"max_subruns": SUBRUNS, "default_seconds": 0.1, "failures": failures}},
        "autopilot": {"max_tries": 2, "quiet_minutes": 30.0, "lock_wait": 2.0},
        # the disk is not what this night is about (min_free_gib 0: not checked); the night is
        # from 2020, long past its close-by hour: `not_closed` opens at once and clears at closing
        "alerts": {"urls": [smtp.url(), web.url()], "min_free_gib": 0.0, "subject_prefix": "[T]"},
        "webserver": {
            "host": sshd_server.host,
            "port": sshd_server.port,
            "user": sshd_server.user,
            "key_file": str(sshd_server.client_key),
            "known_hosts": str(tmp_path / "known_hosts"),
            "root": str(www),
            "retries": 0,
            "timeout": 10.0,
        },
    }
    built = make_night(tmp_path / "night", "local", extra, night_file=start, date=DATE.isoformat())
    yield built
    from osa_core.scheduler.local.backend import stop_executor

    stop_executor(built.root / "state" / "local-scheduler", kill_tasks=True)


def incidents(arrived: list[Arrived]) -> list[tuple[str, str]]:
    """(phase, incident key) of each message, read from its body as a person reads it."""
    out = []
    for message in arrived:
        found = re.search(r"incident ([a-z_]+:\S+?)[,:]", message.body)
        assert found, message.body
        phase = "resolved" if message.subject.startswith("[T] RESOLVED") else "opened"
        out.append((phase, found.group(1)))
    return sorted(out)


def alert_events(arrived: list[Arrived]) -> list[tuple[str, str]]:
    """The events a person expects in `osa-core events`, in the order the messages went."""
    out = []
    for message in arrived:
        resolved = message.subject.startswith("[T] RESOLVED")
        summary = message.subject.split(": ", 1)[1]
        out.append(("resolved" if resolved else "opened", summary))
    return out


def test_a_night_runs_itself_from_cron_passes(night: Night, smtp: SmtpServer, web: WebhookServer) -> None:
    night_file = night.root / "raw" / f"{DATE:%Y%m%d}" / f"NightSummary_{DATE:%Y%m%d}.txt"
    # pass 1: the first runs are announced, but the data run's files are still being copied
    arrive(night, 3001, range(1))
    arrive(night, 3002, range(1))
    arrive(night, 3003, range(2))
    first = passes(night)
    assert acts(first) == ["submit"]
    # the night page is pushed as soon as there is something to show
    assert [d["kind"] for d in first["decisions"]] == ["submit", "page"]
    assert "03002 (calibration)" in first["decisions"][0]["message"]
    assert "03003" not in first["decisions"][0]["message"]
    # the last run of the night file may still be going: waiting for its files is no alarm yet
    assert first["conditions"] == []
    assert (
        "run 03003: waiting for 1 of 3 raw files (first missing: LST-1.1.Run03003.0002.fits.fz)"
        in first["notes"]
    )

    # the night file grows: run 3003 has ended (in 2020), its file is late; the new runs are there
    with night_file.open("a") as f:
        f.write("".join(night_line(r, k, 3 + i) for i, (r, k) in enumerate(LATER)))
    arrive(night, 3004, range(SUBRUNS))
    arrive(night, 3005, range(SUBRUNS))
    second = passes(night)
    assert acts(second) == ["submit"]  # the page waits page_minutes
    assert second["decisions"][0]["message"].startswith(
        "submitted run(s) 03004 (3 subruns), 03005 (3 subruns): their raw files are all on disk (jobs "
    )
    # a condition, not 3 failed subruns
    assert [c["key"] for c in second["conditions"]] == ["raw_files_missing:run=3003"]
    assert "LST-1.1.Run03003.0002.fits.fz" in second["conditions"][0]["summary"]

    # the late file arrives while a person's command holds the night's lock: the pass waits
    # lock_wait seconds, then leaves the night to the next pass, and says so
    arrive(night, 3003, range(2, 3))
    before = (len(events(night)), jobs(night))
    with night_lock(layout(night).lock_path, what="a shifter's resubmit"):
        busy = passes(night)
    assert busy["skipped"] and "a shifter's resubmit" in busy["skipped"]
    assert busy["decisions"] == [] and (len(events(night)), jobs(night)) == before
    third = passes(night)
    assert acts(third)[0] == "submit"  # (retries may follow: the first runs had time to fail)
    assert third["decisions"][0]["message"].startswith("submitted run(s) 03003 (3 subruns):")
    assert third["conditions"] == []

    # a person holds the night: passes leave it alone, and write nothing
    before = (len(events(night)), jobs(night))
    night.cli("hold", "--reason", "checking run 3005")
    held = passes(night)
    assert held["skipped"] and "checking run 3005" in held["skipped"] and held["decisions"] == []
    assert "checking run 3005" in (night.status()["hold"] or "")
    assert (len(events(night)), jobs(night)) == (before[0] + 1, before[1])  # the hold's own event
    night.cli("release")
    assert night.status()["hold"] is None

    # data taking is over: the night file has been quiet for an hour
    hour_ago = time.time() - 3600
    os.utime(night_file, (hour_ago, hour_ago))

    seen: list[dict[str, Any]] = [third]
    # generous: each pass is a new process and the retries run on the local executor; on a loaded
    # machine 150 s ran out before run 3005's second attempt had failed (the loop ends when it has)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        report = passes(night)
        seen.append(report)
        if any("not closing" in n for n in report["notes"]):
            break
        time.sleep(0.5)
    messages = [d["message"] for r in seen for d in r["decisions"]]
    retry_3004 = [m for m in messages if "of run 03004" in m]
    assert len(retry_3004) == 1
    assert retry_3004[0].startswith(
        "resubmitted 1 subrun of run 03004: OUT_OF_MEMORY, memory 150M -> 225M (attempt 2 of 2; subruns 0001)"
    )
    assert any("of run 03005: OUT_OF_MEMORY" in m for m in messages)
    # past the cap: left to a person, and the night is not closed by itself
    last = seen[-1]
    assert "retries_exhausted:run=3005" in [c["key"] for c in last["conditions"]]
    assert night.status()["closing"] is None
    quiet = passes(night)
    assert quiet["decisions"] == [] and quiet["conditions"] == last["conditions"]

    # the site allows closing without what failed for good: the next passes close and push
    set_config(night, close_incomplete=True)
    # a dry run says what it would do, and does nothing
    before = (len(events(night)), jobs(night))
    dry = passes(night, "--dry-run")
    assert [d["kind"] for d in dry["decisions"]] == ["close"]
    assert (len(events(night)), jobs(night)) == before and night.status()["closing"] is None
    closed: list[dict[str, Any]] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        closed.append(passes(night))
        if any(d["kind"] == "push" for d in closed[-1]["decisions"]):
            break
        time.sleep(0.5)
    kinds = [d["kind"] for r in closed for d in r["decisions"]]
    assert kinds[0] == "close" and kinds[-1] == "push", closed
    assert "run(s) 03005 excluded" in closed[0]["decisions"][0]["message"]
    status = night.status()
    assert status["closing"].startswith("closed")
    remote = tomllib.loads(night.config.read_text())["webserver"]["root"]
    assert list(Path(remote).rglob("index.html")), "the datacheck page reached the server"

    # a finished night: a pass has nothing to do and writes nothing
    before = (len(events(night)), jobs(night))
    idle = passes(night)
    assert idle["decisions"] == [] and idle["conditions"] == []
    assert (len(events(night)), jobs(night)) == before
    kinds_logged = [e["kind"] for e in events(night)]
    assert kinds_logged.count("autopilot") >= 5

    # the alerts: each incident announced once when it opened and once when it cleared, by mail
    # and by webhook alike; nothing for the passes that saw it again, or for the skipped ones
    # (run 3005's incident clears when the closing leaves it out, as close_incomplete allows)
    expected = sorted(
        (phase, key)
        for key in ("not_closed:night", "raw_files_missing:run=3003", "retries_exhausted:run=3005")
        for phase in ("opened", "resolved")
    )
    mails, hooks = smtp.take(), web.take()
    assert incidents(mails) == expected, [m.subject for m in mails]
    assert incidents(hooks) == expected, [h.subject for h in hooks]
    assert any("0000 (in r0_to_dl1)" in m.subject and "03005" in m.subject for m in mails)
    assert [e["message"] for e in events(night) if e["kind"] == "alert"] == [
        f"incident {phase}: {summary}" for phase, summary in alert_events(mails)
    ]
