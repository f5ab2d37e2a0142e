"""``osa-core nights``: the last nights at a glance, read from their ledgers (no scheduler query).

Per night: runs, subruns done / failed / running / waiting, closed, pushed, and for a night with
subruns left its estimated end as its last refresh left it. Heavy modules are imported inside
the command, as in the other command modules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from osa_core.cli.support import parse_date

EXIT_NO_LEDGER = 2
"""``nights --date D``: that night has no ledger (never submitted here)."""
EXIT_UNREADABLE = 6
"""``nights --date D``: its ledger cannot be read, or is of another schema (as LedgerError)."""


def add_nights_command(sub: Any) -> None:
    # nights spans many nights: its --date is a filter, not the one night a command works on
    p = sub.add_parser(
        "nights",
        help="list the last nights from their ledgers: progress, closed, pushed, ETA",
        description="list the last nights from their ledgers: progress, closed, pushed, ETA",
    )
    p.add_argument(
        "--last", type=_count, default=30, help="how many nights, newest first (default 30; 0: all)"
    )
    p.add_argument("--date", type=parse_date, action="append", help="only this night (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of nights (0: all), got {text!r}")
    return value


def cmd_nights(args: argparse.Namespace) -> int:
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.model.states import SequenceType
    from osa_core.pipeline.factory import get_profile
    from osa_core.publish.publisher import manifest_path
    from osa_core.track.frame import Profile
    from osa_core.track.nights import night_dirs, summarise

    config = load_config(args.config)
    profile = get_profile(config)
    shown = Profile(
        name=profile.name,
        simulation=profile.simulation,
        step_names={
            SequenceType.CALIBRATION: tuple(profile.calibration_step_names),
            SequenceType.DATA: tuple(profile.subrun_step_names),
        },
        step_labels=profile.step_labels,
    )
    found, bad = night_dirs(config.paths.state)
    dates = sorted(set(args.date), reverse=True) if args.date else sorted(found, reverse=True)
    if not args.date and args.last:
        dates = dates[: args.last]
    summaries = []
    for date in dates:
        layout = NightLayout(config, date)
        summaries.append(
            summarise(date, layout.ledger_path, manifest_path(layout), shown, config.scheduler.backend)
        )
    problems = [] if args.date else bad
    if args.json:
        out = {"nights": [s.to_json() for s in summaries], "problems": problems}
        print(json.dumps(out, indent=1))
    else:
        from rich.console import Console

        console = Console()
        if summaries:
            console.print(nights_table(summaries, dt.datetime.now(dt.UTC)))
        else:
            console.print(f"no nights under {config.paths.state}")
        for summary in summaries:
            if summary.problem is not None:
                console.print(f"{summary.date.isoformat()}: {summary.problem}", style="red", highlight=False)
            elif summary.hold:
                console.print(f"{summary.date.isoformat()}: {summary.hold}", style="yellow", highlight=False)
        for line in problems:
            console.print(line, style="red", highlight=False)
    if args.date:
        if any(s.problem is not None and s.ledger.is_file() for s in summaries):
            return EXIT_UNREADABLE
        if any(s.problem is not None for s in summaries):
            return EXIT_NO_LEDGER
    return 0


def nights_table(summaries: list[Any], now: dt.datetime) -> Any:
    """One row per night: what a shifter checks before taking over."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # borderless: eleven columns with dates must fit an 80-column terminal
    table = Table(
        title="Nights",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    columns = (
        "Night",
        "Runs",
        "Subruns",
        "Done",
        "Failed",
        "Run'g",
        "Wait",
        "Alerts",
        "Closed",
        "Pushed",
        "End",
    )
    for column in columns:
        table.add_column(
            column, justify="right" if column not in ("Night", "Closed", "Pushed", "End") else "left"
        )
    for s in summaries:
        if s.problem is not None:
            table.add_row(s.date.isoformat(), *["-"] * 9, Text("see below", style="red"))
            continue
        table.add_row(
            s.date.isoformat(),
            str(s.runs),
            str(s.subruns),
            str(s.done),
            Text(str(s.failed), style="bold red" if s.failed else ""),
            str(s.running),
            str(s.waiting),
            Text(str(s.alerts), style="bold red" if s.alerts else ""),
            _when(s.closed_at) if s.closed_at else "no",
            _when(s.pushed_at) if s.pushed_at else "no",
            _end(s, now),
        )
    return table


def _end(s: Any, now: dt.datetime) -> str:
    if s.finished:
        return "finished"
    eta = s.eta
    if eta is None or eta.at is None:
        return "unknown" + (f" ({eta.basis})" if eta is not None else "")
    as_of = f" (as of {_when(s.as_of)})" if s.as_of and (now - s.as_of) > dt.timedelta(minutes=10) else ""
    return f"~{_when(eta.at)}{as_of}"


def _when(at: dt.datetime | None) -> str:
    return "-" if at is None else at.strftime("%m-%d %H:%M")
