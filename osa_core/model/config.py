"""The typed configuration: one frozen object read from a TOML file.

Every field is documented where it is declared; ``docs/config/*.md`` mirrors these docstrings.
A bad file is answered with the file, the key and what was expected (:class:`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from osa_core.model.errors import ConfigError

ENV_VAR = "OSA_CONFIG"
DEFAULT_LOCATIONS = (Path("cfg/osa.toml"),)


@dataclass(frozen=True)
class PathsConfig:
    raw: Path = Path("data/raw")
    """Raw (R0) data; a night's files are in ``raw/YYYYMMDD/``."""
    analysis: Path = Path("data/running_analysis")
    """Work area: ``analysis/YYYYMMDD/<prod_id>/`` holds scripts, subrun products and job logs."""
    final: Path = Path("data/final")
    """Final places of merged products: ``final/<level>/YYYYMMDD/<prod_id>/``."""
    logs: Path = Path("data/logs")
    """The engine's own log files (one per night)."""
    state: Path = Path("data/state")
    """Night ledgers, locks and the local backend's spool."""
    night_summary: str = "data/raw/{night}/NightSummary_{night}.txt"
    """Where the night file is, ``{night}`` being YYYYMMDD; relative to the config file."""


@dataclass(frozen=True)
class TelescopeConfig:
    id: int = 1
    """Telescope id (1 for LST-1): used in file names and job names."""


@dataclass(frozen=True)
class NightConfig:
    prod_id: str = "v0.1.0"
    """Production id: a night is processed into ``analysis/YYYYMMDD/<prod_id>/``."""
    day_boundary_hour: int = 12
    """A run started before this hour (UTC) belongs to the previous date's night."""


@dataclass(frozen=True)
class SchedulerConfig:
    backend: Literal["local", "slurm", "pyslurm"] = "local"
    """Which scheduler runs the jobs."""
    partition: str | None = None
    """SLURM partition (``--partition``); none: the cluster's default."""
    account: str | None = None
    """SLURM account (``--account``)."""
    memory: str = "4G"
    """Memory per data task (``--mem``)."""
    walltime: str = "02:00:00"
    """Wall-time limit per data task (``--time``)."""
    calibration_memory: str = "8G"
    """Memory of the calibration job."""
    calibration_walltime: str = "01:00:00"
    """Wall-time limit of the calibration job."""
    array_throttle: int = 0
    """At most this many tasks of one array at once (``%N``); 0: no limit."""
    local_slots: int = 0
    """Slots of the local backend; 0: the number of CPUs."""
    max_tries: int = 3
    """A subrun is not resubmitted past this many attempts (``--force`` overrides)."""
    oom_memory_factor: float = 1.5
    """Memory is multiplied by this when resubmitting a task that ran out of memory."""
    timeout_walltime_factor: float = 1.5
    """Wall time is multiplied by this when resubmitting a task that timed out."""
    command_timeout: float = 30.0
    """Seconds to wait for any scheduler command before calling the scheduler unreachable."""
    refresh_min: float = 2.0
    """Shortest refresh interval (seconds) while tasks change."""
    refresh_max: float = 30.0
    """Longest refresh interval (seconds) when nothing changes."""
    extra_sbatch_args: list[str] = field(default_factory=list)
    """Extra ``#SBATCH`` arguments, one per item (e.g. ``--qos=short``)."""


@dataclass(frozen=True)
class Failure:
    run: int
    """The run whose task fails."""
    step: str
    """The step that fails."""
    subrun: int | None = None
    """The subrun that fails; none: every subrun of the run."""
    attempts: list[int] = field(default_factory=lambda: [1])
    """The attempts on which it fails (1 = the first submission)."""
    exit_code: int = 3
    """The exit code of the failing step."""
    allocate_mb: int = 0
    """Also hold this much memory during the step (to exceed the task's memory request)."""


@dataclass(frozen=True)
class SimulateConfig:
    step_seconds: dict[str, float] = field(default_factory=dict)
    """Seconds each step waits, by step name; steps not listed take ``default_seconds``."""
    default_seconds: float = 1.0
    """Seconds a step waits when ``step_seconds`` does not name it."""
    max_subruns: int = 0
    """Process at most this many subruns per run (demos, tests); 0: all."""
    failures: list[Failure] = field(default_factory=list)
    """Injected failures: ``{run, step, subrun, attempts, exit_code}``."""


@dataclass(frozen=True)
class LstchainConfig:
    config: Path | None = None
    """lstchain JSON config passed to the R0->DL1 and DL1->DL2 steps; none: lstchain's standard."""
    models: Path | None = None
    """Directory of trained random-forest models for DL1->DL2; none: the DL2 step is skipped."""
    pointing: Path | None = None
    """Drive/pointing file for R0->DL1 (``--pointing-file``) where configured."""
    run_summary_dir: Path | None = None
    """RunSummary directory passed to R0->DL1 where configured."""
    executables: dict[str, str] = field(default_factory=dict)
    """Override the executable of a step, by step name."""
    extra_args: dict[str, list[str]] = field(default_factory=dict)
    """Extra arguments appended to a step's command, by step name."""
    max_events: int = 0
    """Process at most this many events per subrun (tests); 0: all."""


@dataclass(frozen=True)
class CalibrationConfig:
    drs4: Path | None = None
    """An existing DRS4 baseline file: used instead of computing one."""
    charge: Path | None = None
    """An existing charge calibration file: used instead of computing one."""
    time: Path | None = None
    """An existing time calibration file: used instead of computing one."""

    @property
    def external(self) -> bool:
        return any(p is not None for p in (self.drs4, self.charge, self.time))


@dataclass(frozen=True)
class PipelineConfig:
    profile: Literal["simulate", "lstchain"] = "simulate"
    """Which steps run: ``simulate`` (placeholders, labelled SIMULATION) or ``lstchain``."""
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    lstchain: LstchainConfig = field(default_factory=LstchainConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    runner: str = ""
    """The command job scripts call back into (e.g. ``/opt/osa/bin/osa-core``); empty: the Python
    interpreter that submits, as ``python -m osa_core`` (right when the cluster shares its path)."""


@dataclass(frozen=True)
class CloseConfig:
    keep_subrun_files: bool = True
    """Keep subrun products after their merged file is verified."""


@dataclass(frozen=True)
class WebServerConfig:
    host: str = ""
    """The datacheck web server; empty: pushing is not configured."""
    port: int = 22
    user: str = ""
    key_file: Path | None = None
    """Private key for key-based authentication; none: the SSH agent."""
    known_hosts: Path | None = None
    """known_hosts file the server's host key is verified against (required to push)."""
    root: str = "/datacheck"
    """Remote directory that holds ``drs4/``, ``enf_calibration/`` and ``dl1/``."""
    retries: int = 4
    """Reconnect this many times after a dropped connection."""
    backoff: float = 2.0
    """Seconds before the first retry; doubled on each further one."""
    timeout: float = 20.0
    """Seconds to wait for the server to answer."""


@dataclass(frozen=True)
class Config:
    paths: PathsConfig = field(default_factory=PathsConfig)
    telescope: TelescopeConfig = field(default_factory=TelescopeConfig)
    night: NightConfig = field(default_factory=NightConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    close: CloseConfig = field(default_factory=CloseConfig)
    webserver: WebServerConfig = field(default_factory=WebServerConfig)
    source: Path | None = None
    """The file this was read from (not a TOML key)."""

    def night_summary_path(self, night: str) -> Path:
        return Path(self.paths.night_summary.format(night=night))

    def replace(self, **sections: Any) -> Config:
        return dataclasses.replace(self, **sections)


# ----------------------------------------------------------------------------------------------
# loading


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    """``--config`` wins, then ``$OSA_CONFIG``, then ``cfg/osa.toml`` in the working directory."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    for candidate in DEFAULT_LOCATIONS:
        if candidate.is_file():
            return candidate
    return None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read a config file (see :func:`find_config_file`); no file at all gives the defaults."""
    found = find_config_file(path)
    if found is None:
        return _resolve_paths(Config(), Path.cwd())
    try:
        text = found.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("no such configuration file", path=found) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}", path=found) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=found, line=line) from None
    config = _build(Config, data, found, "")
    _check_resources(config.scheduler, found)
    config = dataclasses.replace(config, source=found.resolve())
    return _resolve_paths(config, found.resolve().parent)


def config_from_dict(data: dict[str, Any], base: Path, source: str = "<dict>") -> Config:
    """Build a config from a dict as TOML would give it (tests, the demo)."""
    config = _build(Config, data, Path(source), "")
    return _resolve_paths(config, base)


def _check_resources(sched: SchedulerConfig, file: Path) -> None:
    """Memory and wall time are read by SLURM's rules now, not when a resubmission needs them."""
    from osa_core.model.resources import memory_mb, walltime_seconds

    for key, parse, what in (
        ("memory", memory_mb, "a memory like 4G or 500M"),
        ("calibration_memory", memory_mb, "a memory like 4G or 500M"),
        ("walltime", walltime_seconds, "a wall time like 02:00:00 or 1-00:00:00"),
        ("calibration_walltime", walltime_seconds, "a wall time like 02:00:00 or 1-00:00:00"),
    ):
        value = getattr(sched, key)
        try:
            if parse(value) <= 0:
                raise ValueError
        except (ValueError, IndexError):
            raise ConfigError(f"scheduler.{key}: expected {what}, got {value!r}", path=file) from None


def _toml_error_line(message: str) -> int | None:
    marker = "(at line "
    if marker in message:
        digits = message.split(marker, 1)[1].split(",", 1)[0]
        if digits.isdigit():
            return int(digits)
    return None


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a table of {_describe(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a path"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(tp: Any, value: Any, file: Path, key: str) -> Any:
    origin = typing.get_origin(tp)

    def bad() -> ConfigError:
        return ConfigError(f"{key}: expected {_describe(tp)}, got {value!r}", path=file)

    if origin in (types.UnionType, typing.Union):
        # None is never written in TOML: a missing key is the only way to say "none".
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _convert(args[0], value, file, key)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad()
        return value
    if origin is list:
        if not isinstance(value, list):
            raise bad()
        (inner,) = typing.get_args(tp)
        return [_convert(inner, v, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad()
        _, inner = typing.get_args(tp)
        return {str(k): _convert(inner, v, file, f"{key}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise bad()
        return _build(tp, value, file, key)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    if tp is Path:
        if not isinstance(value, str) or not value:
            raise bad()
        return Path(os.path.expanduser(value))
    raise bad()  # pragma: no cover - a field type this loader does not know


def _build(cls: Any, data: dict[str, Any], file: Path, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(f"{dotted}: unknown key (expected one of: {choices})", path=file)
        kwargs[key] = _convert(hints[key], value, file, dotted)
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        name = missing[0]
        dotted = f"{prefix}.{name}" if prefix else name
        raise ConfigError(f"{dotted}: missing; expected {_describe(hints[name])}", path=file)
    return cls(**kwargs)


def _resolve_paths(config: Config, base: Path) -> Config:
    """Make every relative path absolute, relative to the config file's directory."""

    def fix(obj: Any) -> Any:
        if isinstance(obj, Path):
            return Path(os.path.normpath(obj if obj.is_absolute() else base / obj))
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            changes = {
                f.name: fix(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name != "source"
            }
            return dataclasses.replace(obj, **changes)
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        if isinstance(obj, dict):
            return {k: fix(v) for k, v in obj.items()}
        return obj

    resolved: Config = fix(config)
    summary = os.path.expanduser(resolved.paths.night_summary)
    if not Path(summary).is_absolute():
        summary = os.path.normpath(base / summary)
    return dataclasses.replace(resolved, paths=dataclasses.replace(resolved.paths, night_summary=summary))
