"""The checks of a profile file beyond its syntax: placeholders, conditions, step order, cycles.

Pure. Each problem is one :class:`ConfigError` naming the file, the step and its line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from osa_core.model.errors import ConfigError
from osa_core.pipeline.hooks import SETTINGS
from osa_core.pipeline.placeholders import GIVEN
from osa_core.pipeline.spec import Group, Item, Level, ProfileSpec, StepSpec
from osa_core.pipeline.template import list_word, names_in

Fail = Callable[[str, int | None], ConfigError]
LineOf = Callable[..., int | None]
LIST_NAMES = frozenset({"subrun_dl1", "subrun_dl2", "subrun_muons", "subrun_datacheck"})
# The engine's placeholders that name one file a step reads or writes: a step naming one in its
# argv must list it as an input or an output, or the runner can neither check it before the step
# starts nor remove a stale one before a rerun.
FILES = frozenset(
    {
        "raw", "drs4_raw", "pedcal_raw", "dl1", "dl2", "muons", "datacheck", "drs4", "charge", "time",
        "parent_drs4", "parent_charge", "parent_time",
    }
)  # fmt: skip
OPTION = re.compile(r"\A--?[A-Za-z0-9_.-]+=")


def _words(items: Iterable[Item]) -> list[str]:
    out: list[str] = []
    for item in items:
        out.extend(item.words if isinstance(item, Group) else (item,))
    return out


def _conditions(items: Iterable[Item]) -> list[str]:
    return [n for i in items if isinstance(i, Group) for n in (i.condition.when, i.condition.unless) if n]


def check_profile(spec: ProfileSpec, fail: Fail, line_of: LineOf) -> None:
    settings = SETTINGS[spec.settings]
    derived = spec.placeholders
    anywhere = set().union(*GIVEN.values()) | settings.names | settings.step_names
    for name in spec.stages:
        if name in anywhere:
            raise fail(f"stages.{name}: the engine already gives {{{name}}}", line_of(rf"^\s*{name}\s*="))
    anywhere |= set(spec.stages)
    for name, templates in derived.items():
        line = line_of(rf"^\s*{name}\s*=")
        if name in anywhere:
            raise fail(f"placeholders.{name}: the engine already gives {{{name}}}", line)
        for used in (u for t in templates for u in names_in(t)):
            if used not in anywhere and used not in derived:
                raise fail(f"placeholders.{name}: unknown placeholder {{{used}}}", line)
    _no_cycle(derived, fail, line_of)

    def known_at(level: Level) -> set[str]:
        base = set(GIVEN[level]) | settings.names | settings.step_names | set(spec.stages)
        changed = True
        while changed:  # a derived name is known where all its templates are
            changed = False
            for name, templates in derived.items():
                if name not in base and all(set(names_in(t)) <= base for t in templates):
                    base.add(name)
                    changed = True
        return base

    seen: dict[str, Level] = {}
    for level, lspec in spec.levels.items():
        known = known_at(level)
        where = f"[{level.value}]"
        for name, _ in lspec.requires:
            if name not in known:
                raise fail(f"{where} requires: unknown placeholder {{{name}}} at the {level} level", None)
        for word in [lspec.first_note]:
            _check_words(where, [word], known, level, fail, None, argv=True)
        for step in lspec.steps:
            if step.name in seen:
                raise fail(
                    f"step {step.name!r}: defined twice (also at the {seen[step.name]} level)", step.line
                )
            seen[step.name] = level
            _check_step(step, known, level, fail)
        _check_order(spec, level, lspec.steps, fail)


def _check_words(
    where: str, words: Iterable[str], known: set[str], level: Level, fail: Fail, line: int | None, argv: bool
) -> None:
    for word in words:
        for used in names_in(word):
            if used not in known:
                raise fail(
                    f"{where}: unknown placeholder {{{used}}} at the {level} level (in {word!r})", line
                )
            if used in LIST_NAMES and (argv or list_word(word) != used):
                raise fail(f"{where}: {{{used}}} is a list of files: only alone as an input or output", line)


def _check_step(step: StepSpec, known: set[str], level: Level, fail: Fail) -> None:
    where = f"step {step.name!r}"
    names = [step.condition.when, step.condition.unless]
    names += [n for n, _ in step.requires]
    forms = [(step.argv, step.inputs, step.outputs, step.note)]
    for _, v in step.variants:  # a variant keeps what it does not replace
        forms.append((
            step.argv if v.argv is None else v.argv,
            step.inputs if v.inputs is None else v.inputs,
            step.outputs if v.outputs is None else v.outputs,
            step.note if v.note is None else v.note,
        ))  # fmt: skip
    for argv, inputs, outputs, note in forms:
        if any(isinstance(i, Group) and i.condition.unless_argv for i in argv):
            raise fail(
                f"{where}: unless_argv is for groups of inputs and outputs (it tests the argv)", step.line
            )
        names += _conditions(argv) + _conditions(inputs) + _conditions(outputs)
        _check_words(where, [step.executable, *_words(argv), note], known, level, fail, step.line, argv=True)
        _check_words(where, _words(inputs) + _words(outputs), known, level, fail, step.line, argv=False)
        declared = set(_words(inputs)) | set(_words(outputs))
        for word in _words(argv):
            value = OPTION.sub("", word)
            name = list_word(value)
            if name in FILES and value not in declared:
                raise fail(
                    f"{where}: its argv names {value} but neither its inputs nor its outputs do "
                    "(the runner checks inputs before a step and removes stale outputs before a rerun)",
                    step.line,
                )
    for name in names:
        if name and name not in known:
            raise fail(
                f"{where}: condition on unknown placeholder {{{name}}} at the {level} level", step.line
            )


def _normal(word: str, derived: dict[str, tuple[str, ...]]) -> str:
    """A word with its single-template derived placeholders written out (to match inputs to outputs)."""
    for _ in range(10):
        changed = False
        for name, templates in derived.items():
            if len(templates) == 1 and f"{{{name}}}" in word:
                word = word.replace(f"{{{name}}}", templates[0])
                changed = True
        if not changed:
            break
    return word


def _check_order(spec: ProfileSpec, level: Level, steps: tuple[StepSpec, ...], fail: Fail) -> None:
    """Steps run in file order: a step must not read what a later step of its level writes."""
    makes = {s.name: {_normal(w, spec.placeholders) for w in _words(s.outputs)} for s in steps}
    needs: dict[str, set[str]] = {}
    for s in steps:
        wanted = {_normal(w, spec.placeholders) for w in _words(s.inputs)}
        needs[s.name] = {o.name for o in steps if o.name != s.name and wanted & makes[o.name]}
    cycle = _find_cycle(needs)
    if cycle:
        first = next(s for s in steps if s.name == cycle[0])
        raise fail(f"steps {' -> '.join(cycle)} form a cycle: each reads what the next writes", first.line)
    order = [s.name for s in steps]
    for s in steps:
        for dep in sorted(needs[s.name]):
            if order.index(dep) > order.index(s.name):
                raise fail(
                    f"step {s.name!r} reads what step {dep!r} writes, which comes after it in "
                    f"[{level.value}]: put {dep!r} first",
                    s.line,
                )


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _no_cycle(derived: dict[str, tuple[str, ...]], fail: Fail, line_of: LineOf) -> None:
    graph = {n: {u for t in ts for u in names_in(t) if u in derived} for n, ts in derived.items()}
    cycle = _find_cycle(graph)
    if cycle:
        raise fail(
            f"placeholders {' -> '.join(cycle)} refer to each other in a cycle",
            line_of(rf"^\s*{cycle[0]}\s*="),
        )
