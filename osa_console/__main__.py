"""``osa-console``: open the operator console on a night (or on the bundled demo night).

Imports are kept to what the first frame needs: the engine (and whatever it imports) is loaded
by the app after its first frame is on the screen, and nothing here pulls lstchain, pandas or
matplotlib.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osa_console.app_port import NightsPort
    from osa_console.engine_port import EnginePort
    from osa_core.model.actions import ActionReport
    from osa_core.model.config import Config
    from osa_core.shift import NightSummary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osa-console",
        description="The LST-1 on-site analysis operator console.",
        epilog="Keys: ? in the console lists them all; ctrl+p finds any action by name.",
    )
    parser.add_argument(
        "--date",
        type=_night_date,
        help="night to open, YYYY-MM-DD (the date the night starts); default: the current night",
    )
    parser.add_argument(
        "--config", type=Path, help="configuration file (default: $OSA_CONFIG, then cfg/osa.toml)"
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run the bundled demo night on the local backend (simulated steps) and watch it",
    )
    parser.add_argument("--workdir", type=Path, help="with --demo: where the demo night is written")
    parser.add_argument(
        "--theme", help="osa-dark, osa-light or osa-night (red on black); remembered when changed"
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="refuse resubmit, cancel, close and push (what a served console is unless --allow-actions)",
    )
    served = parser.add_argument_group("serving the console to a browser (docs/console.md)")
    served.add_argument(
        "--serve",
        action="store_true",
        help="serve the console over HTTP instead; each browser connection gets its own console",
    )
    served.add_argument("--host", help="with --serve: the address to listen on (default: 127.0.0.1 only)")
    served.add_argument("--port", type=_port, help="with --serve: the port to listen on (default: 8000)")
    served.add_argument(
        "--allow-actions",
        action="store_true",
        help="with --serve: let the browser resubmit, cancel, close and push (default: read-only)",
    )
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.read_only and args.allow_actions:
        parser.error("--read-only and --allow-actions contradict each other")
    if not args.serve:
        given = [name for name, on in (("--host", args.host), ("--port", args.port)) if on is not None]
        given += ["--allow-actions"] if args.allow_actions else []
        if given:
            parser.error(f"{' and '.join(given)}: only with --serve")
    return args


def _night_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port (1-65535): {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        return _serve(args)
    from osa_console.settings import ConsoleSettings

    on_start = None
    opened: list[Config] = []  # the configuration, once known: the nights screen lists its nights

    def open_night(date: dt.date) -> EnginePort:
        from osa_core.engine import Engine

        return Engine(opened[0], date)

    class Nights:
        """The nights of the configuration's state directory (``osa_core.shift``), read lazily."""

        def _listing(self) -> NightsPort:
            from osa_core.shift import NightsListing

            return NightsListing(opened[0])

        def dates(self) -> tuple[list[dt.date], list[str]]:
            return self._listing().dates() if opened else ([], [])

        def summary(self, date: dt.date, eta: bool = True) -> NightSummary:
            return self._listing().summary(date, eta)

    if args.demo:

        def factory() -> EnginePort:
            from osa_core.demo import prepare_demo
            from osa_core.engine import Engine

            config, date = prepare_demo(args.workdir)
            opened.append(config)
            return Engine(config, args.date or date)

        def on_start(engine: EnginePort) -> Awaitable[ActionReport]:
            return engine.submit()

    else:
        from osa_core.model.config import load_config
        from osa_core.model.errors import OsaError
        from osa_core.model.night_clock import current_night

        try:
            config = load_config(args.config)
        except OsaError as exc:
            print(f"osa-console: {exc}", file=sys.stderr)
            return exc.exit_code
        date = args.date or current_night(dt.datetime.now(dt.UTC), config.night.day_boundary_hour)
        opened.append(config)

        def factory() -> EnginePort:
            from osa_core.engine import Engine

            return Engine(config, date)

    from osa_console.app import OsaConsole

    settings = ConsoleSettings(theme=args.theme, read_only=args.read_only)
    app = OsaConsole(factory, settings, on_start=on_start, nights=Nights(), night_opener=open_night)
    app.run()
    if app.open_error:
        print(f"osa-console: {app.open_error}", file=sys.stderr)
    return app.return_code or 0


def _serve(args: argparse.Namespace) -> int:
    """Check what the served consoles will open (and start the demo once), then serve them."""
    from osa_console.serve import EXIT_PORT_IN_USE, port_problem, serve, served_argv
    from osa_core.model.config import load_config
    from osa_core.model.errors import OsaError, storage_error

    host, port = args.host or "127.0.0.1", args.port or 8000
    problem = port_problem(host, port)  # before the demo is laid out and submitted for nothing
    if problem is not None:
        print(f"osa-console: {problem}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    date = args.date.isoformat() if args.date else None
    try:
        if args.demo:
            config_file, date = _start_demo(args.workdir, date)
        else:
            config_file = load_config(args.config).source
    except OsaError as exc:
        print(f"osa-console: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the demo's directory cannot be written: osa-core's one line, exit 13
        error = storage_error(exc, args.workdir)
        print(f"osa-console: {error}", file=sys.stderr)
        return error.exit_code
    argv = served_argv(config=config_file, date=date, theme=args.theme, allow_actions=args.allow_actions)
    what = "the demo night" if args.demo else f"the night {date}" if date else "the current night"
    return serve(argv, host, port, what=what, allow_actions=args.allow_actions)


def _start_demo(workdir: Path | None, date: str | None) -> tuple[Path | None, str]:
    """Lay out and submit the demo night once: every browser connection then watches that one."""
    import asyncio

    from osa_core.demo import prepare_demo
    from osa_core.engine import Engine

    config, demo_date = prepare_demo(workdir)
    night = dt.date.fromisoformat(date) if date else demo_date
    engine = Engine(config, night)
    try:
        report = asyncio.run(engine.submit())
    finally:
        engine.shutdown()
    print(f"osa-console: demo night: {report.message}", file=sys.stderr)
    return config.source, night.isoformat()


if __name__ == "__main__":
    sys.exit(main())
