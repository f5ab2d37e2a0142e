"""Sending a message to the configured URLs through apprise, which is imported only here, when sending.

apprise takes about half a second to load its plugins, so nothing is loaded until a message is
actually sent (a pass with nothing to announce costs nothing). Each URL is a *target* of its
own, named by a digest of the URL (the ledger never holds a password or a token): a message
that reached the mail server but not Mattermost is retried for Mattermost only. Sending never
raises: a failure is returned as one line (what apprise logged) for the caller to record.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("osa.alerts")


class Notifier(Protocol):
    """Where messages go: the reconciler's only view of delivery (tests may pass their own)."""

    @property
    def targets(self) -> Sequence[str]:
        """Stable names of the destinations (a message is owed to each)."""
        ...

    def send(self, target: str, title: str, body: str) -> str | None:
        """Send one message; None when it went, else what went wrong (one line). Never raises."""
        ...

    def label(self, target: str) -> str:
        """How a person finds the target in the configuration (``alerts.urls[2]``), for logs."""
        ...


def target_of(url: str) -> str:
    """The name a URL's deliveries are kept under: a digest, so no secret reaches the ledger."""
    return "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]


class AppriseNotifier:
    """One apprise destination per configured URL; the prefix goes before every subject."""

    def __init__(self, urls: Sequence[str], prefix: str = "") -> None:
        self._urls = {target_of(url): url for url in urls}
        self._index = {target_of(url): index for index, url in enumerate(urls)}
        self._prefix = prefix
        self._apprise: dict[str, Any] = {}
        self._plugins: dict[str, Any] = {}

    @property
    def targets(self) -> Sequence[str]:
        return list(self._urls)

    def label(self, target: str) -> str:
        scheme = self._urls[target].split("://", 1)[0]
        return f"alerts.urls[{self._index[target]}] ({scheme}://...)"

    def describe(self, target: str) -> str:
        """The URL with its secrets hidden (apprise's privacy form), for what a person reads."""
        instance = self._instance(target)
        if isinstance(instance, str):
            return self._urls[target].split("://", 1)[0] + "://..."
        return str(self._plugins[target].url(privacy=True))

    def send(self, target: str, title: str, body: str) -> str | None:
        subject = f"{self._prefix} {title}" if self._prefix else title
        try:
            instance = self._instance(target)
            if isinstance(instance, str):
                return instance
            import apprise

            with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call]
                ok = instance.notify(body=body, title=subject)
            if ok:
                return None
            said = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
            return said[-1] if said else "apprise could not send the message"
        except Exception as exc:  # a plugin's own bug must not stop the caller either
            return f"{type(exc).__name__}: {exc}"

    def _instance(self, target: str) -> Any:
        """apprise's object for the target, or why there is none (a URL apprise refuses)."""
        if target not in self._apprise:
            import apprise

            url = self._urls[target]
            instance = apprise.Apprise.instantiate(url)
            if instance is None:
                scheme = url.split("://", 1)[0]
                self._apprise[target] = f"apprise refused the {scheme}:// URL (see docs/alerts.md)"
            else:
                # apprise waits between two messages of one destination (5.5 s for mail): a pass
                # sends a handful at most, and waiting would hold the autopilot's pass.
                instance.request_rate_per_sec = 0.0
                self._plugins[target] = instance
                self._apprise[target] = apprise.Apprise(services=[instance])
        return self._apprise[target]


def notifier_from_config(alerts: Any) -> AppriseNotifier:
    """The notifier of an ``[alerts]`` section (:class:`osa_core.model.config.AlertsConfig`)."""
    return AppriseNotifier(list(alerts.urls), alerts.subject_prefix)


def refused_urls(urls: Sequence[str]) -> list[tuple[int, str]]:
    """The URLs apprise itself refuses (a known scheme but not its form: ``mailto://host`` with no
    sender), by index. Loads apprise: for a command about to send, not for reading a config."""
    import apprise

    return [(i, url) for i, url in enumerate(urls) if apprise.Apprise.instantiate(url) is None]


def check_urls(alerts: Any, source: Path | None) -> None:
    """Refuse, as a configuration error naming ``alerts.urls[N]``, a URL apprise cannot send to.

    The configuration's own check (scheme and shape, without apprise) runs for every command;
    a command that sends (the autopilot) calls this once at its start, so that a URL of the
    right scheme but the wrong form is refused before the night needs it, not found at 3 a.m.
    """
    from osa_core.model.errors import ConfigError

    for index, url in refused_urls(list(alerts.urls)):
        scheme = url.split("://", 1)[0]
        raise ConfigError(
            f"alerts.urls[{index}]: expected a {scheme}:// URL in the form apprise documents for it "
            f"(see docs/alerts.md), got {url!r}",
            path=source,
        )
