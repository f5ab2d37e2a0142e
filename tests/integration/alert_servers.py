"""Real servers on 127.0.0.1 that receive alerts: SMTP (aiosmtpd) and JSON webhooks (http.server).

Each keeps what arrived, can be stopped (a server that is down: connections refused) and
started again on the same port, as a mail relay that comes back after a restart.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Arrived:
    """One message as a person would read it."""

    subject: str
    body: str
    to: str = ""


class SmtpServer:
    """An SMTP server keeping every mail it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Arrived] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("plain",))
        text = part.get_content() if part is not None else ""
        with self._lock:
            self.mails.append(Arrived(str(parsed["Subject"]), text, str(parsed["To"])))
        return "250 OK"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=osa@example.org&to=shifter@example.org&mode=insecure"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def take(self) -> list[Arrived]:
        with self._lock:
            out, self.mails = self.mails, []
        return out


class WebhookServer:
    """An HTTP server keeping every JSON body POSTed to it (apprise's ``json://``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def url(self, path: str = "osa-alerts") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.posts.append({"path": self.path, **payload})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def take(self) -> list[Arrived]:
        with self._lock:
            out, self.posts = self.posts, []
        return [Arrived(str(p.get("title", "")), str(p.get("message", "")), str(p["path"])) for p in out]
