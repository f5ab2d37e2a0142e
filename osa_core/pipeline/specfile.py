"""Reading a profile file (TOML): every key, type, placeholder and step order checked when read.

A bad file is answered with one line, ``FILE:LINE: what`` (:class:`ConfigError`, exit code 2),
naming the step; never a traceback, and never at 3 a.m. in 200 failed subruns.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from osa_core.model.errors import ConfigError
from osa_core.model.resources import memory_mb, walltime_seconds
from osa_core.pipeline.hooks import PREPARE, SETTINGS
from osa_core.pipeline.spec import (
    Condition,
    Group,
    Item,
    Level,
    LevelSpec,
    ProfileSpec,
    Resources,
    StepSpec,
    Variant,
)
from osa_core.pipeline.template import NAME, syntax_problem

FORMAT = 1
TOP_KEYS = {
    "format", "name", "description", "simulation", "settings", "env", "path", "placeholders", "stages",
}  # fmt: skip
LEVEL_KEYS = {"steps", "requires", "first_note", "resources", "prepare"}
STEP_KEYS = {
    "name",
    "label",
    "executable",
    "argv",
    "inputs",
    "outputs",
    "when",
    "unless",
    "requires",
    "note",
    "env",
    "skip_when_done",
    "variants",
}
GROUP_KEYS = {"when", "unless", "unless_argv", "add"}
VARIANT_KEYS = {"argv", "inputs", "outputs", "note"}


class _Reader:
    """One file's checks; ``fail`` raises the one-line error with the best line it can find."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def line_of(self, pattern: str, after: int = 0) -> int | None:
        regex = re.compile(pattern)
        for number, line in enumerate(self.lines[after:], start=after + 1):
            if regex.search(line):
                return number
        return None

    def fail(self, message: str, line: int | None = None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line)

    def keys(self, table: dict[str, Any], allowed: set[str], where: str, line: int | None) -> None:
        for key in table:
            if key not in allowed:
                expected = ", ".join(sorted(allowed))
                at = self.line_of(rf"^\s*{re.escape(key)}\s*=", (line or 1) - 1) or line
                raise self.fail(f"{where}: unknown key {key!r} (expected one of: {expected})", at)

    def string(self, value: Any, where: str, line: int | None, empty: bool = False) -> str:
        if not isinstance(value, str) or (not empty and not value):
            raise self.fail(
                f"{where}: expected {'a' if empty else 'a non-empty'} string, got {value!r}", line
            )
        problem = syntax_problem(value)
        if problem:
            raise self.fail(f"{where}: {problem}", line)
        return value

    def strings(self, value: Any, where: str, line: int | None) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(f"{where}: expected a list of strings, got {value!r}", line)
        return tuple(self.string(v, f"{where}[{i}]", line) for i, v in enumerate(value))

    def table(self, value: Any, where: str, line: int | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(f"{where}: expected a table, got {value!r}", line)
        return value

    def pairs(self, value: Any, where: str, line: int | None) -> tuple[tuple[str, str], ...]:
        table = self.table(value, where, line)
        return tuple((str(k), self.string(v, f"{where}.{k}", line)) for k, v in table.items())

    def items(self, value: Any, where: str, line: int | None) -> tuple[Item, ...]:
        if not isinstance(value, list):
            raise self.fail(f"{where}: expected a list of words and {{when/unless, add}} groups", line)
        out: list[Item] = []
        for i, item in enumerate(value):
            at = f"{where}[{i}]"
            if isinstance(item, dict):
                self.keys(item, GROUP_KEYS, at, line)
                if "add" not in item:
                    raise self.fail(f"{at}: a group needs 'add', the words it adds", line)
                out.append(
                    Group(self.condition(item, at, line), self.strings(item["add"], f"{at}.add", line))
                )
            else:
                out.append(self.string(item, at, line))
        return tuple(out)

    def condition(self, table: dict[str, Any], where: str, line: int | None) -> Condition:
        get = {
            k: self.string(table[k], f"{where}.{k}", line) if k in table else None
            for k in ("when", "unless", "unless_argv")
        }
        return Condition(get["when"], get["unless"], get["unless_argv"])


def read_profile(path: Path) -> ProfileSpec:
    """Read and check a profile file; :class:`ConfigError` names the file, line and step."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("no such profile file", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read profile: {exc}", path=path) from None
    r = _Reader(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+)", str(exc))
        raise r.fail(f"not valid TOML: {exc}", int(found.group(1)) if found else None) from None
    r.keys(data, TOP_KEYS | {lv.value for lv in Level}, "profile", 1)
    if data.get("format") != FORMAT:
        raise r.fail(
            f"format: expected {FORMAT} (this program's profile format), got {data.get('format')!r}",
            r.line_of(r"^\s*format\s*="),
        )
    settings = data.get("settings", "none")
    if settings not in SETTINGS:
        raise r.fail(
            f"settings: unknown hook {settings!r} (known: {', '.join(sorted(SETTINGS))})",
            r.line_of(r"^\s*settings\s*="),
        )
    simulation = data.get("simulation", False)
    if not isinstance(simulation, bool):
        raise r.fail(f"simulation: expected true or false, got {simulation!r}", r.line_of(r"^\s*simulation"))
    derived_line = r.line_of(r"^\s*\[placeholders\]")
    derived: dict[str, tuple[str, ...]] = {}
    for name, value in r.table(data.get("placeholders", {}), "placeholders", derived_line).items():
        at = f"placeholders.{name}"
        line = r.line_of(rf"^\s*{re.escape(name)}\s*=", (derived_line or 1) - 1)
        if not NAME.match(name):
            raise r.fail(f"{at}: a placeholder name is lower-case letters, digits and _", line)
        derived[name] = (r.string(value, at, line),) if isinstance(value, str) else r.strings(value, at, line)
    stages_line = r.line_of(r"^\s*\[stages\]")
    stages: dict[str, bool] = {}
    for name, value in r.table(data.get("stages", {}), "stages", stages_line).items():
        line = r.line_of(rf"^\s*{re.escape(name)}\s*=", (stages_line or 1) - 1)
        if not NAME.match(name):
            raise r.fail(f"stages.{name}: a stage name is lower-case letters, digits and _", line)
        if not isinstance(value, bool):
            raise r.fail(f"stages.{name}: expected true (on by default) or false, got {value!r}", line)
        if name in derived:
            raise r.fail(f"stages.{name}: also a derived placeholder", line)
        stages[name] = value
    spec = ProfileSpec(
        path=path,
        name=r.string(data.get("name"), "name", r.line_of(r"^\s*name\s*=")),
        description=r.string(data.get("description", ""), "description", None, empty=True),
        simulation=simulation,
        settings=settings,
        env=r.pairs(data.get("env", {}), "env", r.line_of(r"^\s*env\s*=")),
        path_prepend=r.strings(data.get("path", []), "path", r.line_of(r"^\s*path\s*=")),
        placeholders=derived,
        levels={lv: _level(r, lv, data[lv.value]) for lv in Level if lv.value in data},
        stages=stages,
    )
    from osa_core.pipeline.speccheck import check_profile

    check_profile(spec, r.fail, r.line_of)
    return spec


def _level(r: _Reader, level: Level, value: Any) -> LevelSpec:
    line = r.line_of(rf"^\s*\[\[?{level.value}[.\]]")
    table = r.table(value, level.value, line)
    r.keys(table, LEVEL_KEYS, level.value, line)
    prepare = table.get("prepare")
    if prepare is not None and (level is not Level.NIGHT or prepare not in PREPARE):
        where = (
            "only the night level has a prepare hook"
            if level is not Level.NIGHT
            else (f"unknown hook {prepare!r} (known: {', '.join(sorted(PREPARE))})")
        )
        raise r.fail(f"{level.value}.prepare: {where}", r.line_of(r"^\s*prepare\s*=", (line or 1) - 1))
    steps_value = table.get("steps", [])
    if not isinstance(steps_value, list):
        raise r.fail(f"{level.value}.steps: expected [[{level.value}.steps]] tables", line)
    if steps_value and level is Level.NIGHT:
        raise r.fail(
            "night.steps: the engine does not run night-level steps yet (only [night] prepare)", line
        )
    header = rf"^\s*\[\[{level.value}\.steps\]\]"
    steps, after = [], 0
    for i, raw in enumerate(steps_value):
        after = r.line_of(header, after) or after
        where = f"{level.value}.steps[{i}]"
        step_table = r.table(raw, where, after or line)
        name = step_table.get("name")
        named = rf"^\s*name\s*=\s*[\"']{re.escape(name)}[\"']" if isinstance(name, str) else None
        step_line = (r.line_of(named, after - 1) if named else None) or after or line
        steps.append(_step(r, where, step_table, step_line))
    resources = r.table(table.get("resources", {}), f"{level.value}.resources", line)
    r.keys(resources, {"memory", "walltime"}, f"{level.value}.resources", line)
    for key, parse in (("memory", memory_mb), ("walltime", walltime_seconds)):
        if key in resources:
            try:
                if parse(r.string(resources[key], f"{level.value}.resources.{key}", line)) <= 0:
                    raise ValueError
            except (ValueError, IndexError):
                raise r.fail(f"{level.value}.resources.{key}: not a SLURM {key}: {resources[key]!r}", line)
    return LevelSpec(
        level=level,
        steps=tuple(steps),
        requires=r.pairs(table.get("requires", {}), f"{level.value}.requires", line),
        first_note=r.string(table.get("first_note", ""), f"{level.value}.first_note", line, empty=True),
        resources=Resources(resources.get("memory"), resources.get("walltime")),
        prepare=prepare,
    )


def _step(r: _Reader, where: str, table: dict[str, Any], line: int | None) -> StepSpec:
    name = r.string(table.get("name"), f"{where}.name", line)
    where = f"step {name!r}"
    r.keys(table, STEP_KEYS, where, line)
    if not NAME.match(name):
        raise r.fail(f"{where}: a step name is lower-case letters, digits and _", line)
    skip = table.get("skip_when_done", True)
    if not isinstance(skip, bool):
        raise r.fail(f"{where}.skip_when_done: expected true or false, got {skip!r}", line)
    variants = []
    for exe, value in r.table(table.get("variants", {}), f"{where}.variants", line).items():
        at = f"{where}.variants.{exe}"
        vt = r.table(value, at, line)
        r.keys(vt, VARIANT_KEYS, at, line)
        lists = {
            k: r.items(vt[k], f"{at}.{k}", line) if k in vt else None for k in ("argv", "inputs", "outputs")
        }
        note = r.string(vt["note"], f"{at}.note", line, empty=True) if "note" in vt else None
        variants.append((exe, Variant(lists["argv"], lists["inputs"], lists["outputs"], note)))
    return StepSpec(
        name=name,
        label=r.string(table.get("label", name), f"{where}.label", line),
        executable=r.string(table.get("executable"), f"{where}.executable", line),
        argv=r.items(table.get("argv", []), f"{where}.argv", line),
        inputs=r.items(table.get("inputs", []), f"{where}.inputs", line),
        outputs=r.items(table.get("outputs", []), f"{where}.outputs", line),
        condition=r.condition(table, where, line),
        requires=r.pairs(table.get("requires", {}), f"{where}.requires", line),
        note=r.string(table.get("note", ""), f"{where}.note", line, empty=True),
        env=r.pairs(table.get("env", {}), f"{where}.env", line),
        skip_when_done=skip,
        variants=tuple(variants),
        line=line,
    )
