"""``paths.night_summary``: only ``{night}`` is substituted, only in the configured value, and a
template with anything else is refused when the config is read (issue 10, item 5).

Before, the value was joined with the config's directory and then went through ``str.format``:
a directory with braces in its name, a typo or ``{0}`` gave a traceback on every command, and
``{night.__class__}`` was evaluated. Real files and the CLI as a process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from osa_core.model.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "osa_core" / "data" / "nights" / "NightSummary_20200127.txt"

REFUSED = [
    ("typo", "raw/{nigth}/NightSummary_{night}.txt", "unknown placeholder {nigth}"),
    ("positional", "raw/{0}/NightSummary.txt", "unknown placeholder {0}"),
    ("empty", "raw/{}/NightSummary.txt", "unknown placeholder {}"),
    ("attribute", "raw/{night.__class__}/x.txt", "unknown placeholder {night.__class__}"),
    ("index", "raw/{night[0]}/x.txt", "unknown placeholder {night[0]}"),
    ("conversion", "raw/{night!r}/x.txt", "unknown placeholder {night!r}"),
    ("format-spec", "raw/{night:>10}/x.txt", "unknown placeholder {night:>10}"),
    ("other-name", "raw/{date}/x.txt", "unknown placeholder {date} (placeholders: {night})"),
    ("lone-open", "raw/{night/x.txt", "write {{ or }} for a literal brace"),
    ("lone-close", "raw/night}/x.txt", "write {{ or }} for a literal brace"),
]


@pytest.mark.parametrize(("name", "template", "expected"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_template_is_refused_when_the_config_is_read(
    tmp_path: Path, name: str, template: str, expected: str
) -> None:
    path = tmp_path / "osa.toml"
    path.write_text(f"[night]\nprod_id = \"v1\"\n[paths]\nnight_summary = '{template}'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}:4: paths.night_summary: "), message
    assert expected in message, message
    assert "\n" not in message


@pytest.mark.parametrize("dirname", ["{site}", "{0}", "{night}", "a}b{", "{night.__class__}"])
def test_braces_in_the_config_directory_are_not_placeholders(tmp_path: Path, dirname: str) -> None:
    site = tmp_path / dirname / "cfg"
    site.mkdir(parents=True)
    path = site / "osa.toml"
    path.write_text('[paths]\nnight_summary = "../raw/{night}/NightSummary_{night}.txt"\n')
    config = load_config(path)
    assert (
        config.night_summary_path("20200127") == tmp_path / dirname / "raw/20200127/NightSummary_20200127.txt"
    )


def test_doubled_braces_are_literal_and_absolute_values_stay(tmp_path: Path) -> None:
    config = config_from_dict({"paths": {"night_summary": "/data/{{x}}/{night}/{{night}}.txt"}}, tmp_path)
    assert config.night_summary_path("20200127") == Path("/data/{x}/20200127/{night}.txt")


def test_the_night_is_substituted_before_home_is_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A home directory with braces in its name is a path, not a template."""
    monkeypatch.setenv("HOME", str(tmp_path / "{home}"))
    config = config_from_dict({"paths": {"night_summary": "~/n/{night}.txt"}}, tmp_path)
    assert config.night_summary_path("20200127") == tmp_path / "{home}" / "n" / "20200127.txt"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osa_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_status_from_a_config_in_a_directory_with_braces(tmp_path: Path) -> None:
    """The seed night through ``status`` (read-only: nothing is submitted)."""
    site = tmp_path / "{lst}" / "cfg"
    site.mkdir(parents=True)
    raw = tmp_path / "{lst}" / "raw" / "20200127"
    raw.mkdir(parents=True)
    shutil.copy(SEED, raw / SEED.name)
    path = site / "osa.toml"
    path.write_text(
        '[paths]\nstate = "../state"\nlogs = "../logs"\nanalysis = "../work"\n'
        'night_summary = "../raw/{night}/NightSummary_{night}.txt"\n'
    )
    result = run_cli("--config", str(path), "status", "--date", "2020-01-27", "--json", cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["date"] == "2020-01-27"
    assert 1874 in {s["run"] for s in status["sequences"]}


def test_cli_names_the_key_of_an_evaluated_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "osa.toml"
    path.write_text('[paths]\nnight_summary = "{night.__class__}/NightSummary.txt"\n')
    result = run_cli("--config", str(path), "status", "--date", "2020-01-27", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        f"osa-core: {path}:2: paths.night_summary: unknown placeholder {{night.__class__}} "
        "(placeholders: {night})\n"
    )
