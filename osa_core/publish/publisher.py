"""Which built files go where on the datacheck web server, and the push of one night.

The datacheck is built in the server's own layout (:attr:`osa_core.model.layout.NightLayout.web_root`), so a
file's remote path is its path below that directory: ``dl1/20200127/v0.1.0/index.html``. The
SFTP work itself is :func:`osa_core.push.push` (paramiko is imported only when pushing).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from osa_core.model.actions import ActionReport
from osa_core.model.errors import ConfigError, OsaError
from osa_core.model.fileio import atomic_write
from osa_core.model.layout import NightLayout
from osa_core.model.snapshot import NightSnapshot
from osa_core.publish.datacheck import CATEGORIES
from osa_core.publish.handover import REPORT_NAME, gather
from osa_core.publish.handover_page import markdown, page
from osa_core.publish.nights_index import index_path, write_index

if TYPE_CHECKING:
    from osa_core.model.actions import PushReport
    from osa_core.publish.push import Progress, PushItem


def manifest_path(layout: NightLayout) -> Path:
    """Where push() records what it uploaded (documented in docs/publishing.md)."""
    return layout.state_dir / "push-manifest.json"


def handover_text(
    layout: NightLayout, snapshot: NightSnapshot, *, html: bool = False, with_push: bool = True
) -> str:
    """The shift's handover report (:mod:`osa_core.publish.handover`), as Markdown or HTML."""
    handover = gather(snapshot, layout, manifest_path(layout) if with_push else None)
    return page(handover) if html else markdown(handover)


def write_handover(layout: NightLayout, snapshot: NightSnapshot) -> Path:
    """The handover page beside the night page, so that every push carries the latest one (without
    the push's own time, which would make every push upload it again), and the nights index at
    the web tree's root linking every pushed night's page."""
    path = layout.web_page.with_name(REPORT_NAME)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, handover_text(layout, snapshot, html=True, with_push=False))
    write_index(layout.config, layout.date, manifest_path)
    return path


def push_items(layout: NightLayout) -> list[PushItem]:
    """Every built file of the night, the page and the nights index last (a reader never finds
    them linking to nothing yet)."""
    from osa_core.publish.push import PushItem

    root = layout.web_root
    items: list[PushItem] = []
    for category in CATEGORIES:
        night = root / category / layout.night
        if not night.is_dir():
            continue
        for path in sorted(night.rglob("*")):
            # hidden names are temporary files of a build in progress
            if path.is_file() and not path.name.startswith(".") and path != layout.web_page:
                items.append(PushItem(path, path.relative_to(root).as_posix()))
    if layout.web_page.is_file():
        items.append(PushItem(layout.web_page, layout.web_page.relative_to(root).as_posix()))
    index = index_path(layout)
    if index.is_file():  # after the page it links
        items.append(PushItem(index, index.relative_to(root).as_posix()))
    return items


def publish(layout: NightLayout, progress: Progress | None = None) -> PushReport:
    """Push the night's built datacheck; raises PushError/HostKeyError/ConfigError as push() does."""
    from osa_core.publish.push import push

    config = layout.config.webserver
    if not config.host:
        where = layout.config.source or "the configuration"
        raise ConfigError(f"the datacheck web server is not configured: set [webserver] host in {where}")
    return push(config, push_items(layout), manifest_path(layout), progress)


def push_night(layout: NightLayout, snapshot: NightSnapshot) -> ActionReport:
    """The engine's push: the datacheck built first if it never was, then published; an error
    is the report's message (a front end shows it), not an exception."""
    config = layout.config
    if not config.webserver.host:
        where = config.source or "the configuration"
        return ActionReport(
            "push", False, f"the datacheck web server is not configured: set [webserver] host in {where}"
        )
    from osa_core.publish.datacheck import build_datacheck

    try:
        if not layout.web_page.exists():
            build_datacheck(snapshot, layout)
        write_handover(layout, snapshot)
        report = publish(layout, None)
    except OsaError as exc:
        return ActionReport("push", False, str(exc))
    details = tuple(f"not uploaded {remote}: {why}" for remote, why in report.failed)
    message = (
        f"pushed to {config.webserver.host}: {len(report.uploaded)} uploaded, "
        f"{len(report.skipped)} unchanged, {len(report.failed)} failed"
    )
    return ActionReport("push", report.ok, message, (), details)
