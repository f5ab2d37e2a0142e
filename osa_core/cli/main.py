"""``osa-core``: the engine from the command line and from cron (this module: parser and dispatch).

Every error the engine means to raise becomes ``FILE:LINE: message`` on stderr and an exit
code (see docs/cli.md); ``--debug`` shows the traceback instead. The commands themselves are in
:mod:`osa_core.cli.night` (the night as it runs) and :mod:`osa_core.cli.closing` (its end);
what they share is in :mod:`osa_core.cli.support`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence

from osa_core.cli.alerts import EXIT_ALERT_NOT_SENT, add_alerts_command, cmd_alerts
from osa_core.cli.autopilot import add_autopilot_commands, cmd_autopilot, cmd_events, cmd_hold
from osa_core.cli.closing import (
    EXIT_CLOSING,
    add_closing_commands,
    cmd_close,
    cmd_datacheck,
    cmd_push,
    cmd_run_merge,
    cmd_run_night_checks,
)
from osa_core.cli.night import (
    add_night_commands,
    cmd_cancel,
    cmd_demo,
    cmd_ledger,
    cmd_plan,
    cmd_resubmit,
    cmd_run_task,
    cmd_status,
    cmd_submit,
)
from osa_core.cli.nights import add_nights_command, cmd_nights
from osa_core.cli.report import add_report_command, cmd_report
from osa_core.cli.support import EXIT_ATTENTION, EXIT_UNREACHABLE, disk_error, parse_date

# the exit codes of the commands, besides those of the errors (osa_core.model.errors), named in one place
__all__ = [
    "COMMANDS",
    "EXIT_ALERT_NOT_SENT",
    "EXIT_ATTENTION",
    "EXIT_CLOSING",
    "EXIT_UNREACHABLE",
    "build_parser",
    "main",
]


_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="osa-core", description="LST-1 on-site analysis engine")
    parser.add_argument("--config", help="configuration file (default: $OSA_CONFIG, then cfg/osa.toml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def night_command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--date", type=parse_date, help="night (YYYY-MM-DD, the date it starts); default: the last one"
        )
        p.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
        return p

    add_night_commands(sub, night_command)
    add_closing_commands(sub, night_command)
    add_nights_command(sub)
    add_alerts_command(sub, night_command)
    add_autopilot_commands(sub, night_command)
    add_report_command(sub, night_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config_sub", None):
        args.config = args.config_sub
    handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
    try:
        return handler(args)
    except Exception as exc:
        # A disk that refuses (full, read-only, a missing parent) can strike any command at any
        # write: it is answered here, once, rather than at each place that writes.
        if args.debug:
            raise
        error = disk_error(exc, args)
        if error is None:
            raise
        # One line, whatever the message quotes (sbatch's own errors span several).
        print(f"osa-core: {_LINE_BREAKS.sub(' ', str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "plan": cmd_plan,
    "submit": cmd_submit,
    "status": cmd_status,
    "resubmit": cmd_resubmit,
    "cancel": cmd_cancel,
    "ledger": cmd_ledger,
    "run-subrun": cmd_run_task,
    "run-calibration": cmd_run_task,
    "close": cmd_close,
    "datacheck": cmd_datacheck,
    "push": cmd_push,
    "run-merge": cmd_run_merge,
    "run-night-checks": cmd_run_night_checks,
    "nights": cmd_nights,
    "alerts": cmd_alerts,
    "autopilot": cmd_autopilot,
    "reprocess": cmd_autopilot,
    "events": cmd_events,
    "hold": cmd_hold,
    "release": cmd_hold,
    "report": cmd_report,
}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
