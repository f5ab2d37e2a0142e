"""What every ``osa-core`` command shares: exit codes, the night's date, the engine, logging, reports.

The command modules (:mod:`osa_core.cli.night`, :mod:`osa_core.cli.closing`) and the parser
(:mod:`osa_core.cli.main`) import from here and not from each other. Nothing heavy is imported at
module level: ``osa-core plan`` must start without the engine's dependencies.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osa_core.model.errors import OsaError

EXIT_UNREACHABLE = 5
EXIT_ATTENTION = 10
"""``status``: some subruns failed or are blocked."""

NightCommand = Callable[[str, str], argparse.ArgumentParser]
"""``night_command(name, help)``: a subcommand that takes ``--date`` (and ``--config`` after it)."""


def parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def open_engine(args: argparse.Namespace, narrow: bool = False) -> Any:
    """The engine of the night ``--date`` names (default: the last one), logging to its log file;
    ``narrow``: one that shows the night once (see ``Engine.narrow``)."""
    from osa_core.engine import Engine
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.model.night_clock import current_night

    config = load_config(args.config)
    date = args.date or current_night(dt.datetime.now(dt.UTC), config.night.day_boundary_hour)
    # SQLite's errors, and an OSError from writing through an open file, name no file: the
    # one-line message (osa_core.cli.main) names the ledger, or the night's work area, from here.
    layout = NightLayout(config, date)
    args.ledger_path, args.analysis_dir = layout.ledger_path, layout.analysis_dir
    engine = Engine(config, date, narrow=narrow)
    setup_logging(engine.layout.engine_log, args.verbose)
    return engine


def is_sqlite_error(exc: BaseException) -> bool:
    """An error of SQLite (the ledger, the local spool), told without importing sqlite3."""
    sqlite3 = sys.modules.get("sqlite3")
    return sqlite3 is not None and isinstance(exc, sqlite3.Error)


def disk_error(exc: Exception, args: argparse.Namespace) -> OsaError | None:
    """The one-line error for ``exc``: itself if the engine raised it on purpose, a
    :class:`StorageError` for a file system's or SQLite's refusal, None for a bug (a traceback).

    An error whose file sits on a full file system says so: SQLite reports a full disk met while
    opening the ledger only as "disk I/O error".
    """
    from osa_core.model.errors import LedgerError, OsaError, StorageError, storage_error

    if isinstance(exc, OsaError):
        error = exc
    elif isinstance(exc, OSError):
        error = storage_error(exc, getattr(args, "analysis_dir", None))
    elif is_sqlite_error(exc):
        error = storage_error(exc, getattr(args, "ledger_path", None))
    else:
        return None
    disk = isinstance(error, LedgerError | StorageError)
    if disk and error.path is not None and "no space left" not in error.message and _full(error.path):
        error.message += " (its file system is full: free space there, then run the command again)"
    return error


def _full(path: Path) -> bool:
    for candidate in (path, *path.parents):
        try:
            stats = os.statvfs(candidate)
        except OSError:
            continue
        return stats.f_bavail == 0 and stats.f_blocks > 0
    return False


def setup_logging(path: Path, verbose: bool) -> None:
    root = logging.getLogger("osa")
    if root.handlers:
        return
    root.setLevel(logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path)
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)
    except OSError as exc:
        print(f"osa-core: cannot write the log file {path}: {exc}", file=sys.stderr)
    stream = logging.StreamHandler(sys.stderr)
    stream.setLevel(logging.INFO if verbose else logging.WARNING)
    stream.setFormatter(logging.Formatter("osa-core: %(message)s"))
    root.addHandler(stream)


def print_report(report: Any) -> None:
    print(report.message)
    for line in report.details:
        print(f"  {line}")
