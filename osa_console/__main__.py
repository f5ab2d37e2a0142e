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
    from osa_console.engine_port import EnginePort
    from osa_core.model.actions import ActionReport


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def _night_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from osa_console.settings import ConsoleSettings

    on_start = None
    if args.demo:

        def factory() -> EnginePort:
            from osa_core.demo import prepare_demo
            from osa_core.engine import Engine

            config, date = prepare_demo(args.workdir)
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

        def factory() -> EnginePort:
            from osa_core.engine import Engine

            return Engine(config, date)

    from osa_console.app import OsaConsole

    app = OsaConsole(factory, ConsoleSettings(theme=args.theme), on_start=on_start)
    app.run()
    if app.open_error:
        print(f"osa-console: {app.open_error}", file=sys.stderr)
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
