"""Which server the push trusts: known_hosts entries, refusing unknown keys, recording a key.

The host key is checked against the configured known_hosts file only, never the operator's own
``~/.ssh``: what cron trusts must not depend on who runs it. ``osa-core push --trust-host-key``
records the key the server offers (:func:`trust_host_key`), replacing this host's old entries.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import paramiko

from osa_core.model.config import WebServerConfig
from osa_core.model.errors import ConfigError, HostKeyError, PushError
from osa_core.model.fileio import atomic_write

log = logging.getLogger("osa_core.publish.push")  # part of the push: its lines keep the push's logger name
# paramiko logs what kills its transport thread (a peer that is not an SSH server) with the whole
# traceback, and with no handler configured Python prints that on stderr before the push has
# said anything. The push reports every failure itself, in one line: paramiko's records go nowhere
# unless a front end configures a handler for them.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

TRUST_HINT = "osa-core push --trust-host-key"
# what a dropped, refused or stalled connection shows up as; other errors are not retried
DROPPED = (paramiko.SSHException, EOFError, OSError)


def why(exc: BaseException) -> str:
    """A connection error as one line."""
    # paramiko's EOFError for a closed connection has no message of its own
    text = f"{type(exc).__name__}: {str(exc) or 'connection closed'}"
    if "protocol banner" in text:
        text += " (the peer does not speak SSH: check webserver.host and webserver.port)"
    return text


def check_config(config: WebServerConfig) -> Path:
    """Refuse a ``[webserver]`` section a push cannot use; return its known_hosts file."""
    if not config.host:
        raise ConfigError("webserver.host is empty: pushing is not configured")
    check_port(config)
    if config.known_hosts is None:
        raise ConfigError("webserver.known_hosts is not set: the server's key cannot be verified")
    if config.key_file is not None and not config.key_file.is_file():
        raise ConfigError(f"webserver.key_file {config.key_file} does not exist")
    if not config.root.startswith("/"):
        raise ConfigError(f"webserver.root must be an absolute remote path, got {config.root!r}")
    return config.known_hosts


def check_port(config: WebServerConfig) -> None:
    # getaddrinfo takes the port modulo 65536: 70000 would quietly connect to port 4464.
    if isinstance(config.port, bool) or not 1 <= config.port <= 65535:
        raise ConfigError(f"webserver.port must be a TCP port, 1 to 65535, got {config.port!r}")


def load_known_hosts(client: paramiko.SSHClient, known_hosts: Path) -> None:
    """Load ``known_hosts`` into ``client``; a line paramiko cannot read is refused at file:line.

    paramiko raises ``InvalidHostKey`` (with a traceback) for a key that is not base64 and
    ``UnicodeDecodeError`` for a file that is not text; an entry it does not understand (an
    unknown key type) it skips, as OpenSSH does.
    """
    if not known_hosts.is_file():  # none yet (every key is unknown), or a FIFO never to open
        return
    try:
        client.load_host_keys(str(known_hosts))
    except paramiko.hostkeys.InvalidHostKey as exc:
        raise ConfigError(
            f"malformed known_hosts entry ({exc.exc}): delete or fix the line, then record the "
            f"server's key with `{TRUST_HINT}`",
            path=known_hosts,
            line=_line_of(known_hosts, str(exc.line)),
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_text(exc), path=known_hosts) from None
    except OSError as exc:
        raise ConfigError(f"cannot read known_hosts: {exc.strerror or exc}", path=known_hosts) from None


def _not_text(exc: UnicodeDecodeError) -> str:
    return f"known_hosts is not UTF-8 text (byte {exc.start}): delete it or restore it from a copy"


def _line_of(path: Path, text: str) -> int | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return next((number for number, raw in enumerate(lines, 1) if raw.strip() == text), None)


def host_key_name(config: WebServerConfig) -> str:
    """The server's name as known_hosts writes it: ``host``, or ``[host]:port`` off port 22."""
    return config.host if config.port == 22 else f"[{config.host}]:{config.port}"


def _without_host(line: str, name: str) -> str | None:
    """A known_hosts ``line`` with ``name`` taken out of its host list; None if none is left."""
    fields = line.split(None, 1)
    if len(fields) < 2 or fields[0].startswith(("#", "@")):
        return line
    hosts = fields[0].split(",")
    kept = [h for h in hosts if h != name and not (h.startswith("|1|") and _hashed_is(h, name))]
    if not kept:
        return None
    return line if kept == hosts else f"{','.join(kept)} {fields[1]}"


def _hashed_is(entry: str, name: str) -> bool:
    try:
        return bool(paramiko.HostKeys.hash_host(name, entry) == entry)
    except Exception:  # not valid base64: not ours to judge, ssh will complain about it
        return False


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    """paramiko's policy for a key not in known_hosts: refuse it, saying how to record it."""

    def __init__(self, known_hosts: Path) -> None:
        self._known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(
            f"host key of {hostname} is not in {self._known_hosts}: the server offered "
            f"{key.get_name()} {key.fingerprint}; nothing was uploaded. If the server's admin "
            f"confirms this fingerprint, record it with `{TRUST_HINT}`"
        )


def fetch_host_key(config: WebServerConfig) -> tuple[str, str, paramiko.PKey]:
    """The host key the server offers: (key type, SHA256 fingerprint, key). Verifies nothing."""
    if not config.host:
        raise ConfigError("webserver.host is empty: pushing is not configured")
    check_port(config)
    try:
        sock = socket.create_connection((config.host, config.port), timeout=config.timeout)
    except OSError as exc:
        raise PushError(f"cannot reach {config.host}:{config.port}: {exc}") from None
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = config.timeout
        transport.start_client(timeout=config.timeout)
        key = transport.get_remote_server_key()
    except DROPPED as exc:
        raise PushError(f"no SSH handshake with {config.host}:{config.port}: {why(exc)}") from None
    finally:
        transport.close()
    return key.get_name(), key.fingerprint, key


def trust_host_key(
    config: WebServerConfig, *, hashed: bool = False, expected_fingerprint: str | None = None
) -> str:
    """Record the key the server offers now in ``config.known_hosts``; return its fingerprint.

    Entries for this host already in the file are replaced (a changed key is exactly why one
    runs this); the other lines are kept as they are. With ``expected_fingerprint`` (as the
    server's admin gives it) a different key is refused instead of recorded.
    """
    known_hosts = check_config(config)
    key_type, fingerprint, key = fetch_host_key(config)
    name = host_key_name(config)
    if expected_fingerprint is not None and expected_fingerprint != fingerprint:
        raise HostKeyError(
            f"{name} offers {key_type} {fingerprint}, not {expected_fingerprint}: not recorded"
        )
    try:
        old = known_hosts.read_text(encoding="utf-8").splitlines() if known_hosts.exists() else []
        kept = [line for line in (_without_host(raw, name) for raw in old) if line is not None]
        entry = paramiko.HostKeys.hash_host(name) if hashed else name
        atomic_write(known_hosts, "\n".join([*kept, f"{entry} {key_type} {key.get_base64()}"]) + "\n")
    except UnicodeDecodeError as exc:
        raise ConfigError(_not_text(exc), path=known_hosts) from None
    except OSError as exc:
        raise PushError(f"cannot record the host key: {exc}", path=known_hosts) from None
    log.info("recorded host key of %s in %s: %s %s", name, known_hosts, key_type, fingerprint)
    return fingerprint
