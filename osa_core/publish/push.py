"""Publishing the datacheck to the web server over SFTP (paramiko).

The web server serves whatever is in its tree, so a file is written under a hidden temporary
name in its final directory and renamed onto its final name: readers see the old file or the
new one, never half of one. A manifest of what was uploaded lets the next push skip unchanged
files; a dropped connection is retried. Which server is trusted (known_hosts) and the push's
errors are in :mod:`osa_core.publish.hostkeys`, re-exported here; the command line's progress bar is in
:mod:`osa_core.cli.push_progress`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import secrets
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko

from osa_core.model.actions import PushReport
from osa_core.model.config import WebServerConfig
from osa_core.model.errors import HostKeyError, PushError
from osa_core.model.faults import kill_point
from osa_core.model.fileio import atomic_write
from osa_core.publish.hostkeys import (
    DROPPED,
    TRUST_HINT,
    RejectUnknown,
    check_config,
    fetch_host_key,
    host_key_name,
    load_known_hosts,
    trust_host_key,
    why,
)

# the push's whole interface, the host-key part included, stays importable from here
__all__ = [
    "PARTIAL",
    "HostKeyError",
    "Progress",
    "PushError",
    "PushItem",
    "PushReport",
    "fetch_host_key",
    "push",
    "trust_host_key",
]

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
PARTIAL = re.compile(r"^\..+\.partial-[0-9a-f]{8}$")


@dataclass(frozen=True)
class PushItem:
    local: Path
    """The file to publish."""
    remote: str
    """Its path under ``webserver.root``, e.g. ``dl1/20200127/v0.1.0/plot.png``."""


@dataclass(frozen=True)
class _Digest:
    size: int
    sha256: str


def _digest(path: Path) -> _Digest:
    with path.open("rb") as fh:
        sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        return _Digest(fh.tell(), sha256)


def _load_manifest(path: Path, target: str) -> dict[str, _Digest]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        # a manifest of another server or root says nothing about what this one holds
        files = data["files"] if data.get("target") == target else {}
        return {str(k): _Digest(int(v["size"]), str(v["sha256"])) for k, v in files.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("%s: unreadable manifest (%s); every file will be uploaded", path, exc)
        return {}


def _save_manifest(path: Path, target: str, entries: dict[str, _Digest]) -> None:
    files = {k: {"size": v.size, "sha256": v.sha256} for k, v in sorted(entries.items())}
    try:
        atomic_write(path, json.dumps({"version": 1, "target": target, "files": files}, indent=1) + "\n")
    except OSError as exc:
        raise PushError(f"cannot write the push manifest: {exc}", path=path) from None


class _Session:
    """One authenticated SFTP connection; closed on exit whatever happened."""

    def __init__(self, config: WebServerConfig) -> None:
        known_hosts = check_config(config)
        self.config = config
        self.posix_rename = True
        self.dirs: set[str] = {posixpath.normpath(config.root)}
        self.client = paramiko.SSHClient()
        load_known_hosts(self.client, known_hosts)
        self.client.set_missing_host_key_policy(RejectUnknown(known_hosts))
        try:
            self._connect()
            self.sftp = self.client.open_sftp()
            channel = self.sftp.get_channel()
            if channel is not None:  # paramiko types it optional; an open SFTP session has one
                channel.settimeout(config.timeout)
        except BaseException:
            self.client.close()
            raise

    def _connect(self) -> None:
        c = self.config
        where = f"{c.user}@{c.host}:{c.port}"
        if c.key_file is None:  # without a key paramiko fails late and vaguely: say it now
            agent = paramiko.Agent()
            has_keys = bool(agent.get_keys())
            agent.close()
            if not has_keys:
                raise PushError(f"no key for {where}: set webserver.key_file or load a key with ssh-add")
        try:
            self.client.connect(
                c.host,
                port=c.port,
                username=c.user or None,
                key_filename=str(c.key_file) if c.key_file else None,
                allow_agent=c.key_file is None,
                look_for_keys=False,  # only the configured key, never whatever is in ~/.ssh
                timeout=c.timeout,
                banner_timeout=c.timeout,
                auth_timeout=c.timeout,
                channel_timeout=c.timeout,
            )
        except paramiko.BadHostKeyException as exc:
            raise HostKeyError(
                f"host key of {host_key_name(c)} has CHANGED: the server offered "
                f"{exc.key.get_name()} {exc.key.fingerprint}, {c.known_hosts} has "
                f"{exc.expected_key.get_name()} {exc.expected_key.fingerprint}. A reinstalled server "
                "or someone in between; nothing was uploaded. Once the server's admin confirms the "
                f"new fingerprint, record it with `{TRUST_HINT}`"
            ) from None
        except paramiko.PasswordRequiredException:
            raise PushError(f"{c.key_file} is encrypted: load it into the agent (ssh-add)") from None
        except paramiko.AuthenticationException as exc:
            raise PushError(f"{where} refused the key: {exc}") from None

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def alive(self) -> bool:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            return False
        try:  # the transport notices a dead peer late; one round trip settles it
            self.sftp.normalize(".")
        except Exception:
            return False
        return True

    def stat(self, path: str) -> Any:
        try:
            return self.sftp.stat(path)
        except FileNotFoundError:
            return None

    def check_root(self) -> None:
        root = posixpath.normpath(self.config.root)
        try:
            attrs = self.stat(root)
        except OSError as exc:
            if not self.alive():
                raise
            raise PushError(f"{root} on {self.config.host}: {exc}") from None
        if attrs is None or not stat.S_ISDIR(attrs.st_mode or 0):
            raise PushError(f"{root} is not a directory on {self.config.host}: check webserver.root")

    def makedirs(self, directory: str) -> None:
        if directory in self.dirs or directory in ("", "/"):
            return
        self.makedirs(posixpath.dirname(directory))
        try:
            self.sftp.mkdir(directory)
        except OSError as exc:  # fine if it exists (another push may have just made it)
            attrs = self.stat(directory)
            if attrs is None:
                raise exc from None
            if not stat.S_ISDIR(attrs.st_mode or 0):
                raise NotADirectoryError(f"{directory} exists and is not a directory") from None
        self.dirs.add(directory)

    def clean_partials(self, directories: set[str]) -> None:
        """Remove temporary files of earlier uploads that were cut off (best effort)."""
        for directory in sorted(directories):
            try:
                for name in self.sftp.listdir(directory):
                    if PARTIAL.match(name):
                        log.info("removing %s/%s left by an interrupted push", directory, name)
                        self.sftp.remove(f"{directory}/{name}")
            except FileNotFoundError:
                continue
            except OSError as exc:  # a dead connection shows again at the first upload
                log.warning("%s: cannot clean up interrupted uploads: %s", directory, exc)

    def rename(self, tmp: str, final: str) -> None:
        if self.posix_rename:
            try:
                self.sftp.posix_rename(tmp, final)
                return
            except OSError as exc:
                if "unsupported" not in str(exc).lower():
                    raise
                self.posix_rename = False
        # plain SFTP rename refuses an existing target: the old file is gone for a moment, but
        # still no partial file ever appears under the final name
        if self.stat(final) is not None:
            self.sftp.remove(final)
        self.sftp.rename(tmp, final)

    def upload(self, item: PushItem, final: str, local: _Digest, progress: Progress | None) -> None:
        directory, name = posixpath.split(final)
        self.makedirs(directory)
        tmp = f"{directory}/.{name}.partial-{secrets.token_hex(4)}"

        def step(done: int, total: int) -> None:
            if progress is not None and done < local.size:  # the final call comes after the rename
                progress(item.remote, done, local.size)

        try:
            step(0, local.size)
            with item.local.open("rb") as fh:
                sent = self.sftp.putfo(fh, tmp, file_size=local.size, callback=step, confirm=True)
            if sent.st_size != local.size:  # the manifest must describe what is on the server
                raise OSError(f"{item.local} changed while it was uploaded")
            kill_point("push-partial")
            self.rename(tmp, final)
            kill_point("push-renamed")
        except BaseException:
            transport = self.client.get_transport()
            if transport is not None and transport.is_active():
                try:
                    self.sftp.remove(tmp)
                except Exception:  # the next push's cleanup will have it
                    pass
            raise
        if progress is not None:
            progress(item.remote, local.size, local.size)


class _Push:
    """The state of one push across reconnections."""

    def __init__(self, config: WebServerConfig, manifest: Path, progress: Progress | None) -> None:
        self.config = config
        self.manifest = manifest
        self.progress = progress
        self.target = f"{config.user}@{config.host}:{config.port}{config.root}"
        self.recorded = _load_manifest(manifest, self.target)
        self.pending: list[tuple[PushItem, str, _Digest]] = []
        self.uploaded: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.attempt = 0

    def report(self) -> PushReport:
        return PushReport(list(self.uploaded), list(self.skipped), list(self.failed))

    def add(self, items: Sequence[PushItem]) -> None:
        root = posixpath.normpath(self.config.root)
        for item in items:
            parts = item.remote.split("/")
            if item.remote.startswith("/") or {"", ".", ".."} & set(parts) or PARTIAL.match(parts[-1]):
                raise PushError(f"not a relative remote path: {item.remote!r}")
            if any(item.remote == other.remote for other, _, _ in self.pending):
                raise PushError(f"{item.remote} is given twice")
            try:
                self.pending.append((item, f"{root}/{item.remote}", _digest(item.local)))
            except OSError as exc:
                self.failed.append((item.remote, f"cannot read {item.local}: {exc.strerror or exc}"))

    def connection(self) -> None:
        """One connection, used for as many pending files as it lasts."""
        with _Session(self.config) as session:
            session.check_root()
            session.clean_partials({posixpath.dirname(final) for _, final, _ in self.pending})
            while self.pending:
                self.one(session, *self.pending[0])
                self.pending.pop(0)
                self.attempt = 0  # a connection that gets files through earns a fresh set of retries

    def one(self, session: _Session, item: PushItem, final: str, local: _Digest) -> None:
        try:
            if self.recorded.get(item.remote) == local:
                attrs = session.stat(final)
                if attrs is not None and attrs.st_size == local.size:
                    self.skipped.append(item.remote)
                    return
            session.upload(item, final, local, self.progress)
        except OSError as exc:
            if isinstance(exc, TimeoutError | ConnectionError) or not session.alive():
                raise
            # the server refused this file (permissions, disk full): the others may still go
            self.failed.append((item.remote, str(exc.strerror or exc)))
            log.warning("%s: not uploaded: %s", final, exc.strerror or exc)
            return
        self.recorded[item.remote] = local
        _save_manifest(self.manifest, self.target, self.recorded)
        kill_point("push-recorded")
        self.uploaded.append(item.remote)
        log.debug("uploaded %s (%d bytes)", final, local.size)

    def run(self) -> PushReport:
        c = self.config
        while self.pending:
            try:
                self.connection()
            except PushError as exc:
                exc.report = self.report()
                raise
            except DROPPED as exc:
                self.attempt += 1
                if self.attempt > c.retries:
                    raise PushError(
                        f"gave up on {c.host}:{c.port} after {self.attempt} attempts ({why(exc)}); "
                        f"{len(self.uploaded)} uploaded, {len(self.pending)} left: push again to continue",
                        report=self.report(),
                    ) from None
                delay = c.backoff * 2 ** (self.attempt - 1)
                log.warning(
                    "connection to %s:%d failed or dropped (%s); retry %d/%d in %.1f s",
                    *(c.host, c.port, why(exc), self.attempt, c.retries, delay),
                )
                time.sleep(delay)
        log.info(
            "pushed to %s:%s: %d uploaded, %d unchanged, %d failed",
            *(c.host, c.root, len(self.uploaded), len(self.skipped), len(self.failed)),
        )
        return self.report()


def push(
    config: WebServerConfig, items: Sequence[PushItem], manifest: Path, progress: Progress | None = None
) -> PushReport:
    """Upload ``items`` under ``config.root``, skipping those unchanged since the last push.

    ``progress(remote, bytes_done, bytes_total)`` is called while a file uploads; a call with
    ``bytes_done == bytes_total`` means the file is in place under its final name. A dropped
    connection is retried ``config.retries`` times with backoff, continuing with the files not
    done (the count restarts once a file gets through). Raises :class:`HostKeyError` for an
    unknown or changed host key, :class:`PushError` when it gives up (``exc.report`` says what
    was done); files the server refuses one by one are in ``report.failed``, the others still go.
    """
    check_config(config)
    state = _Push(config, manifest, progress)
    state.add(items)
    return state.run()
