"""Alerts reach a person: a real SMTP server and a real webhook server on 127.0.0.1 receive what
``reconcile`` sends, and the tests assert on what arrived (count, subject, the run and subruns).

The servers start once for the module (each test drains them first); "down" is a server really
stopped (connections refused), "back" the same server started again on its port.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alert_servers import Arrived, SmtpServer, WebhookServer

from osa_core.alert.checks import CHECKED_KINDS, close_deadline, night_checks
from osa_core.alert.incidents import claim, fold
from osa_core.alert.notifier import AppriseNotifier
from osa_core.alert.reconcile import reconcile
from osa_core.cli.main import main
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.model.config import config_from_dict, load_config
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence
from osa_core.model.states import SequenceType
from osa_core.track.ledger import Ledger
from osa_core.track.ledger_schema import MIGRATIONS, SCHEMA_VERSION

NIGHT = dt.date(2020, 1, 27)
T0 = dt.datetime(2020, 1, 28, 6, 0, tzinfo=dt.UTC)
PREFIX = "[OSA test]"

CALIBRATION = Condition(
    ConditionKind.CALIBRATION_FAILED,
    "run=1873",
    "calibration of run 01873 failed twice (charge_calibration, exit 3)",
    "Look at the calibration job's log; resubmit it with `osa-core resubmit --run 1873`.",
)
RETRIES = Condition(
    ConditionKind.RETRIES_EXHAUSTED,
    "run=1875",
    "run 01875: subruns 3, 17, 42 failed past the retry cap (r0_to_dl1, exit 3)",
    "Read the subruns' job logs; `osa-core resubmit --run 1875 --force` once the cause is fixed.",
)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web() -> Iterator[WebhookServer]:
    server = WebhookServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def servers(smtp: SmtpServer, web: WebhookServer) -> Iterator[tuple[SmtpServer, WebhookServer]]:
    smtp.take(), web.take()
    yield smtp, web
    for server in (smtp, web):  # a test that stopped one leaves it running for the next
        if not server.running:
            server.start()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger.sqlite")
    yield led
    led.close()


def notifier(smtp: SmtpServer, web: WebhookServer) -> AppriseNotifier:
    return AppriseNotifier([smtp.url(), web.url()], PREFIX)


def subjects(arrived: list[Arrived]) -> list[str]:
    return [a.subject for a in arrived]


def test_one_message_when_an_incident_opens_and_one_when_it_clears(
    servers: tuple[SmtpServer, WebhookServer], ledger: Ledger
) -> None:
    smtp, web = servers
    to = notifier(smtp, web)
    for minute in range(12):  # an hour of cron passes every five minutes, the same two conditions
        report = reconcile(ledger, NIGHT, [CALIBRATION, RETRIES], to, T0 + dt.timedelta(minutes=5 * minute))
        assert report.failed == []
        assert len(report.opened) == (2 if minute == 0 else 0)
    for arrived in (smtp.take(), web.take()):
        assert len(arrived) == 2, subjects(arrived)
        first, second = sorted(arrived, key=lambda a: "01875" in a.subject)
        assert first.subject == f"{PREFIX} night 2020-01-27: {CALIBRATION.summary}"
        assert "run 01875" in second.subject and "subruns 3, 17, 42" in second.subject
        assert "osa-core resubmit --run 1875 --force" in second.body
        assert "osa-core alerts --date 2020-01-27" in second.body
    assert web.take() == [] and smtp.take() == []

    # run 01875 is fixed: one "resolved" naming it, then silence while the calibration stays open
    for minute in range(12, 15):
        report = reconcile(ledger, NIGHT, [CALIBRATION], to, T0 + dt.timedelta(minutes=5 * minute))
        assert [i.key for i in report.resolved] == (["retries_exhausted:run=1875"] if minute == 12 else [])
        assert [i.key for i in report.still_open] == ["calibration_failed:run=1873"]
    for arrived in (smtp.take(), web.take()):
        assert subjects(arrived) == [f"{PREFIX} RESOLVED night 2020-01-27: {RETRIES.summary}"]
        assert "06:00 UTC to 2020-01-28 07:00 UTC" in arrived[0].body

    # the same condition seen again later is a new incident: announced again
    reconcile(ledger, NIGHT, [CALIBRATION, RETRIES], to, T0 + dt.timedelta(hours=2))
    assert ["run 01875" in s for s in subjects(smtp.take())] == [True]
    assert len(web.take()) == 1


def test_a_server_that_is_down_stops_nothing_and_gets_the_message_when_back(
    servers: tuple[SmtpServer, WebhookServer], ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    smtp, web = servers
    to = notifier(smtp, web)
    smtp.stop()
    for minute in range(3):
        with caplog.at_level(logging.WARNING, logger="osa.alerts"):
            report = reconcile(ledger, NIGHT, [RETRIES], to, T0 + dt.timedelta(minutes=5 * minute))
        assert [d.target for d, _ in report.failed] == [to.targets[0]]
        assert "Connection" in report.failed[0][1] or "connect" in report.failed[0][1].lower()
        (logged,) = [r.getMessage() for r in caplog.records if r.name == "osa.alerts"]
        assert "retries_exhausted:run=1875" in logged and f"try {minute + 1}" in logged
        caplog.clear()
    assert len(web.take()) == 1  # the webhook had it on the first pass, and only once
    smtp.start()
    report = reconcile(ledger, NIGHT, [RETRIES], to, T0 + dt.timedelta(minutes=15))
    assert report.failed == [] and [d.target for d in report.sent] == [to.targets[0]]
    (mail,) = smtp.take()
    assert "run 01875" in mail.subject and "subruns 3, 17, 42" in mail.subject
    assert mail.to == "shifter@example.org"
    reconcile(ledger, NIGHT, [RETRIES], to, T0 + dt.timedelta(minutes=20))
    assert smtp.take() == [] and web.take() == []


def test_an_incident_that_clears_before_it_could_be_sent_is_told_once(
    servers: tuple[SmtpServer, WebhookServer], ledger: Ledger
) -> None:
    smtp, web = servers
    to = notifier(smtp, web)
    web.stop()
    reconcile(ledger, NIGHT, [RETRIES], to, T0)
    reconcile(ledger, NIGHT, [], to, T0 + dt.timedelta(minutes=5))
    web.start()
    report = reconcile(ledger, NIGHT, [], to, T0 + dt.timedelta(minutes=10))
    assert report.failed == []
    (post,) = web.take()
    assert post.subject == f"{PREFIX} night 2020-01-27 (already cleared): {RETRIES.summary}"
    assert post.to == "/osa-alerts"
    assert [m.subject.split(" night")[0] for m in smtp.take()] == [PREFIX, f"{PREFIX} RESOLVED"]


def test_a_server_that_hangs_costs_one_timeout_per_pass_and_loses_nothing(
    servers: tuple[SmtpServer, WebhookServer], ledger: Ledger
) -> None:
    smtp, _ = servers
    # A real listening socket that never accepts: the connection is made, no answer ever comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        hanging = f"json://127.0.0.1:{port}/hook?cto=1&rto=1"
        to = AppriseNotifier([smtp.url(), hanging], PREFIX)
        report = reconcile(ledger, NIGHT, [CALIBRATION, RETRIES], to, T0)
        assert len(smtp.take()) == 2  # the mail server is not held up by the silent one
        assert [(d.incident.key, d.target) for d, _ in report.failed] == [
            ("calibration_failed:run=1873", to.targets[1]),
            ("retries_exhausted:run=1875", to.targets[1]),
        ]
        with ledger.transaction() as db:
            tries = db.execute(
                "SELECT tries FROM alert_deliveries WHERE target = ? ORDER BY incident", (to.targets[1],)
            ).fetchall()
        assert tries == [(1,), (0,)]  # the second message was not tried: one timeout per pass
    # The same URL answered by a real server now: both messages arrive, once.
    back = WebhookServer()
    back.port = port
    back.start()
    try:
        report = reconcile(ledger, NIGHT, [CALIBRATION, RETRIES], to, T0 + dt.timedelta(minutes=5))
        assert report.failed == [] and len(report.sent) == 2
        assert sorted("run 01875" in a.subject for a in back.take()) == [False, True]
        assert smtp.take() == []
    finally:
        back.stop()


def test_disk_and_close_checks_open_and_clear_their_incidents(
    servers: tuple[SmtpServer, WebhookServer], ledger: Ledger, tmp_path: Path
) -> None:
    smtp, web = servers
    to = notifier(smtp, web)
    base = {"paths": {"analysis": str(tmp_path / "analysis"), "final": str(tmp_path / "final")}}
    # The real file system's free space, against a threshold above it and one below it.
    full = config_from_dict({**base, "alerts": {"min_free_gib": 1e6, "close_by_hour": 15}}, tmp_path)
    roomy = config_from_dict({**base, "alerts": {"min_free_gib": 1e-6, "close_by_hour": 15}}, tmp_path)
    ledger.sync_plan([Sequence(1, SequenceType.CALIBRATION, 1873, 1, drs4_run=1872)])
    ledger.log_event("test", "an autopilot incident the checks do not answer for")
    reconcile(ledger, NIGHT, [RETRIES], to, T0)  # the autopilot's, before the checks run
    smtp.take(), web.take()

    before = close_deadline(NIGHT, 15) - dt.timedelta(minutes=1)
    conditions = night_checks(full, NIGHT, ledger, before)
    assert [c.kind for c in conditions] == [ConditionKind.DISK_LOW]  # analysis and final share a disk
    reconcile(ledger, NIGHT, conditions, to, before, scope=CHECKED_KINDS)
    (mail,) = smtp.take()
    assert subjects(web.take()) == [mail.subject]
    assert mail.subject.startswith(f"{PREFIX} night 2020-01-27: disk space low:")
    assert str(tmp_path / "analysis") in mail.subject and "alerts.min_free_gib = 1e+06" in mail.subject

    late = close_deadline(NIGHT, 15)
    conditions = night_checks(roomy, NIGHT, ledger, late)
    assert [c.kind for c in conditions] == [ConditionKind.NOT_CLOSED]
    report = reconcile(ledger, NIGHT, conditions, to, late, scope=CHECKED_KINDS)
    assert [i.kind for i in report.resolved] == ["disk_low"]
    assert sorted(i.kind for i in report.still_open) == ["retries_exhausted"]  # not in the checks' scope
    assert sorted(subjects(web.take())) == [
        f"{PREFIX} RESOLVED night 2020-01-27: {mail.subject.split(': ', 1)[1]}",
        f"{PREFIX} night 2020-01-27: night 2020-01-27 not closed by 2020-01-28 15:00 UTC",
    ]


def test_a_ledger_at_the_previous_schema_migrates_and_keeps_its_night(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for version in range(1, SCHEMA_VERSION):
        db.executescript(MIGRATIONS[version])
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
    db.execute("INSERT INTO sequences (seq, type, run, subruns) VALUES (1, 'DATA', 1875, 200)")
    db.commit()
    db.close()
    ledger = Ledger(path)
    try:
        assert ledger.schema_version == SCHEMA_VERSION
        assert [s.run for s in ledger.sequences()] == [1875]
        report = reconcile(ledger, NIGHT, [RETRIES], AppriseNotifier([]), T0)
        assert [i.key for i in report.opened] == ["retries_exhausted:run=1875"]
    finally:
        ledger.close()


def write_config(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "osa.toml"
    listed = ", ".join(json.dumps(u) for u in urls)
    path.write_text(
        f'[paths]\nstate = "state"\nanalysis = "analysis"\nlogs = "logs"\n\n'
        f'[alerts]\nsubject_prefix = "{PREFIX}"\nurls = [{listed}]\n'
    )
    return path


def test_alerts_test_says_per_url_whether_the_message_went(
    servers: tuple[SmtpServer, WebhookServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smtp, web = servers
    config = write_config(tmp_path, [smtp.url(), web.url("hook")])
    assert main(["--config", str(config), "alerts", "test"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" ")[0] for line in out] == ["alerts.urls[0]", "alerts.urls[1]"]
    assert all(line.endswith(": sent") for line in out)
    assert subjects(smtp.take()) == subjects(web.take()) == [f"{PREFIX} test message"]

    smtp.stop()
    assert main(["--config", str(config), "alerts", "test"]) == 14
    out = capsys.readouterr().out.splitlines()
    assert "NOT SENT" in out[0] and out[1].endswith(": sent")
    assert len(web.take()) == 1


def test_alerts_lists_open_and_recently_resolved_incidents(
    servers: tuple[SmtpServer, WebhookServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, web = servers
    path = write_config(tmp_path, [web.url()])
    config = load_config(path)
    ledger = Ledger(NightLayout(config, NIGHT).ledger_path)
    now = dt.datetime.now(dt.UTC)
    to = AppriseNotifier(config.alerts.urls, config.alerts.subject_prefix)
    try:
        reconcile(ledger, NIGHT, [CALIBRATION, RETRIES], to, now - dt.timedelta(hours=1))
        reconcile(ledger, NIGHT, [CALIBRATION], to, now - dt.timedelta(minutes=30))
    finally:
        ledger.close()
    assert main(["--config", str(path), "alerts", "--date", "2020-01-27", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["incidents"]
    assert [(i["key"], i["resolved_at"] is None, i["messages_unsent"]) for i in listed] == [
        ("calibration_failed:run=1873", True, 0),
        ("retries_exhausted:run=1875", False, 0),
    ]
    assert main(["--config", str(path), "alerts", "--date", "2020-01-27"]) == 0
    text = capsys.readouterr().out
    assert "1 open incident(s), 1 resolved" in text and "OPEN" in text and "run 01875" in text

    assert main(["--config", str(path), "alerts", "--date", "2020-01-26"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no ledger for the night 2020-01-26" in err


PASS = """
import datetime as dt, sys
from pathlib import Path
from osa_core.alert.notifier import AppriseNotifier
from osa_core.alert.reconcile import reconcile
from osa_core.model.conditions import Condition, ConditionKind
from osa_core.track.ledger import Ledger
condition = Condition(ConditionKind.RETRIES_EXHAUSTED, "run=1875", "run 01875: subruns 3, 17, 42 failed")
reconcile(Ledger(Path(sys.argv[1])), dt.date(2020, 1, 27), [condition], AppriseNotifier([sys.argv[2]]),
          dt.datetime(2020, 1, 28, 6, tzinfo=dt.UTC))
"""


def killed_pass(point: str, ledger: Path, url: str) -> None:
    """One pass in its own process, SIGKILLed at ``point`` (the project's fault hook)."""
    env = {**os.environ, "OSA_FAULT_KILL_AT": point}
    result = subprocess.run(
        [sys.executable, "-c", PASS, str(ledger), url], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


@pytest.mark.parametrize("point, before", [("alert-claimed", 0), ("alert-sent", 1)])
def test_a_pass_killed_around_a_message_sends_it_on_the_next_pass_once(
    servers: tuple[SmtpServer, WebhookServer], tmp_path: Path, point: str, before: int
) -> None:
    smtp, _ = servers
    path = tmp_path / "ledger.sqlite"
    killed_pass(point, path, smtp.url())
    assert len(smtp.take()) == before  # killed before the send, or right after it
    ledger = Ledger(path)
    try:
        # the next pass (another process: this one) sends it, saying it may be a second copy
        report = reconcile(ledger, NIGHT, [RETRIES], AppriseNotifier([smtp.url()]), T0)
        (mail,) = smtp.take()
        assert "run 01875" in mail.subject and "you may have received it twice" in mail.body
        assert len(report.sent) == 1 and report.sent[0].cut_off
        reconcile(ledger, NIGHT, [RETRIES], AppriseNotifier([smtp.url()]), T0 + dt.timedelta(minutes=5))
        assert smtp.take() == []
    finally:
        ledger.close()


def test_a_message_claimed_by_a_live_process_is_left_to_it(
    servers: tuple[SmtpServer, WebhookServer], ledger: Ledger
) -> None:
    smtp, _ = servers
    to = AppriseNotifier([smtp.url()])
    fold(ledger, [RETRIES], T0, to.targets)  # another pass has just opened it, and claims its message
    other = subprocess.Popen(["sleep", "60"])  # a real live process holds the claim
    try:
        (claimed,) = claim(ledger, to.targets, f"{socket.gethostname()}:{other.pid}", dt.datetime.now(dt.UTC))
        report = reconcile(ledger, NIGHT, [RETRIES], to, T0)
        assert report.sent == [] and report.failed == [] and smtp.take() == []
    finally:
        other.kill()
        other.wait()
    report = reconcile(ledger, NIGHT, [RETRIES], to, T0 + dt.timedelta(minutes=5))  # its process is gone
    assert [d.incident.key for d in report.sent] == [claimed.incident.key]
    assert len(smtp.take()) == 1
