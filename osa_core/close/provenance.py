"""A run's provenance, written at closing: a W3C PROV record (PROV-JSON) of how its products were made.

Made from what the night already keeps, nothing re-parsed from logs: the step records the
job-side runner wrote (step, attempt, start and end, host, job id and array index, exit code,
outputs) and the profile's own step commands for the same task (executable, argv, inputs). Per
record: one activity per step and attempt (its job id, host, times, exit code, argv), one entity
per file (path, size and sha256 of every input and of the final products, read in blocks, never
whole), the configuration files typed as such, and one software agent per executable with the
version of the distribution that installs it (``importlib.metadata``: lstchain is not imported).
The calibration sequence's steps are in the record of every run that used its files.

The record goes beside the datacheck (``layout.web_provenance``) and is pushed with it. ``prov``
is imported only here, when a night closes (about 30 ms).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osa_core.close.merge import SIMULATED_MERGE, staging_layout, subrun_files
from osa_core.jobs.history import StepRecord, read_records
from osa_core.model.closestate import ClosingRun
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.records import Sequence as NightSequence
from osa_core.pipeline.base import (
    CalibrationContext,
    CalibrationProducts,
    Profile,
    StepCommand,
    SubrunContext,
)
from osa_core.pipeline.factory import is_simulation

if TYPE_CHECKING:
    from prov.model import ProvDocument

NAMESPACE = ("osa", "urn:x-lst1-osa:")
CONFIG_SUFFIXES = (".json", ".toml", ".yaml", ".yml", ".cfg")
"""Inputs with these suffixes are configuration files (typed ``osa:config`` in the record)."""
BLOCK = 1 << 20


@dataclass
class Checksums:
    """sha256 of each file, read once per closing however many runs name it (the calibration);
    files over ``max_bytes`` (0: none) are not read: :meth:`of` gives their size only."""

    max_bytes: int = 0
    known: dict[Path, tuple[str, int]] = field(default_factory=dict)

    def of(self, path: Path) -> tuple[str, int] | None:
        """(sha256, size); the digest is ``""`` for a file over the limit; None if unreadable."""
        if path in self.known:
            return self.known[path]
        try:
            size = path.stat().st_size
            if self.max_bytes and size > self.max_bytes:
                self.known[path] = ("", size)
                return self.known[path]
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while block := fh.read(BLOCK):
                    digest.update(block)
                size = os.fstat(fh.fileno()).st_size
        except OSError:
            return None
        self.known[path] = (digest.hexdigest(), size)
        return self.known[path]


@dataclass(frozen=True, slots=True)
class Task:
    """What ran for one task: its steps as the profile builds them, and the records it wrote."""

    label: str
    steps: tuple[StepCommand, ...]
    records: tuple[StepRecord, ...]
    final_names: dict[str, Path] = field(default_factory=dict)
    """Outputs written to staging and since moved: file name -> final path."""


def write_run_provenance(
    layout: NightLayout,
    profile: Profile,
    sequences: Sequence[NightSequence],
    run: ClosingRun,
    checksums: Checksums,
    night_runs: Sequence[int] = (),
) -> Path:
    """Write run ``run``'s PROV-JSON record beside the datacheck; return its path. ``night_runs``:
    the merged runs the night-wise job read (its steps are in each of their records)."""
    tasks = list(run_tasks(layout, profile, sequences, run, night_runs))
    doc = provenance_document(layout, tasks, checksums)
    path = layout.web_provenance(run.run)
    text = doc.serialize(format="json", indent=1)
    assert text is not None  # serialize() returns the text when it is given no destination
    atomic_write(path, text + "\n")
    return path


def run_tasks(
    layout: NightLayout,
    profile: Profile,
    sequences: Sequence[NightSequence],
    run: ClosingRun,
    night_runs: Sequence[int] = (),
) -> Iterable[Task]:
    """The calibration task the run's data used, each subrun's task, the run's merge job, and the
    night-wise job when it read this run."""
    data = next((s for s in sequences if s.seq == run.seq), None)
    parent = next((s for s in sequences if data and s.seq == data.parent), None)
    calibration: CalibrationProducts | None = None
    if parent is not None and parent.drs4_run is not None:
        calibration = profile.calibration_products(layout, parent.drs4_run, parent.run)
        records = _records(layout.history(parent.run, None))
        ctx = CalibrationContext(layout, parent.drs4_run, parent.run, _last_attempt(records), calibration)
        yield Task(f"Run{parent.run:05d}", tuple(profile.calibration_steps(ctx)), records)
    for subrun in range(run.subruns):
        records = _records(layout.history(run.run, subrun))
        ctx_s = SubrunContext(layout, run.run, subrun, _last_attempt(records), calibration)
        yield Task(f"Run{run.run:05d}.{subrun:04d}", tuple(profile.subrun_steps(ctx_s)), records)
    records = _records(layout.merge_history(run.run))
    merge = profile.merge_steps(staging_layout(layout), run.run, range(run.subruns), calibration)
    if is_simulation(layout.config):  # merged by osa-core itself, not by a profile step
        argv = ("osa-core", "run-merge", "--run", str(run.run), "--subruns", str(run.subruns))
        inputs = tuple(subrun_files(layout, run.run, run.subruns, calibration))
        merge = [StepCommand(SIMULATED_MERGE, argv, inputs=inputs)]
    # the merge job writes to staging; verified files keep their names in their final places
    finals = {p.name: layout.final_dir(p.level) / p.name for p in run.products}
    yield Task(f"Run{run.run:05d}.merge", tuple(merge), records, finals)
    records = _records(layout.closing_checks_history)
    if records and run.run in night_runs:
        yield Task(f"Night{layout.night}.checks", tuple(profile.closing_steps(layout, night_runs)), records)


def _records(path: Path) -> tuple[StepRecord, ...]:
    records, _ = read_records(path)
    return tuple(records)


def _last_attempt(records: Sequence[StepRecord]) -> int:
    return max((r.attempt for r in records), default=1)


def provenance_document(layout: NightLayout, tasks: Sequence[Task], checksums: Checksums) -> ProvDocument:
    from prov.model import ProvDocument

    doc = ProvDocument()
    doc.add_namespace(*NAMESPACE)
    files: dict[Path, Any] = {}
    agents: dict[str, Any] = {}

    def entity(path: Path, config: bool = False) -> Any:
        if path in files:
            return files[path]
        attrs: dict[str, Any] = {"prov:label": path.name, "osa:path": str(path)}
        found = checksums.of(path) if path.is_file() else None
        if found is not None and found[0]:
            attrs["osa:sha256"], attrs["osa:size"] = found
        elif found is not None:
            attrs["osa:size"] = found[1]
            mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            attrs["osa:modified"] = mtime.isoformat(timespec="seconds")
            attrs["osa:sha256_skipped"] = (
                f"larger than close.provenance_checksum_max_mib ({checksums.max_bytes / 2**20:g} MiB)"
            )
        else:
            attrs["osa:state"] = "absent when the night was closed"
        if config or path.suffix in CONFIG_SUFFIXES:
            attrs["prov:type"] = "osa:config"
        ident = "osa:file_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
        files[path] = doc.entity(ident, attrs)
        return files[path]

    def agent(step: StepCommand) -> Any:
        name = Path(step.argv[0]).name if step.argv else "?"
        if name == "osa-core":
            return osa
        if name not in agents:
            where, version = executable_version(step)
            attrs = {"prov:type": "prov:SoftwareAgent", "prov:label": name, "osa:path": where or ""}
            if version:
                attrs["osa:version"] = version
            agents[name] = doc.agent(f"osa:software_{name}", attrs)
        return agents[name]

    osa = doc.agent(
        "osa:osa-core",
        {"prov:type": "prov:SoftwareAgent", "prov:label": "osa-core", "osa:version": _version("osa-console")},
    )
    night_config = entity(layout.config.source, config=True) if layout.config.source else None
    for task in tasks:
        by_name = {s.name: s for s in task.steps}
        for (step_name, attempt), (start, end) in _runs(task.records).items():
            step = by_name.get(step_name)
            seen = end or start
            job = seen.job_id or ""
            if seen.array_index is not None:
                job += f"_{seen.array_index}"
            attrs: dict[str, Any] = {
                "prov:label": f"{task.label} {step_name} (attempt {attempt})",
                "osa:step": step_name,
                "osa:attempt": attempt,
                "osa:job_id": job,
                "osa:host": seen.host,
            }
            if end is not None and end.exit_code is not None:
                attrs["osa:exit_code"] = end.exit_code
            if end is not None and end.event == "skip":
                attrs["osa:skipped"] = end.detail or "done by an earlier attempt"
            if step is not None:
                attrs["osa:argv"] = json.dumps(list(step.argv))
            ident = f"osa:{task.label}.{step_name}.attempt{attempt}"
            activity = doc.activity(ident, _time(start), _time(end) if end else None, attrs)
            doc.wasAssociatedWith(activity, osa)
            if night_config is not None:
                doc.used(activity, night_config)
            if step is None:
                continue
            doc.wasAssociatedWith(activity, agent(step))
            for path in step.inputs:
                doc.used(activity, entity(path))
            if end is not None and end.event == "end" and end.exit_code == 0:
                for out in end.outputs:
                    path = task.final_names.get(Path(out).name, Path(out))
                    doc.wasGeneratedBy(entity(path), activity, _time(end))
    return doc


def _runs(records: Sequence[StepRecord]) -> dict[tuple[str, int], tuple[StepRecord, StepRecord | None]]:
    """(step, attempt) -> (its start record, its end or skip record, None while it has none)."""
    out: dict[tuple[str, int], tuple[StepRecord, StepRecord | None]] = {}
    for record in records:
        key = (record.step, record.attempt)
        if record.event == "start":
            out[key] = (record, None)
        elif record.event in ("end", "skip"):
            start = out.get(key, (record, None))[0]
            out[key] = (start, record)
    return out


def _time(record: StepRecord | None) -> dt.datetime | None:
    return record.when if record is not None else None


def executable_version(step: StepCommand) -> tuple[str | None, str | None]:
    """Where the executable is, and the version of the Python distribution that installs it, if any."""
    name = step.argv[0]
    path = os.pathsep.join([*step.path_prepend, os.environ.get("PATH", "")])
    where = shutil.which(name, path=path)
    for ep in importlib.metadata.entry_points(group="console_scripts", name=Path(name).name):
        if ep.dist is not None:
            return where, f"{ep.dist.metadata['Name']} {ep.dist.version}"
    if where and Path(where).resolve() == Path(sys.executable).resolve():  # a step run as a module
        return where, f"Python {platform.python_version()}"
    return where, None


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
