"""The ``osa-console`` command line: arguments, the current night, errors as messages."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
from conftest import wait_for

from osa_console.__main__ import main, parse_args
from osa_core.model.night_clock import current_night

ROOT = Path(__file__).resolve().parents[2]


def test_arguments() -> None:
    args = parse_args(["--date", "2020-01-27", "--config", "x.toml", "--theme", "osa-night"])
    assert args.date == dt.date(2020, 1, 27)
    assert args.config == Path("x.toml") and args.theme == "osa-night" and not args.demo
    assert parse_args(["--demo"]).demo


def test_bad_date_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--date", "27/01/2020"])
    assert exit_.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_current_night_crosses_midnight() -> None:
    # 04:00 UTC on the 28th belongs to the night that began on the 27th.
    assert current_night(dt.datetime(2020, 1, 28, 4, 0, tzinfo=dt.UTC), 12) == dt.date(2020, 1, 27)
    assert current_night(dt.datetime(2020, 1, 28, 13, 0, tzinfo=dt.UTC), 12) == dt.date(2020, 1, 28)


def test_bad_config_is_a_message_and_an_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "osa.toml"
    config.write_text("[scheduler]\nbackend = 'nonsense'\n")
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert str(config) in err and "scheduler.backend" in err


def test_help_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "osa_console", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0
    assert "--demo" in out.stdout and "--theme" in out.stdout


async def test_a_night_that_cannot_be_opened_exits_with_its_message(tmp_path: Path) -> None:
    """Opening happens after the first frame; its error ends the app with the engine's words."""
    from osa_console.app import OsaConsole
    from osa_console.settings import ConsoleSettings
    from osa_core.model.errors import InputError

    def cannot_open() -> NoReturn:
        raise InputError("no such night file", path=tmp_path / "NightSummary_20200127.txt")

    app = OsaConsole(cannot_open, ConsoleSettings(prefs_path=tmp_path / "prefs.json", auto_refresh=False))
    async with app.run_test() as pilot:
        # the engine is opened after the first frame: on a loaded machine, later than 0.2 s
        await wait_for(pilot, lambda: app.return_code is not None, 30, "the app to exit")
    assert app.return_code == InputError.exit_code
    assert app.open_error is not None
    assert app.open_error.endswith("NightSummary_20200127.txt: no such night file")
