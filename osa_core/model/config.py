"""The typed configuration: one frozen object read from a TOML file and checked against its schema.

The schema, with every field's limits and doc, is ``osa_core.model.config_schema`` (its names are
re-exported here, so callers import everything from this module). A bad file is answered with one
line naming the file, the line where it can be found, the key and what was expected
(:class:`ConfigError`, exit code 2).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import msgspec

from osa_core.model.config_schema import (
    AlertsConfig,
    AutopilotConfig,
    CalibrationConfig,
    CloseConfig,
    Config,
    ConfigFile,
    Failure,
    LstchainConfig,
    NightConfig,
    PathsConfig,
    PipelineConfig,
    SchedulerConfig,
    Section,
    SimulateConfig,
    TelescopeConfig,
    WebServerConfig,
)
from osa_core.model.errors import ConfigError

__all__ = [
    "DEFAULT_LOCATIONS",
    "ENV_VAR",
    "AlertsConfig",
    "AutopilotConfig",
    "CalibrationConfig",
    "CloseConfig",
    "Config",
    "ConfigError",
    "ConfigFile",
    "Failure",
    "LstchainConfig",
    "NightConfig",
    "PathsConfig",
    "PipelineConfig",
    "SchedulerConfig",
    "SimulateConfig",
    "TelescopeConfig",
    "WebServerConfig",
    "config_from_dict",
    "find_config_file",
    "load_config",
]

ENV_VAR = "OSA_CONFIG"
DEFAULT_LOCATIONS = (Path("cfg/osa.toml"),)
MAX_BYTES = 1_000_000
"""A configuration is a few kilobytes: anything larger is not one (and is not read into memory)."""


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
        return _resolve_paths(ConfigFile(), None, Path.cwd())
    text = _read(found)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        raise ConfigError(f"not valid TOML: {exc}", path=found, line=line) from None
    checked = _validate(data, found, text)
    return _resolve_paths(checked, found.resolve(), found.resolve().parent)


def config_from_dict(data: dict[str, Any], base: Path, source: str = "<dict>") -> Config:
    """Build a config from a dict as TOML would give it (tests, the demo)."""
    return _resolve_paths(_validate(data, Path(source), None), None, base)


def _read(path: Path) -> str:
    """The file's text; only a regular file is read, so a FIFO or a device cannot hang a command.

    Opened without blocking and checked on the open descriptor: a FIFO put in place between a
    check by name and the open would otherwise block in ``open()`` until a writer comes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError("no such configuration file", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror or exc}", path=path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ConfigError(f"cannot read configuration: {what}", path=path)
        if info.st_size > MAX_BYTES:
            raise ConfigError(
                f"cannot read configuration: {info.st_size} bytes (at most {MAX_BYTES})", path=path
            )
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        try:
            data = stream.read(MAX_BYTES + 1)  # bounded even if the file grows after fstat
            if len(data) > MAX_BYTES:
                raise ConfigError(f"cannot read configuration: more than {MAX_BYTES} bytes", path=path)
            return data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read configuration: {exc}", path=path) from None


def _validate(data: dict[str, Any], file: Path, text: str | None) -> ConfigFile:
    try:
        return msgspec.convert(data, ConfigFile, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        # Only a bad file pays for wording the error (and finding its line).
        from osa_core.model.config_errors import describe_validation_error

        key, what, line = describe_validation_error(str(exc), data, ConfigFile, text)
        raise ConfigError(f"{key}: {what}" if key else what, path=file, line=line) from None


def _decode_path(tp: type, value: Any) -> Any:
    """msgspec leaves ``Path`` to us: a non-empty string on one line, ``~`` expanded."""
    if tp is Path and isinstance(value, str) and value and not any(c in value for c in "\0\n\r"):
        return Path(os.path.expanduser(value))
    raise ValueError("Expected a path")  # msgspec adds where; the schema says what a path is


def _resolve_paths(checked: ConfigFile, source: Path | None, base: Path) -> Config:
    """Make every relative path absolute, relative to the config file's directory."""

    def fix(obj: Any) -> Any:
        if isinstance(obj, Path):
            return Path(os.path.normpath(obj if obj.is_absolute() else base / obj))
        if isinstance(obj, Section):
            return obj.replace(**{name: fix(getattr(obj, name)) for name in obj.__struct_fields__})
        if isinstance(obj, list):
            return [fix(v) for v in obj]
        if isinstance(obj, dict):
            return {k: fix(v) for k, v in obj.items()}
        return obj

    sections = {name: fix(getattr(checked, name)) for name in checked.__struct_fields__}
    return Config(**sections, source=source, directory=base)


def _toml_error_line(message: str) -> int | None:
    marker = "(at line "
    if marker in message:
        digits = message.split(marker, 1)[1].split(",", 1)[0]
        if digits.isdigit():
            return int(digits)
    return None
