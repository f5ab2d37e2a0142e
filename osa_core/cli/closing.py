"""The end of the night: close, datacheck, push, and the merge jobs' side (docs/closing.md).

Each command's arguments are defined next to it (:func:`add_closing_commands`); the parser and
the dispatch are in :mod:`osa_core.cli.main`. The closing, plotting and SFTP modules (matplotlib,
paramiko) are imported inside the commands, so that the other commands never load them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from osa_core.cli.support import EXIT_ATTENTION, NightCommand, disk_error, open_engine, print_report
from osa_core.model.errors import OsaError

EXIT_CLOSING = 12
"""``close``: merges are still running; run ``close`` again later (cron: every few minutes)."""


def add_closing_commands(sub: Any, night_command: NightCommand) -> None:
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
    p.add_argument("--drs4-run", type=int, help="the run's calibration sequence: its DRS4 run")
    p.add_argument("--pedcal-run", type=int, help="the run's calibration sequence: its pedcal run")

    p = night_command("run-night-checks", "job side: the night-wise checks at closing (called by its job)")
    p.add_argument("--runs", type=_runs, required=True, help="the merged runs, e.g. 2008,2010")
    p.add_argument("--attempt", type=int, default=1)


def _runs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected run numbers like 2008,2010, got {text!r}") from None


def cmd_close(args: argparse.Namespace) -> int:
    import time

    from osa_core.close.closer import close_phase
    from osa_core.model.errors import RefusedAction

    engine = open_engine(args)

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
            print_report(report)
            return 0 if report.ok else RefusedAction.exit_code
        report = asyncio.run(rounds())
        phase, failed = close_phase(engine)
    except Exception as exc:
        error = disk_error(exc, args)
        if error is None or args.debug or not args.force:
            raise
        # The runs a forced closing excluded stay excluded: whatever stopped it (a full disk,
        # the scheduler), the operator must know which.
        error.message += "; " + _excluded_so_far(engine)
        raise error from None
    finally:
        engine.shutdown()
    if not report.ok:
        print(f"osa-core: {report.message}", file=sys.stderr)
        for line in report.details:
            print(f"  {line}", file=sys.stderr)
        return RefusedAction.exit_code
    print_report(report)
    if phase == "closing":
        return EXIT_CLOSING
    return EXIT_ATTENTION if failed else 0


def _excluded_so_far(engine: Any) -> str:
    from osa_core.model.closestate import RunClose

    try:
        runs = engine.ledger.closing_runs()
    except Exception:  # the ledger itself may be what failed
        return "the ledger cannot say which runs this closing has excluded; `close --dry-run` will"
    excluded = [f"{r.run:05d}" for r in runs if r.state is RunClose.EXCLUDED]
    if not excluded:
        return "no run has been excluded yet; run `close` again once this is fixed"
    return (
        f"already recorded as excluded: run(s) {', '.join(excluded)}; "
        "run `close` again once this is fixed: it carries on from there"
    )


def cmd_datacheck(args: argparse.Namespace) -> int:
    from osa_core.publish.datacheck import build_datacheck

    engine = open_engine(args)
    try:
        snapshot = asyncio.run(engine.refresh())
        built = build_datacheck(snapshot, engine.layout)
    finally:
        engine.shutdown()
    if not snapshot.health.ok:
        print(f"osa-core: the scheduler did not answer ({snapshot.health.error}): states as last known")
    pdfs = sum(1 for path in built.files if path.suffix == ".pdf")
    print(f"datacheck of {snapshot.date}: {len(built.plots)} plot(s), {pdfs} PDF(s)")
    print(f"  {engine.layout.web_page}")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from osa_core.model.config import find_config_file
    from osa_core.model.errors import ConfigError

    try:
        return _push(args)
    except ConfigError as exc:
        # the [webserver] checks know the key, not the file it was read from
        if exc.path is None:
            exc.path = find_config_file(args.config)
        raise


def _push(args: argparse.Namespace) -> int:
    from osa_core.cli.push_progress import push_cli_progress
    from osa_core.publish.hostkeys import check_config
    from osa_core.publish.push import PushError, trust_host_key

    if args.trust_host_key:
        from osa_core.model.config import load_config

        web = load_config(args.config).webserver
        fingerprint = trust_host_key(web, hashed=args.hashed, expected_fingerprint=args.fingerprint)
        print(f"recorded the host key of {web.host}:{web.port} in {web.known_hosts}: {fingerprint}")
        return 0
    from osa_core.publish.datacheck import build_datacheck
    from osa_core.publish.publisher import publish, write_handover

    engine = open_engine(args)
    try:
        check_config(engine.config.webserver)  # before the datacheck is built for nothing
        if args.build or not engine.layout.web_page.exists():
            build_datacheck(asyncio.run(engine.refresh()), engine.layout)
        write_handover(engine.layout, engine.snapshot)  # the shift's report rides with the page
        with push_cli_progress() as progress:
            report = publish(engine.layout, progress)
    except PushError as exc:
        if exc.report is not None and exc.report.uploaded:  # the error's own line says "0 uploaded"
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
    from osa_core.close.merge import run_merge
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout
    from osa_core.pipeline.factory import get_profile

    config = load_config(args.config)
    if args.date is None:
        raise OsaError("the job side needs --date")
    layout = NightLayout(config, args.date)
    calibration = None
    if args.drs4_run is not None and args.pedcal_run is not None:
        calibration = get_profile(config).calibration_products(layout, args.drs4_run, args.pedcal_run)
    return run_merge(config, layout, args.run, args.subruns, args.attempt, calibration)


def cmd_run_night_checks(args: argparse.Namespace) -> int:
    """Job side: the profile's closing steps (long-term check, transparency); no ledger, no scheduler."""
    from osa_core.close.nightchecks import run_night_checks
    from osa_core.model.config import load_config
    from osa_core.model.layout import NightLayout

    config = load_config(args.config)
    if args.date is None:
        raise OsaError("the job side needs --date")
    return run_night_checks(config, NightLayout(config, args.date), args.runs, args.attempt)
