"""What every ``osa-core`` command shares: exit codes, the night's date, the engine, logging, reports.

The command modules (:mod:`osa_core.cli.night`, :mod:`osa_core.cli.closing`) and the parser
(:mod:`osa_core.cli.main`) import from here and not from each other. Nothing heavy is imported at
module level: ``osa-core plan`` must start without the engine's dependencies.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def open_engine(args: argparse.Namespace) -> Any:
    """The engine of the night ``--date`` names (default: the last one), logging to its log file."""
    from osa_core.engine import Engine
    from osa_core.model.config import load_config
    from osa_core.model.night_clock import current_night

    config = load_config(args.config)
    date = args.date or current_night(dt.datetime.now(dt.UTC), config.night.day_boundary_hour)
    engine = Engine(config, date)
    setup_logging(engine.layout.engine_log, args.verbose)
    return engine


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
