"""The reference docs move with the code: the generated configuration pages are up to date, every
configuration field and every ``osa-core`` command and option is documented, and the examples
in the docs are valid (TOML that loads, cron lines that sh can parse)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import msgspec
import pytest

from osa_core.cli.main import build_parser
from osa_core.model import errors
from osa_core.model.config import ConfigFile, config_from_dict

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DOCS = ROOT / "docs" / "config"
CLI_DOC = ROOT / "docs" / "cli.md"
GENERATOR = ROOT / "dev" / "config_docs.py"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("config-docs")
    subprocess.run([sys.executable, str(GENERATOR), "--out", str(out)], check=True, timeout=60)
    return out


def test_generated_config_pages_are_committed_and_up_to_date(generated: Path) -> None:
    pages = sorted(p.name for p in generated.iterdir())
    assert {"README.md", "paths.md", "scheduler.md", "pipeline.md", "close.md", "webserver.md"} <= set(pages)
    stale = [
        name
        for name in pages
        if not (CONFIG_DOCS / name).is_file()
        or (CONFIG_DOCS / name).read_text() != (generated / name).read_text()
    ]
    assert stale == [], f"run `.venv/bin/python dev/config_docs.py`: {stale} differ from the config schema"


def test_generator_check_mode(tmp_path: Path, generated: Path) -> None:
    check = [sys.executable, str(GENERATOR), "--check", "--out"]
    assert subprocess.run([*check, str(generated)], capture_output=True, timeout=60).returncode == 0
    (tmp_path / "paths.md").write_text("stale\n")
    result = subprocess.run([*check, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "paths.md is out of date" in result.stderr


def config_fields() -> list[tuple[str, str]]:
    """(page, dotted key) for every TOML key of the configuration, nested tables included."""
    out: list[tuple[str, str]] = []

    def is_table(tp: object) -> bool:
        return isinstance(tp, type) and issubclass(tp, msgspec.Struct)

    def walk(cls: type, prefix: str, page: str) -> None:
        hints = typing.get_type_hints(cls)
        for name in cls.__struct_fields__:  # type: ignore[attr-defined]
            dotted = f"{prefix}.{name}" if prefix else name
            tp = hints[name]
            inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
            if is_table(tp):
                walk(tp, dotted, page or name)
            elif inner is not None and is_table(inner):
                out.append((page, dotted))
                walk(inner, dotted, page)
            else:
                out.append((page or name, dotted))

    walk(ConfigFile, "", "")
    return out


def test_every_config_field_is_documented() -> None:
    fields = config_fields()
    assert ("webserver", "webserver.known_hosts") in fields
    assert ("pipeline", "pipeline.simulate.failures.exit_code") in fields
    missing = []
    for page, dotted in fields:
        path = CONFIG_DOCS / f"{page}.md"
        text = path.read_text() if path.is_file() else ""
        table, _, key = dotted.rpartition(".")
        if f"| `{key}` |" not in text or (table.count(".") and f"[{table}]" not in text):
            missing.append(dotted)
    assert missing == [], "configuration keys without a row in docs/config/"


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", sorted(p.name for p in CONFIG_DOCS.glob("*.md")))
def test_config_examples_load(page: str, tmp_path: Path) -> None:
    for block in toml_blocks((CONFIG_DOCS / page).read_text()):
        config_from_dict(tomllib.loads(block), tmp_path, source=f"docs/config/{page}")


def test_the_index_links_every_page() -> None:
    index = (CONFIG_DOCS / "README.md").read_text()
    for page in CONFIG_DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"]({page.name}" in index, page.name


# --- docs/cli.md -------------------------------------------------------------------------------------


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def visible_options(parser: argparse.ArgumentParser) -> list[str]:
    names = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            names.append(max(action.option_strings, key=len))
        else:
            names.append(action.dest.upper())
    return names


def test_every_command_and_option_is_in_cli_md() -> None:
    text = CLI_DOC.read_text()
    commands = subcommands()
    assert {"plan", "submit", "status", "resubmit", "cancel", "run-subrun"} <= set(commands)
    missing = []
    for name, parser in commands.items():
        if f"`osa-core {name}`" not in text and f"`{name}`" not in text:
            missing.append(name)
            continue
        missing += [f"{name} {option}" for option in visible_options(parser) if option not in text]
    missing += [o for o in visible_options(build_parser()) if o not in text]
    assert missing == [], "commands or options not documented in docs/cli.md"


def test_every_exit_code_is_in_cli_md() -> None:
    text = CLI_DOC.read_text()
    codes = {
        cls.exit_code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.OsaError)
    }
    from osa_core.cli import main as cli

    codes |= {
        value for name, value in vars(cli).items() if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert {2, 3, 4, 5, 6, 7, 8, 10} <= codes
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", text, flags=re.M)}
    assert codes - documented == set()


def test_console_options_and_exit_codes_are_in_cli_md() -> None:
    import osa_console.serve
    from osa_console import __main__ as console

    text = CLI_DOC.read_text()
    section = text[text.index("## `osa-console`") :]
    parser = console.build_parser()
    assert [o for o in visible_options(parser) if f"`{o}" not in section] == []
    codes = {v for n, v in vars(osa_console.serve).items() if n.startswith("EXIT_") and isinstance(v, int)}
    documented = {int(m) for m in re.findall(r"^\| (\d+) \|", text, flags=re.M)}
    assert codes and codes - documented == set()


def test_cron_examples_are_valid_sh() -> None:
    (block,) = re.findall(r"```cron\n(.*?)```", CLI_DOC.read_text(), flags=re.S)
    commands = [
        line.split(None, 5)[5].replace("\\%", "%")
        for line in block.splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(commands) >= 4
    for command in commands:
        assert command.startswith("osa-core ")
        result = subprocess.run(["sh", "-n", "-c", command], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (command, result.stderr)
        argv = command.split(">")[0].split()
        assert argv[1] in subcommands(), command
