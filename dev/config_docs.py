#!/usr/bin/env python3
"""Generate the configuration reference, ``docs/config/<section>.md``, from the config schema.

Every page lists, for each field of its section (``osa_core/model/config_schema.py``), the TOML
key, the type, the default, what is allowed (the same words an error uses, from the field's
declared limits) and the docstring written under the field (read from the source with ``ast``:
attribute docstrings are not kept at run time), and starts with an example TOML block.
``README.md`` (the index) is generated too.

    .venv/bin/python dev/config_docs.py            # rewrite docs/config/
    .venv/bin/python dev/config_docs.py --out DIR  # write elsewhere (tests compare the two)
    .venv/bin/python dev/config_docs.py --check    # exit 1 if docs/config/ is out of date

tests/core/test_docs.py fails when the committed pages differ from what this script writes.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from osa_core.model import config_schema as cfg  # noqa: E402
from osa_core.model.config_errors import describe as allowed  # noqa: E402

DOCS = ROOT / "docs" / "config"
MISSING = msgspec.NODEFAULT


@dataclass(frozen=True)
class Section:
    key: str
    """Dotted TOML table name (``pipeline.simulate``)."""
    cls: type
    title: str
    intro: str
    array: bool = False
    """An array of tables (``[[pipeline.simulate.failures]]``)."""


PAGES: dict[str, list[Section]] = {
    "paths": [
        Section(
            "paths",
            cfg.PathsConfig,
            "where the engine reads and writes",
            "Relative paths are relative to the directory of the configuration file (not the working "
            "directory), and every path is normalised to an absolute one when the file is read; `~` is "
            "expanded in path fields. The directories are created when first needed.",
        )
    ],
    "telescope": [
        Section("telescope", cfg.TelescopeConfig, "which telescope", "Used in file names and job names.")
    ],
    "night": [
        Section(
            "night",
            cfg.NightConfig,
            "what a night is, and which production",
            "The night date is the date on which the night starts (UTC); see "
            "[../nights-and-planning.md](../nights-and-planning.md).",
        )
    ],
    "scheduler": [
        Section(
            "scheduler",
            cfg.SchedulerConfig,
            "where and how the jobs run",
            "Memory and wall time use SLURM's notations: `4G`, `500M` (a bare number is megabytes); "
            "`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`. The same values drive the "
            "`local` backend.",
        )
    ],
    "pipeline": [
        Section(
            "pipeline",
            cfg.PipelineConfig,
            "which steps run",
            "The profile chooses the steps of a calibration job and of a data subrun. `simulate` runs "
            'placeholders (every product says `"simulated": true` and every front end shows '
            "SIMULATION); `lstchain` runs lstchain's executables.",
        ),
        Section(
            "pipeline.simulate",
            cfg.SimulateConfig,
            "the simulation profile",
            "Each step waits, then writes a small placeholder product. Failures can be injected for "
            "chosen runs, subruns, steps and attempts.",
        ),
        Section(
            "pipeline.simulate.failures",
            cfg.Failure,
            "injected failures",
            "One table per failure. A task fails at the first step that matches its run, subrun, step "
            "and attempt, with the given exit code.",
            array=True,
        ),
        Section(
            "pipeline.lstchain",
            cfg.LstchainConfig,
            "the lstchain profile",
            "Where lstchain's inputs are. lstchain is never imported by the engine; its executables run "
            "as the job's steps.",
        ),
        Section(
            "pipeline.calibration",
            cfg.CalibrationConfig,
            "existing calibration files",
            "Files named here are used instead of being computed by the calibration sequence; data runs "
            "without a calibration sequence in the night can then be processed too.",
        ),
    ],
    "close": [
        Section(
            "close",
            cfg.CloseConfig,
            "closing the night",
            "Read by the closer, which merges subrun products per run and moves them to their final place.",
        )
    ],
    "webserver": [
        Section(
            "webserver",
            cfg.WebServerConfig,
            "where the datacheck is published (`osa-core push`)",
            "Read by `osa-core push` (see [../publishing.md](../publishing.md)). Paths are relative to "
            "the configuration file's directory unless absolute; `~` is expanded. The manifest of what "
            "was published (size and SHA-256 per remote path) is kept by the engine, not configured "
            "here: see [../publishing.md](../publishing.md#unchanged-files-are-skipped).",
        )
    ],
    "alerts": [
        Section(
            "alerts",
            cfg.AlertsConfig,
            "who hears about a night's incidents, and when",
            "Incidents are kept in the night ledger: one message when an incident opens, one when it "
            "clears, whatever the number of passes in between. The URLs are checked when the file is "
            "read (the scheme against apprise's, the shape); `osa-core alerts test` sends a test "
            "message to each. See [../alerts.md](../alerts.md) for every alert and URL examples.",
        )
    ],
    "autopilot": [
        Section(
            "autopilot",
            cfg.AutopilotConfig,
            "the night running itself (`osa-core autopilot`)",
            "Read by `osa-core autopilot`, one idempotent pass from cron or a `--watch` loop: what it "
            "submits, retries, closes and pushes, and when (see [../operations.md](../operations.md)).",
        )
    ],
}

EXAMPLES: dict[str, str] = {
    "alerts.urls": '["mailtos://osa:secret@smtp.example.org?to=lst-onsite@example.org", '
    '"mmost://chat.example.org/abcdefghijklmnopqrstuvwxyz"]',
    "autopilot.retry_patterns": '["Stale file handle"]',
    "scheduler.partition": '"short"',
    "scheduler.account": '"lst"',
    "scheduler.extra_sbatch_args": '["--qos=normal"]',
    "pipeline.simulate.step_seconds": "{ r0_to_dl1 = 3.0, dl1_to_dl2 = 1.0 }",
    "pipeline.simulate.failures.run": "1874",
    "pipeline.simulate.failures.step": '"r0_to_dl1"',
    "pipeline.simulate.failures.subrun": "3",
    "pipeline.lstchain.config": '"lstchain_standard_config.json"',
    "pipeline.lstchain.models": '"/fefs/aswg/data/models/AllSky/20230901_v0.10.4_allsky_base_prod"',
    "pipeline.lstchain.pointing": '"/fefs/onsite/monitoring/driveLST1/DriveReports/drive_log_20_01_27.txt"',
    "pipeline.lstchain.run_summary_dir": '"/fefs/aswg/data/real/monitoring/RunSummary"',
    "pipeline.lstchain.executables": '{ r0_to_dl1 = "/opt/lstchain/bin/lstchain_data_r0_to_dl1" }',
    "pipeline.lstchain.extra_args": '{ dl1_datacheck = ["--batch"] }',
    "pipeline.calibration.drs4": '"calibration/drs4_pedestal.Run01872.0000.h5"',
    "pipeline.calibration.charge": '"calibration/calibration_filters_52.Run01873.0000.h5"',
    "pipeline.calibration.time": '"calibration/time_calibration.Run01873.0000.h5"',
    "pipeline.runner": '"/opt/osa/bin/osa-core"',
    "webserver.host": '"datacheck.example.org"',
    "webserver.user": '"lstanalyzer"',
    "webserver.key_file": '"~/.ssh/id_ed25519_datacheck"',
    "webserver.known_hosts": '"known_hosts_datacheck"',
}


# --- reading the source -----------------------------------------------------------------------------


def attribute_docs(source: str) -> dict[str, dict[str, str]]:
    """``{class: {field: docstring}}`` from the string literal written under each annotated field."""
    out: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        body = node.body
        for here, after in itertools.pairwise(body):
            if (
                isinstance(here, ast.AnnAssign)
                and isinstance(here.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[here.target.id] = inspect.cleandoc(after.value.value)
        out[node.name] = docs
    return out


def fields(cls: type) -> list[msgspec.structs.FieldInfo]:
    return list(msgspec.structs.fields(cls))  # type: ignore[arg-type]


def is_table(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def is_table_array(tp: Any) -> bool:
    return typing.get_origin(tp) is list and is_table(typing.get_args(tp)[0])


# --- rendering --------------------------------------------------------------------------------------


def describe(tp: Any, plural: bool = False) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return describe(typing.get_args(tp)[0], plural)
    if origin is Literal:
        values = [f'`"{v}"`' for v in typing.get_args(tp)]
        return ", ".join(values[:-1]) + f" or {values[-1]}"
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return f"{describe(inner)} (optional)"
    if origin is list:
        inner = typing.get_args(tp)[0]
        if is_table(inner):
            return "array of tables"
        return f"{'lists' if plural else 'list'} of {describe(inner, plural=True)}"
    if origin is dict:
        return f"table of {describe(typing.get_args(tp)[1], plural=True)}"
    if is_table(tp):
        return "table"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    name = names.get(tp, getattr(tp, "__name__", str(tp)))
    return name + "s" if plural else name


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def default_of(field: msgspec.structs.FieldInfo) -> Any:
    if field.default is not MISSING:
        return field.default
    if field.default_factory is not MISSING:
        return field.default_factory()
    return MISSING


def default_cell(field: msgspec.structs.FieldInfo, tp: Any) -> str:
    value = default_of(field)
    if value is MISSING:
        return "required"
    if value is None:
        return "not set"
    if is_table(tp):
        return "see below"
    if is_table_array(tp):
        return "none" if value == [] else f"{len(value)} tables"
    return f"`{toml_value(value)}`"


def cell(text: str) -> str:
    """One table cell: one line, Markdown code spans for the docstrings' reST ones."""
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def example_lines(section: Section) -> list[str]:
    """``key = value`` for each field: its default, or a commented example where it has none."""
    hints = typing.get_type_hints(section.cls, include_extras=True)
    lines = [f"[[{section.key}]]" if section.array else f"[{section.key}]"]
    for field in fields(section.cls):
        tp = hints[field.name]
        if is_table(tp) or is_table_array(tp):
            continue
        dotted = f"{section.key}.{field.name}"
        value = default_of(field)
        example = EXAMPLES.get(dotted)
        if value is MISSING:
            lines.append(f"{field.name} = {example}")
        elif value is None or (value in ([], {}, "") and example):
            lines.append(f"# {field.name} = {example or '...'}")
        else:
            lines.append(f"{field.name} = {toml_value(value)}")
    return lines


def field_table(section: Section, docs: dict[str, dict[str, str]]) -> list[str]:
    hints = typing.get_type_hints(section.cls, include_extras=True)
    rows = ["| key | type | default | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for field in fields(section.cls):
        tp = hints[field.name]
        text = docs.get(section.cls.__name__, {}).get(field.name, "")
        if is_table(tp) or is_table_array(tp):
            brackets = "[[{}]]" if is_table_array(tp) else "[{}]"
            target = f"{section.key}.{field.name}"
            anchor = anchor_of(brackets.format(target))
            text = text or f"See [`{brackets.format(target)}`](#{anchor})."
        what = "" if is_table(tp) or is_table_array(tp) else cell(allowed(tp))
        default = default_cell(field, tp)
        rows.append(f"| `{field.name}` | {describe(tp)} | {default} | {what} | {cell(text)} |")
    return rows


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading made of a code span (``[pipeline.simulate]``)."""
    return "".join(c for c in heading.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def render_page(name: str, sections: list[Section], docs: dict[str, dict[str, str]]) -> str:
    out = [
        "<!-- Generated by dev/config_docs.py from osa_core/model/config_schema.py: edit the "
        "declarations there, then run the script. -->",
        "",
    ]
    for section in sections:
        depth = section.key.count(".") + 1
        brackets = f"[[{section.key}]]" if section.array else f"[{section.key}]"
        heading = f"`{brackets}`"
        out.append(f"{'#' * depth} {heading}: {section.title}" if depth == 1 else f"{'#' * depth} {heading}")
        out.append("")
        if depth > 1:
            out += [f"{section.title[0].upper()}{section.title[1:]}. {section.intro}", ""]
        else:
            out += [section.intro, ""]
        out += ["```toml", *example_lines(section), "```", ""]
        out += [*field_table(section, docs), ""]
    return "\n".join(out)


def render_index() -> str:
    lines = [
        "<!-- Generated by dev/config_docs.py. -->",
        "",
        "# Configuration reference",
        "",
        "One TOML file configures the engine: `cfg/osa.toml` is the reference. `osa-core --config FILE`",
        "chooses another, then `$OSA_CONFIG`, then `cfg/osa.toml` in the working directory; with none",
        "of them the defaults below apply. Relative paths are relative to the file's directory.",
        "",
        "A key the program does not know, or a value of the wrong type or outside what the column",
        "*allowed* says, stops every command with exit code 2 and one line naming the file, the line,",
        "the key and what was expected, e.g.",
        "",
        "```",
        "osa-core: /opt/osa/cfg/osa.toml:21: scheduler.backend: expected 'local' or 'slurm' or 'pyslurm',"
        " got 'pbs'",
        "osa-core: /opt/osa/cfg/osa.toml:15: night.prod_id: expected a string that is one path component:"
        " letters, digits and . _ + - (not starting with . or -), got '../../../etc'",
        "```",
        "",
        "| section | page |",
        "| --- | --- |",
    ]
    for name, sections in PAGES.items():
        lines.append(f"| `[{name}]` | [{name}.md]({name}.md): {sections[0].title} |")
        for sub in sections[1:]:
            brackets = f"[[{sub.key}]]" if sub.array else f"[{sub.key}]"
            lines.append(f"| `{brackets}` | [{name}.md]({name}.md#{anchor_of(brackets)}): {sub.title} |")
    lines += ["", "See also [../cli.md](../cli.md) for the commands that read it.", ""]
    return "\n".join(lines)


def render_all() -> dict[str, str]:
    docs = attribute_docs(Path(cfg.__file__).read_text(encoding="utf-8"))
    pages = {f"{name}.md": render_page(name, sections, docs) for name, sections in PAGES.items()}
    pages["README.md"] = render_index()
    return pages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS, help="directory to write (default: docs/config)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if pages differ")
    args = parser.parse_args(argv)
    pages = render_all()
    if args.check:
        stale = [
            n
            for n, text in pages.items()
            if not (args.out / n).is_file() or (args.out / n).read_text() != text
        ]
        for name in stale:
            print(f"{args.out / name} is out of date: run dev/config_docs.py", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in pages.items():
        (args.out / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
