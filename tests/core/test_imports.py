"""The engine stays light: in a fresh interpreter, neither the CLI's entry points nor any module of
``osa_core`` pulls in Textual, and the commands an operator or cron runs do not pull in lstchain,
ctapipe, matplotlib, pandas or apprise (apprise: half a second, the others seconds)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.nights import SEED, make_night

import osa_core

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("textual", "lstchain", "ctapipe", "matplotlib", "pandas", "apprise")

PROBE = """
import json, sys
{body}
print("\\n" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})))
"""


def fresh(body: str, cwd: Path = ROOT) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    """Run ``body`` in a new interpreter; return the heavy modules it left in sys.modules."""
    code = PROBE.format(body=body, heavy=set(HEAVY))
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result


def call_main(*argv: str) -> str:
    return f"""
from osa_core.cli.main import main
try:
    code = main({list(argv)!r})
except SystemExit as exc:
    code = exc.code
print("exit", code)
"""


def test_engine_entry_points_import_nothing_heavy() -> None:
    body = "import osa_core.cli.main, osa_core.engine, osa_core.model.snapshot, osa_core.cli.status_view"
    heavy, _ = fresh(body)
    assert heavy == []


def test_plan_imports_nothing_heavy() -> None:
    heavy, result = fresh(call_main("plan", str(SEED), "--json"))
    assert "exit 0" in result.stdout
    assert heavy == []


def test_status_help_imports_nothing_heavy() -> None:
    heavy, result = fresh(call_main("status", "--help"))
    assert "exit 0" in result.stdout and "--json" in result.stdout
    assert heavy == []


def test_status_of_a_night_imports_nothing_heavy(tmp_path: Path) -> None:
    night = make_night(tmp_path, "local")
    heavy, result = fresh(call_main("--config", str(night.config), "status", "--json", "--date", night.date))
    assert "exit 0" in result.stdout, result.stderr
    assert heavy == []


def test_status_json_does_not_import_the_table_code(tmp_path: Path) -> None:
    """A script polling ``status --json`` pays neither for Rich nor for the tables it never draws."""
    night = make_night(tmp_path, "local")
    body = call_main("--config", str(night.config), "status", "--json", "--date", night.date)
    drawn = "('rich', 'osa_core.cli.status_view')"
    body += f"\nprint('\\n' + json.dumps(sorted(m for m in sys.modules if m.startswith({drawn}))))"
    _, result = fresh(body)
    assert "exit 0" in result.stdout, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []


def osa_modules() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages(osa_core.__path__, "osa_core.")]
    return ["osa_core", *sorted(n for n in names if not n.endswith("__main__"))]


EACH = """
import importlib, json, sys, traceback
report = {"broken": {}, "textual": []}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        report["broken"][name] = f"{type(exc).__name__}: {exc}"
    if "textual" in sys.modules:
        report["textual"].append(name)  # the first module that pulled it in
        break
print(json.dumps(report))
"""


def test_every_osa_core_module_imports_without_textual() -> None:
    """One fresh interpreter imports every module in turn and names the first that brings Textual."""
    modules = osa_modules()
    assert "osa_core.engine" in modules and "osa_core.track.tracking" in modules
    result = subprocess.run(
        [sys.executable, "-c", EACH, *modules],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["broken"] == {}, "modules that do not import"
    assert report["textual"] == [], "osa_core must never import textual"


@pytest.mark.parametrize(
    "module", ["osa_core.pipeline.lstchain", "osa_core.pipeline", "osa_core.jobs.runner"]
)
def test_the_lstchain_profile_imports_lstchain_only_when_a_step_needs_it(module: str) -> None:
    heavy, _ = fresh(f"import {module}")
    assert heavy == []


def test_listing_a_nights_alerts_does_not_load_apprise(tmp_path: Path) -> None:
    (tmp_path / "osa.toml").write_text('[alerts]\nurls = ["json://127.0.0.1:9/hook"]\n')
    heavy, result = fresh(call_main("--config", "osa.toml", "alerts", "--date", "2020-01-27"), cwd=tmp_path)
    assert "exit 2" in result.stdout and "no ledger" in result.stderr
    assert heavy == []
