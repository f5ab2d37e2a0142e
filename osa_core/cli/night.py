"""The commands of the night as it runs: plan, submit, status, resubmit, cancel, the job side, demo.

Each command's arguments are defined next to it (:func:`add_night_commands`); the parser and
the dispatch are in :mod:`osa_core.cli.main`. Modules beyond the standard library are imported
inside the commands, so that ``osa-core plan`` loads neither the engine nor its dependencies.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from osa_core.cli.support import (
    EXIT_ATTENTION,
    EXIT_UNREACHABLE,
    NightCommand,
    open_engine,
    parse_date,
    print_report,
    setup_logging,
)
from osa_core.model.errors import OsaError


def _subruns(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected subrun numbers like 3,17, got {text!r}") from None


def _utc_time(text: str) -> Any:
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a time as YYYY-MM-DDTHH:MM[:SS], got {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def add_night_commands(sub: Any, night_command: NightCommand) -> None:
    p = sub.add_parser(
        "plan", help="plan a night file into sequences and show the stages its profile runs (reads only)"
    )
    p.add_argument("file", type=Path, help="NightSummary text or RunSummary ECSV")
    p.add_argument(
        "--date", type=parse_date, help="the night's date (default: from the file name or its runs)"
    )
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
            p.add_argument(
                "--exclude",
                action="append",
                metavar="NODE",
                help="never on this node (repeatable; sbatch --exclude), e.g. a node that fails them",
            )
            p.add_argument(
                "--more-memory",
                action="store_true",
                help="raise the memory request as after an out-of-memory, whatever the failure",
            )

    p = night_command("ledger", "repair the night's ledger: `ledger rebuild` after damage")
    p.add_argument("action", choices=["rebuild"], help="rebuild it from the scheduler and history files")
    p.add_argument(
        "--since",
        type=_utc_time,
        help="only jobs submitted from this UTC time on (default: the night's start)",
    )

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


def cmd_plan(args: argparse.Namespace) -> int:
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.pipeline.factory import get_file_profile
    from osa_core.pipeline.stages import night_stages, run_problems
    from osa_core.plan.planner import plan_file

    plan = plan_file(args.file, explicit_date=args.date)
    config = load_config(args.config)
    profile = get_file_profile(config)  # a bad profile file is a one-line error here, before submission
    layout = NightLayout(config, plan.date)
    stages = night_stages(profile, layout, plan)
    problems = run_problems(profile, layout, plan)
    if args.json:
        out = plan.to_json()
        out["profile"] = {"name": profile.name, "file": str(profile.spec.path)}
        out["stages"] = [stage.to_json() for stage in stages]
        out["run_problems"] = list(problems.values())
        print(json.dumps(out, indent=2))
        return 0
    from rich.console import Console

    from osa_core.cli.plan_table import plan_table, stages_table

    console = Console()
    console.print(plan_table(plan))
    console.print(stages_table(profile.name, profile.spec.path, stages))
    from rich.text import Text

    for problem in problems.values():
        console.print(Text(f"  - {problem}", style="red"))
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    engine = open_engine(args)
    try:
        report = asyncio.run(engine.submit())
    finally:
        engine.shutdown()
    print_report(report)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    # One look reads the night from the ledger once; a watch keeps the whole night and folds changes.
    engine = open_engine(args, narrow=not args.watch)
    try:
        return asyncio.run(_status(engine, args))
    finally:
        engine.shutdown()


async def _status(engine: Any, args: argparse.Namespace) -> int:
    # --json never draws: rich (and the table code) is not even imported for it
    if args.json:
        from osa_core.cli.status_json import encode
    else:
        from rich.console import Console

        from osa_core.cli.status_view import status_view

        console = Console()
    if not args.watch and not engine.state.sequences:
        # Nothing submitted yet, so the night is its plan: a night file that is missing or
        # unreadable is an error with its exit code, not an empty night that reads "OK" to cron.
        # (A watch goes on: the file may still be on its way; its table shows the problem.)
        await asyncio.to_thread(engine.plan)
    if args.json and engine.narrow:
        from osa_core.cli.status_json import cold

        line, scheduler_ok, totals = await cold(engine)
        sys.stdout.buffer.write(line)
        sys.stdout.flush()
        return _exit_code(scheduler_ok, totals)
    rounds = 0
    while True:
        snapshot = await engine.refresh()
        rounds += 1
        if args.json:
            sys.stdout.buffer.write(encode(snapshot))
            sys.stdout.flush()
        else:
            if args.watch and console.is_terminal:
                console.clear()
            console.print(status_view(snapshot))
        if not args.watch or (args.count and rounds >= args.count):
            break
        await asyncio.sleep(snapshot.next_refresh)
    return _exit_code(snapshot.health.ok, snapshot.totals)


def _exit_code(scheduler_ok: bool, totals: dict[Any, int]) -> int:
    if not scheduler_ok:
        return EXIT_UNREACHABLE
    from osa_core.model.states import JobState

    if any(state.failed or state is JobState.BLOCKED for state, n in totals.items() if n):
        return EXIT_ATTENTION
    return 0


def _selection(engine: Any, args: argparse.Namespace, failed_only: bool, force: bool) -> Any:
    from osa_core.model.actions import Selection
    from osa_core.model.errors import RefusedAction

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
    from osa_core.model.errors import RefusedAction

    engine = open_engine(args)
    try:
        # --force names completed subruns too: without --subruns it means every subrun selected
        failed_only = args.failed or not (args.subruns or args.force)
        selection = dataclasses.replace(
            _selection(engine, args, failed_only, args.force),
            exclude_nodes=frozenset(args.exclude or ()),
            more_memory=args.more_memory,
        )
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
    print_report(report)
    if not report.ok and any(line.startswith("not run") for line in report.details):
        raise RefusedAction("every selected subrun was refused (see above)")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    engine = open_engine(args)
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
    print_report(report)
    return 0


def cmd_ledger(args: argparse.Namespace) -> int:
    """``ledger rebuild``: a damaged ledger rebuilt from what the scheduler and the jobs recorded."""
    import datetime as dt

    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.model.night_clock import current_night
    from osa_core.plan.planner import configured_plan
    from osa_core.scheduler.factory import make_scheduler
    from osa_core.track.lock import night_lock
    from osa_core.track.rebuild import rebuild_ledger

    config = load_config(args.config)
    layout = NightLayout(
        config, args.date or current_night(dt.datetime.now(dt.UTC), config.night.day_boundary_hour)
    )
    setup_logging(layout.engine_log, args.verbose)
    sequences = list(configured_plan(config, layout).sequences)
    with night_lock(layout.lock_path, what="ledger rebuild"):
        report = asyncio.run(rebuild_ledger(layout, sequences, make_scheduler(config), args.since))
    for line in report.lines():
        print(line)
    return 0


def cmd_run_task(args: argparse.Namespace) -> int:
    """Job side: no ledger, no scheduler; only the history file and the job log."""
    from osa_core.jobs.runner import TaskIdentity, parse_attempt_map, run_steps
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.pipeline.base import CalibrationContext, SubrunContext
    from osa_core.pipeline.factory import get_profile

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
    setup_logging(engine.layout.engine_log, args.verbose)
    print(f"SIMULATION demo night {date} in {config.source.parent if config.source else '?'}")
    try:
        return asyncio.run(_demo(engine, resubmit=not args.no_resubmit))
    finally:
        engine.shutdown()


async def _demo(engine: Any, resubmit: bool) -> int:
    from rich.console import Console

    from osa_core.cli.status_view import status_view
    from osa_core.model.actions import Selection

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
