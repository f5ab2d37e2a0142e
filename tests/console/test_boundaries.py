"""The boundary between engine and console, checked in fresh interpreters.

``osa_core`` never imports Textual (cron and scripts run it without a terminal UI); the console
never imports the scheduler, ledger or SQL modules itself (it goes through the engine); and the
console's start-up imports nothing heavy, so that the first frame comes in well under a second.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from console_fakes import FixedPort, synthetic_night

from osa_console.app import OsaConsole
from osa_console.app_port import ConsolePort, NightSource
from osa_console.settings import ConsoleSettings

ROOT = Path(__file__).resolve().parents[2]

IMPORT_ALL = """
import importlib, json, pkgutil, sys
package = importlib.import_module({package!r})
skipped = []
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
    except ImportError as exc:
        # Optional back ends whose library is not installed here (pyslurm, lstchain).
        if exc.name and exc.name.split(".")[0] in {{"pyslurm", "lstchain"}}:
            skipped.append(info.name)
            continue
        raise
print(json.dumps({{"modules": sorted(sys.modules), "skipped": skipped}}))
"""


def imported_by(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1])["modules"])


def test_osa_core_never_imports_textual() -> None:
    modules = imported_by(IMPORT_ALL.format(package="osa_core"))
    assert "osa_core.engine" in modules  # the walk did reach the engine
    assert not [m for m in modules if m == "textual" or m.startswith("textual.")]


def test_console_holds_no_scheduler_or_sql_code() -> None:
    modules = imported_by(IMPORT_ALL.format(package="osa_console"))
    assert "osa_console.app" in modules
    forbidden = (
        "osa_core.scheduler",
        "osa_core.track.ledger",
        "osa_core.engine",
        "osa_core.track.tracking",
        "osa_core.track.lock",
    )
    found = [
        m for m in modules if m.startswith(forbidden) or m in ("sqlite3", "_sqlite3", "paramiko", "pyslurm")
    ]
    assert found == []


def test_console_start_imports_nothing_heavy() -> None:
    code = (
        "import json, sys, osa_console.__main__, osa_console.app;"
        "print(json.dumps({'modules': sorted(sys.modules)}))"
    )
    modules = imported_by(code)
    heavy = ("pandas", "matplotlib", "lstchain", "numpy", "astropy", "scipy", "numba")
    assert [m for m in modules if m.split(".")[0] in heavy] == []


def test_only_the_command_imports_the_app() -> None:
    """Screens, commands and operations reach the app through ``app_port.py``: any import of
    ``osa_console.app`` from them (lazy or TYPE_CHECKING ones too) would close an import cycle."""
    importers = []
    for path in sorted((ROOT / "osa_console").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "osa_console.app" in names:
                importers.append(path.relative_to(ROOT).as_posix())
    assert importers == ["osa_console/__main__.py"]


def test_the_app_offers_what_its_screens_use(settings: ConsoleSettings) -> None:
    app = OsaConsole(lambda: FixedPort(synthetic_night()), settings)
    port: ConsolePort = app  # mypy checks the shape; the screens' host is the app itself
    night: NightSource = app
    assert port.operations is app.operations and night.engine is None and port.settings is settings
