"""The night running itself: ``autopilot``, and a person's part in it: ``events``, ``hold``, ``release``.

The autopilot's rules are in :mod:`osa_core.autopilot`; this module parses, prints and picks the
exit code (docs/cli.md, docs/operations.md). Its modules are imported inside the commands.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from typing import Any

from osa_core.cli.support import NightCommand, parse_date, setup_logging


def add_autopilot_commands(sub: Any, night_command: NightCommand) -> None:
    p = night_command(
        "autopilot",
        "one pass over the night (default: tonight and the unfinished nights before it): submit, "
        "retry, close, push what is due, each decision an event",
    )
    p.add_argument("--dry-run", action="store_true", help="say what the pass would do, do nothing")
    p.add_argument("--watch", action="store_true", help="pass again and again (a systemd service)")
    p.add_argument("--json", action="store_true", help="print one JSON object per pass")
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)  # --watch passes (tests)

    p = sub.add_parser(
        "reprocess",
        help="past nights through the autopilot's pass, at a lower priority (sbatch --nice)",
        description="past nights through the autopilot's pass, at a lower priority (sbatch --nice)",
    )
    p.add_argument("--from", dest="first", type=parse_date, required=True, help="first night (YYYY-MM-DD)")
    p.add_argument("--to", dest="last", type=parse_date, required=True, help="last night, before tonight")
    p.add_argument("--nice", type=int, default=1000, help="sbatch --nice of every job (default 1000)")
    p.add_argument("--dry-run", action="store_true", help="say what the pass would do, do nothing")
    p.add_argument("--watch", action="store_true", help="pass again and again, with the autopilot's back-off")
    p.add_argument("--json", action="store_true", help="print one JSON object per pass")
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)  # --watch passes (tests)

    p = night_command("events", "the night's events: every decision of the autopilot and every action")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--limit", type=int, default=200, help="the last N events (default 200)")

    p = night_command("hold", "keep the autopilot's hands off the night until `release`")
    p.add_argument("--reason", default="", help="why, shown in status and the console")

    night_command("release", "end a hold: the autopilot takes the night on again at its next pass")


def cmd_autopilot(args: argparse.Namespace) -> int:
    from osa_core.autopilot.reprocess import niced, nights_between
    from osa_core.autopilot.runner import nights_to_look_at, one_pass, watch
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.model.night_clock import current_night
    from osa_core.scheduler.base import utcnow

    config = load_config(args.config)
    past: list[dt.date] = []
    if args.command == "reprocess":  # the same pass over past nights, every job niced
        tonight = current_night(utcnow(), config.night.day_boundary_hour)
        past = nights_between(args.first, args.last, tonight)
        config, args.date = niced(config, args.nice), None
    if config.alerts.urls and not args.dry_run:
        from osa_core.alert.notifier import check_urls

        check_urls(config.alerts, config.source)  # a URL apprise cannot use: refused now, not at 3 a.m.
    night = args.date or current_night(utcnow(), config.night.day_boundary_hour)
    setup_logging(NightLayout(config, night).engine_log, args.verbose)

    def dates() -> list[dt.date]:
        if past:
            return past
        return [args.date] if args.date else nights_to_look_at(config, utcnow())

    def show(report: Any) -> None:
        if args.json:
            print(json.dumps(report.to_json()), flush=True)
        else:
            print("\n".join(report.lines()), flush=True)

    if args.watch:
        report = asyncio.run(watch(config, dates, args.dry_run, show, args.count))
    else:
        report = asyncio.run(one_pass(config, dates(), args.dry_run))
        show(report)
    for night in report.nights:
        if night.error:
            print(f"osa-core: {night.date.isoformat()}: {night.error}", file=sys.stderr)
    code: int = report.exit_code
    return code


def _ledger(args: argparse.Namespace, create: bool = False) -> Any:
    from osa_core.model.config import load_config
    from osa_core.model.errors import RefusedAction
    from osa_core.model.layout import NightLayout
    from osa_core.model.night_clock import current_night
    from osa_core.track.ledger import Ledger

    config = load_config(args.config)
    date = args.date or current_night(dt.datetime.now(dt.UTC), config.night.day_boundary_hour)
    layout = NightLayout(config, date)
    args.ledger_path, args.analysis_dir = layout.ledger_path, layout.analysis_dir
    if not create and not layout.ledger_path.exists():
        raise RefusedAction(f"night {date.isoformat()} has no ledger yet (nothing was submitted)")
    layout.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    return layout, Ledger(layout.ledger_path)


def cmd_events(args: argparse.Namespace) -> int:
    layout, ledger = _ledger(args)
    try:
        events = ledger.events(limit=max(1, args.limit))
    finally:
        ledger.close()
    if args.json:
        rows = [{"time": t, "kind": k, "message": m} for t, k, m in events]
        print(json.dumps({"date": layout.date.isoformat(), "events": rows}))
        return 0
    for time, kind, message in events:
        print(f"{time}  {kind:<10} {message}")
    if not events:
        print("no events")
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    from osa_core.track.hold import release_hold, set_hold
    from osa_core.track.lock import night_lock

    # a hold may come before the night starts (keep the autopilot off a night file being fixed)
    layout, ledger = _ledger(args, create=args.command == "hold")
    try:
        # under the lock: once `hold` returns, no autopilot action is half way through the night
        with night_lock(layout.lock_path, what=args.command):
            if args.command == "hold":
                hold = set_hold(ledger, args.reason, dt.datetime.now(dt.UTC))
                print(f"night {layout.date.isoformat()} {hold.describe()}")
            else:
                released = release_hold(ledger)
                if released is None:
                    print(f"night {layout.date.isoformat()} was not held")
                else:
                    print(f"night {layout.date.isoformat()} released ({released.describe()})")
    finally:
        ledger.close()
    return 0
