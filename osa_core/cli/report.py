"""``osa-core report``: the shift's handover report of one night, from its ledger (no scheduler query).

What ran, what failed by signature, what was resubmitted, cancelled or excluded and by whom, what
is still open, the ETA, closing and push, and the night's events; built by
:mod:`osa_core.publish.handover`. A night without a ledger is one line (exit 2), never a new,
empty ledger.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from osa_core.cli.support import NightCommand, open_engine


def add_report_command(sub: Any, night_command: NightCommand) -> None:
    p = night_command("report", "the shift's handover report of the night, from its ledger")
    p.add_argument("--format", choices=("md", "html"), default="md", help="Markdown (default) or HTML")
    p.add_argument(
        "--output", type=Path, help="write it to this file (whole or not at all) instead of stdout"
    )


def cmd_report(args: argparse.Namespace) -> int:
    from osa_core.model.config import load_config
    from osa_core.model.errors import InputError
    from osa_core.model.fileio import atomic_write
    from osa_core.model.layout import NightLayout
    from osa_core.model.night_clock import current_night

    config = load_config(args.config)
    if args.date is None:
        args.date = current_night(dt.datetime.now(dt.UTC), config.night.day_boundary_hour)
    ledger = NightLayout(config, args.date).ledger_path
    if not ledger.exists():  # the engine would create one: a report must not invent a night
        raise InputError(
            f"no ledger for the night {args.date.isoformat()}: nothing was submitted", path=ledger
        )
    engine = open_engine(args)
    try:
        text = engine.handover(html=args.format == "html")
    finally:
        engine.shutdown()
    if args.output is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.output, text)
    return 0
