"""Benchmark: what alerts cost a pass.

Prints, best of three (five for the processes):
- importing apprise, and loading its plugins (the first URL parsed), in a fresh interpreter;
- ``osa-core status --help`` as a process with and without ``[alerts] urls`` (reading the
  configuration must not load apprise);
- an idle ``reconcile`` (INCIDENTS open incidents seen again, nothing owed: no apprise, no
  network) on a real ledger;
- a pass that opens MESSAGES incidents and sends each to a webhook on 127.0.0.1.
Run by hand: ``.venv/bin/python bench/bench_alerts.py [--incidents N] [--messages N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from alert_servers import WebhookServer  # noqa: E402

from osa_core.alert.notifier import AppriseNotifier  # noqa: E402
from osa_core.alert.reconcile import reconcile  # noqa: E402
from osa_core.model.conditions import Condition, ConditionKind  # noqa: E402
from osa_core.track.ledger import Ledger  # noqa: E402

NIGHT = dt.date(2020, 1, 27)


def best(runs: list[float]) -> str:
    return f"{min(runs) * 1000:.1f} ms"


def process(code: str, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120, cwd=cwd)
    return time.perf_counter() - start


def conditions(n: int, tag: str) -> list[Condition]:
    return [
        Condition(ConditionKind.RETRIES_EXHAUSTED, f"run={tag}{i}", f"run {i:05d}: subruns 3, 17 failed")
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10)
    args = parser.parse_args()

    base = process("pass")
    imp = [process("import apprise") - base for _ in range(3)]
    first_url = "import apprise; apprise.Apprise.instantiate('json://127.0.0.1:9/x')"
    load = [process(first_url) - base for _ in range(3)]
    print(f"python: {base * 1000:.0f} ms; import apprise: +{best(imp)}; with its plugins: +{best(load)}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "plain.toml").write_text("")
        (work / "alerts.toml").write_text(
            '[alerts]\nurls = ["json://127.0.0.1:9/x", "mailto://osa@example.org"]\n'
        )
        for name in ("plain", "alerts"):
            code = (
                "import sys; from osa_core.cli.main import main\n"
                f"try: main(['--config', '{name}.toml', 'alerts', '--date', '2020-01-27'])\n"
                "except SystemExit: pass\n"
                "assert 'apprise' not in sys.modules"
            )
            runs = [process(code, work) for _ in range(5)]
            print(f"alerts --date (no ledger), config {name}: {best(runs)}")

        server = WebhookServer()
        server.start()
        try:
            ledger = Ledger(work / "ledger.sqlite")
            notifier = AppriseNotifier([server.url()], "[bench]")
            now = dt.datetime(2020, 1, 28, 6, tzinfo=dt.UTC)
            open_now = conditions(args.incidents, "a")
            reconcile(ledger, NIGHT, open_now, notifier, now)
            server.take()
            idle = []
            for i in range(1, 6):
                start = time.perf_counter()
                reconcile(ledger, NIGHT, open_now, notifier, now + dt.timedelta(minutes=5 * i))
                idle.append(time.perf_counter() - start)
            print(f"idle reconcile, {args.incidents} open incidents, nothing owed: {best(idle)}")
            sending = []
            for i in range(3):
                fresh = conditions(args.messages, f"b{i}-")
                start = time.perf_counter()
                report = reconcile(ledger, NIGHT, open_now + fresh, notifier, now + dt.timedelta(hours=1 + i))
                sending.append(time.perf_counter() - start)
                assert report.failed == [] and len(report.opened) == args.messages
                # the previous pass's new incidents clear: their "resolved" go in the same pass
                assert len(report.sent) == args.messages * (1 if i == 0 else 2)
            print(
                f"a pass opening {args.messages} incidents (and resolving as many), "
                f"each message to a local webhook: {best(sending)}"
            )
            ledger.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
