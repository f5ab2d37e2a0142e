"""``osa-core``: the engine from the command line and from cron.

Every error the engine means to raise becomes ``FILE:LINE: message`` on stderr and an exit
code (see docs/cli.md); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from osa_core.errors import OsaError

EXIT_UNREACHABLE = 5
EXIT_ATTENTION = 10
"""``status``: some subruns failed or are blocked."""

log = logging.getLogger("osa")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _subruns(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected subrun numbers like 3,17, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="osa-core", description="LST-1 on-site analysis engine")
    parser.add_argument("--config", help="configuration file (default: $OSA_CONFIG, then cfg/osa.toml)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def night_command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument(
            "--date", type=_date, help="night (YYYY-MM-DD, the date it starts); default: the last one"
        )
        p.add_argument("--config", dest="config_sub", help=argparse.SUPPRESS)
        return p

    p = sub.add_parser("plan", help="plan a night file into sequences (no I/O beyond reading it)")
    p.add_argument("file", type=Path, help="NightSummary text or RunSummary ECSV")
    p.add_argument("--date", type=_date, help="the night's date (default: from the file name or its runs)")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    night_command("submit", "plan the night and submit what was never submitted")

    p = night_command("status", "refresh once (one scheduler query) and show the night")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--watch", action="store_true", help="refresh at the engine's interval until interrupted")
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)  # --watch rounds (tests)

    for name, help in (("resubmit", "resubmit failed subruns as a new array"), ("cancel", "cancel jobs")):
        p = night_command(name, help)
        p.add_argument("--run", type=int, action="append", help="only this run (repeatable)")
        p.add_argument("--subruns", type=_subruns, help="only these subruns of --run, e.g. 3,17")
        p.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
        if name == "resubmit":
            p.add_argument(
                "--failed", action="store_true", help="only failed subruns (default with no --subruns)"
            )
            p.add_argument("--force", action="store_true", help="also completed subruns, and past max_tries")

    p = sub.add_parser("demo", help="run the demo night headless (local backend, SIMULATION profile)")
    p.add_argument("--dir", type=Path, help="where to lay out the demo (default: the user's state dir)")
    p.add_argument("--no-resubmit", action="store_true", help="leave the injected failures failed")
    p.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)

    for name in ("run-subrun", "run-calibration"):
        p = night_command(name, "job side: run one task's steps (called by the job scripts)")
        p.add_argument("--seq", type=int, required=True)
        p.add_argument("--run", type=int)
        p.add_argument("--subrun", type=int)
        p.add_argument("--drs4-run", type=int)
        p.add_argument("--pedcal-run", type=int)
        p.add_argument("--attempt-map", default="")
    _closing_commands(sub, night_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "config_sub", None):
        args.config = args.config_sub
    handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
    try:
        return handler(args)
    except OsaError as exc:
        if args.debug:
            raise
        print(f"osa-core: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


# --- commands -------------------------------------------------------------------------------------


def cmd_plan(args: argparse.Namespace) -> int:
    from osa_core.planner import plan_file

    plan = plan_file(args.file, explicit_date=args.date)
    if args.json:
        print(json.dumps(plan.to_json(), indent=2))
        return 0
    from rich.console import Console

    from osa_core.render import plan_table

    Console().print(plan_table(plan))
    return 0


def _engine(args: argparse.Namespace) -> Any:
    from osa_core.config import load_config
    from osa_core.engine import Engine

    config = load_config(args.config)
    date = args.date or default_night(config.night.day_boundary_hour)
    engine = Engine(config, date)
    _setup_logging(engine.layout.engine_log, args.verbose)
    return engine


def default_night(boundary_hour: int, now: dt.datetime | None = None) -> dt.date:
    """The night in progress or just ended: before the boundary hour it is yesterday's."""
    now = now or dt.datetime.now(dt.UTC)
    return (now - dt.timedelta(hours=boundary_hour)).date()


def _setup_logging(path: Path, verbose: bool) -> None:
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


def _print_report(report: Any) -> None:
    print(report.message)
    for line in report.details:
        print(f"  {line}")


def cmd_submit(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        report = asyncio.run(engine.submit())
    finally:
        engine.shutdown()
    _print_report(report)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        return asyncio.run(_status(engine, args))
    finally:
        engine.shutdown()


async def _status(engine: Any, args: argparse.Namespace) -> int:
    from rich.console import Console

    from osa_core.render_status import status_view

    console = Console()
    rounds = 0
    while True:
        snapshot = await engine.refresh()
        rounds += 1
        if args.json:
            print(json.dumps(snapshot.to_json()), flush=True)
        else:
            if args.watch and console.is_terminal:
                console.clear()
            console.print(status_view(snapshot))
        if not args.watch or (args.count and rounds >= args.count):
            break
        await asyncio.sleep(snapshot.next_refresh)
    if not snapshot.health.ok:
        return EXIT_UNREACHABLE
    from osa_core.states import JobState

    totals = snapshot.totals
    if any(state.failed or state is JobState.BLOCKED for state, n in totals.items() if n):
        return EXIT_ATTENTION
    return 0


def _selection(engine: Any, args: argparse.Namespace, failed_only: bool, force: bool) -> Any:
    from osa_core.actions import Selection
    from osa_core.errors import RefusedAction

    runs = set(args.run or [])
    known = {s.run: s for s in engine.state.sequences}
    for run in runs:
        if run not in known:
            raise RefusedAction(f"run {run} is not in this night's ledger (submit the night first?)")
    if args.subruns:
        if len(runs) != 1:
            raise RefusedAction("--subruns needs exactly one --run")
        seq = known[next(iter(runs))].seq
        return Selection(keys=frozenset((seq, s) for s in args.subruns), failed_only=failed_only, force=force)
    return Selection(runs=frozenset(runs) if runs else None, failed_only=failed_only, force=force)


def cmd_resubmit(args: argparse.Namespace) -> int:
    from osa_core.errors import RefusedAction

    engine = _engine(args)
    try:
        failed_only = args.failed or not args.subruns
        selection = _selection(engine, args, failed_only, args.force)
        if args.dry_run:
            asyncio.run(engine.refresh())
            preview = engine.preview_resubmit(selection)
            print("would resubmit:" if preview.submissions else "nothing to resubmit")
            for line in preview.lines():
                print(f"  {line}")
            return 0
        report = asyncio.run(engine.resubmit(selection))
    finally:
        engine.shutdown()
    _print_report(report)
    if not report.ok and any(line.startswith("not run") for line in report.details):
        raise RefusedAction("every selected subrun was refused (see above)")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    engine = _engine(args)
    try:
        selection = _selection(engine, args, failed_only=False, force=False)
        if args.dry_run:
            asyncio.run(engine.refresh())
            for line in engine.preview_cancel(selection).lines() or ["nothing to cancel"]:
                print(line)
            return 0
        report = asyncio.run(engine.cancel(selection))
    finally:
        engine.shutdown()
    _print_report(report)
    return 0


def cmd_run_task(args: argparse.Namespace) -> int:
    """Job side: no ledger, no scheduler; only the history file and the job log."""
    from osa_core.config import load_config
    from osa_core.layout import NightLayout
    from osa_core.pipeline import get_profile
    from osa_core.pipeline.base import CalibrationContext, SubrunContext
    from osa_core.runner import TaskIdentity, parse_attempt_map, run_steps

    config = load_config(args.config)
    if args.date is None:
        raise OsaError("the job side needs --date")
    layout = NightLayout(config, args.date)
    profile = get_profile(config)
    attempts = parse_attempt_map(args.attempt_map)
    if args.command == "run-calibration":
        who = TaskIdentity.from_environment(attempts.get(0, 1))
        products = profile.calibration_products(layout, args.drs4_run, args.pedcal_run)
        ctx = CalibrationContext(layout, args.drs4_run, args.pedcal_run, who.attempt, products)
        steps = profile.calibration_steps(ctx)
        history = layout.history(args.pedcal_run, None)
        if products.external:
            print(f"[osa] external calibration used for: {', '.join(products.external)}", flush=True)
    else:
        subrun = args.subrun
        who = TaskIdentity.from_environment(attempts.get(subrun, 1))
        calibration = None
        if args.pedcal_run is not None:
            calibration = profile.calibration_products(layout, args.drs4_run, args.pedcal_run)
        ctx2 = SubrunContext(layout, args.run, subrun, who.attempt, calibration)
        steps = profile.subrun_steps(ctx2)
        history = layout.history(args.run, subrun)
    if profile.simulation:
        print("[osa] SIMULATION profile: steps are placeholders, not the real analysis", flush=True)
    return run_steps(steps, history, who)


def cmd_demo(args: argparse.Namespace) -> int:
    from osa_core.demo import prepare_demo
    from osa_core.engine import Engine

    config, date = prepare_demo(args.dir)
    engine = Engine(config, date)
    _setup_logging(engine.layout.engine_log, args.verbose)
    print(f"SIMULATION demo night {date} in {config.source.parent if config.source else '?'}")
    try:
        return asyncio.run(_demo(engine, resubmit=not args.no_resubmit))
    finally:
        engine.shutdown()


async def _demo(engine: Any, resubmit: bool) -> int:
    from rich.console import Console

    from osa_core.actions import Selection
    from osa_core.render_status import status_view

    console = Console()
    report = await engine.submit()
    print(report.message)
    while True:
        snapshot = await engine.refresh()
        totals = ", ".join(f"{state.value.lower()} {n}" for state, n in sorted(snapshot.totals.items()))
        print(f"{snapshot.taken_at:%H:%M:%S}  {totals}", flush=True)
        if snapshot.finished:
            failed = any(s.failed for s in snapshot.sequences)
            if failed and resubmit:
                report = await engine.resubmit(Selection(failed_only=True))
                print(f"{report.message}", flush=True)
                for line in report.details:
                    print(f"  {line}")
                if report.ok:
                    continue
            console.print(status_view(snapshot))
            return EXIT_ATTENTION if failed else 0
        await asyncio.sleep(snapshot.next_refresh)


# --- the end of the night: close, datacheck, push (docs/closing.md) ----------------------------------

EXIT_CLOSING = 12
"""``close``: merges are still running; run ``close`` again later (cron: every few minutes)."""


def _closing_commands(sub: Any, night_command: Callable[[str, str], argparse.ArgumentParser]) -> None:
    p = night_command("close", "close the night: merge runs as jobs, verify, move, mark the night finished")
    p.add_argument(
        "--force", action="store_true", help="close the complete runs; record the others as excluded"
    )
    p.add_argument("--dry-run", action="store_true", help="say what would be done, do nothing")
    p.add_argument("--wait", action="store_true", help="keep advancing until the night is closed")
    p.add_argument("--timeout", type=float, default=3600.0, help="with --wait: give up after SECONDS")

    night_command("datacheck", "build the night's datacheck plots and page from its snapshot")

    p = night_command("push", "publish the night's datacheck to the web server over SFTP")
    p.add_argument(
        "--build", action="store_true", help="rebuild the datacheck first (default: only if missing)"
    )
    p.add_argument(
        "--trust-host-key", action="store_true", help="record the server's host key in known_hosts"
    )
    p.add_argument("--fingerprint", help="with --trust-host-key: record it only if it is this SHA256:... key")
    p.add_argument("--hashed", action="store_true", help="with --trust-host-key: write a hashed entry")

    p = night_command("run-merge", "job side: merge one run's subrun products (called by merge jobs)")
    p.add_argument("--run", type=int, required=True)
    p.add_argument("--subruns", type=int, required=True)
    p.add_argument("--attempt", type=int, default=1)


def cmd_close(args: argparse.Namespace) -> int:
    import time

    from osa_core.closer import close_phase
    from osa_core.errors import RefusedAction

    engine = _engine(args)

    async def rounds() -> Any:
        deadline = time.monotonic() + args.timeout
        said = ""
        while True:
            report = await engine.close_night(args.force)
            phase, _ = close_phase(engine)
            if not (args.wait and report.ok and phase == "closing") or time.monotonic() > deadline:
                return report
            if report.message != said:
                print(report.message, flush=True)
                said = report.message
            await asyncio.sleep(max(0.5, engine.config.scheduler.refresh_min))

    try:
        if args.dry_run:
            report = asyncio.run(engine.preview_close(args.force))
            _print_report(report)
            return 0 if report.ok else RefusedAction.exit_code
        report = asyncio.run(rounds())
        phase, failed = close_phase(engine)
    finally:
        engine.shutdown()
    if not report.ok:
        print(f"osa-core: {report.message}", file=sys.stderr)
        for line in report.details:
            print(f"  {line}", file=sys.stderr)
        return RefusedAction.exit_code
    _print_report(report)
    if phase == "closing":
        return EXIT_CLOSING
    return EXIT_ATTENTION if failed else 0


def cmd_datacheck(args: argparse.Namespace) -> int:
    from osa_core.datacheck import build_datacheck, page_path

    engine = _engine(args)
    try:
        snapshot = asyncio.run(engine.refresh())
        built = build_datacheck(snapshot, engine.layout)
    finally:
        engine.shutdown()
    if not snapshot.health.ok:
        print(f"osa-core: the scheduler did not answer ({snapshot.health.error}): states as last known")
    pdfs = len(built.files) - len(built.plots) - 1
    print(f"datacheck of {snapshot.date}: {len(built.plots)} plot(s), {pdfs} PDF(s)")
    print(f"  {page_path(engine.layout)}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from osa_core.push import PushError, push_cli_progress, trust_host_key

    if args.trust_host_key:
        from osa_core.config import load_config

        web = load_config(args.config).webserver
        fingerprint = trust_host_key(web, hashed=args.hashed, expected_fingerprint=args.fingerprint)
        print(f"recorded the host key of {web.host}:{web.port} in {web.known_hosts}: {fingerprint}")
        return 0
    from osa_core.datacheck import build_datacheck, page_path
    from osa_core.publish import publish

    engine = _engine(args)
    try:
        if args.build or not page_path(engine.layout).exists():
            build_datacheck(asyncio.run(engine.refresh()), engine.layout)
        with push_cli_progress() as progress:
            report = publish(engine.layout, progress)
    except PushError as exc:
        if exc.report is not None:
            print(f"{len(exc.report.uploaded)} uploaded before it stopped", file=sys.stderr)
        raise
    finally:
        engine.shutdown()
    web = engine.config.webserver
    print(
        f"pushed to {web.host}:{web.root}: {len(report.uploaded)} uploaded, "
        f"{len(report.skipped)} unchanged, {len(report.failed)} failed"
    )
    for remote, why in report.failed:
        print(f"  not uploaded {remote}: {why}", file=sys.stderr)
    return 0 if report.ok else PushError.exit_code


def cmd_run_merge(args: argparse.Namespace) -> int:
    """Job side: no ledger, no scheduler; only the run's files and the job log."""
    from osa_core.config import load_config
    from osa_core.layout import NightLayout
    from osa_core.merge import run_merge

    config = load_config(args.config)
    if args.date is None:
        raise OsaError("the job side needs --date")
    return run_merge(config, NightLayout(config, args.date), args.run, args.subruns, args.attempt)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo,
    "plan": cmd_plan,
    "submit": cmd_submit,
    "status": cmd_status,
    "resubmit": cmd_resubmit,
    "cancel": cmd_cancel,
    "run-subrun": cmd_run_task,
    "run-calibration": cmd_run_task,
    "close": cmd_close,
    "datacheck": cmd_datacheck,
    "push": cmd_push,
    "run-merge": cmd_run_merge,
}


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
