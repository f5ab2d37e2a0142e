"""``osa-core alerts``: a night's open and recently resolved incidents; ``alerts test`` sends a test message.

Reading incidents needs only the night's ledger (no scheduler, no apprise); ``alerts test`` is
the one place besides a pass that imports apprise, through :mod:`osa_core.alert.notifier`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from osa_core.cli.support import NightCommand

EXIT_ALERT_NOT_SENT = 14
"""``alerts test``: the test message did not reach at least one URL."""
EXIT_NO_URLS = 2
"""``alerts test`` without ``[alerts] urls``: a configuration to fix, as ``push`` without a server."""
EXIT_NO_LEDGER = 2
"""``alerts --date D``: that night has no ledger (nothing was ever submitted for it here)."""
RECENT = dt.timedelta(hours=24)
"""Resolved incidents are listed for this long after they cleared."""


def add_alerts_command(sub: Any, night_command: NightCommand) -> None:
    p = night_command("alerts", "list a night's open and recently resolved incidents; `test`: send a test")
    p.add_argument(
        "action", nargs="?", choices=["test"], help="test: send a test message to every configured URL"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_alerts(args: argparse.Namespace) -> int:
    from osa_core.model.config import load_config

    config = load_config(args.config)
    if args.action == "test":
        return _test(config, args.json)
    return _list(config, args)


def _test(config: Any, as_json: bool) -> int:
    from osa_core.alert.messages import test_message
    from osa_core.alert.notifier import notifier_from_config
    from osa_core.model.errors import ConfigError

    if not config.alerts.urls:
        raise ConfigError("alerts test: no [alerts] urls configured", path=config.source)
    notifier = notifier_from_config(config.alerts)
    text = test_message(dt.datetime.now(dt.UTC))
    results = []
    for index, target in enumerate(notifier.targets):
        error = notifier.send(target, text.title, text.body)
        results.append({"url": f"alerts.urls[{index}]", "shown": notifier.describe(target), "error": error})
    if as_json:
        print(json.dumps({"results": results}, indent=1))
    else:
        for r in results:
            outcome = "sent" if r["error"] is None else f"NOT SENT: {r['error']}"
            print(f"{r['url']} {r['shown']}: {outcome}")
    return EXIT_ALERT_NOT_SENT if any(r["error"] is not None for r in results) else 0


def _list(config: Any, args: argparse.Namespace) -> int:
    from osa_core.alert.incidents import listing, unsent
    from osa_core.model.layout import NightLayout
    from osa_core.model.night_clock import current_night
    from osa_core.track.ledger import Ledger

    now = dt.datetime.now(dt.UTC)
    date = args.date or current_night(now, config.night.day_boundary_hour)
    layout = NightLayout(config, date)
    args.ledger_path = layout.ledger_path
    if not layout.ledger_path.is_file():
        print(
            f"osa-core: {layout.ledger_path}: no ledger for the night {date.isoformat()}"
            " (nothing was submitted for it here)",
            file=sys.stderr,
        )
        return EXIT_NO_LEDGER
    hint = f"rebuild it with `osa-core ledger rebuild --date {date.isoformat()}`"
    ledger = Ledger(layout.ledger_path, hint)
    try:
        incidents = listing(ledger, now - RECENT)
        owed = unsent(ledger)
    finally:
        ledger.close()
    if args.json:
        out = [{**i.to_json(), "messages_unsent": owed.get(i.id, 0)} for i in incidents]
        print(json.dumps({"night": date.isoformat(), "incidents": out}, indent=1))
        return 0
    opened = [i for i in incidents if i.open]
    cleared = [i for i in incidents if not i.open]
    print(f"night {date.isoformat()}: {len(opened)} open incident(s), {len(cleared)} resolved in 24 h")
    for i in opened:
        late = f" ({owed[i.id]} message(s) not sent yet)" if owed.get(i.id) else ""
        print(f"  OPEN     since {_hm(i.opened_at)}  {i.summary}{late}")
        if i.advice:
            print(f"           {i.advice}")
    for i in cleared:
        print(f"  resolved {_hm(i.resolved_at)}  {i.summary}")
    return 0


def _hm(at: dt.datetime | None) -> str:
    return "-" if at is None else at.strftime("%m-%d %H:%M")
