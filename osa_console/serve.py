"""Serving the console to a browser (``osa-console --serve``) through textual-serve.

textual-serve runs one console process per browser connection and relays its terminal over a
websocket. This module decides what that process is (the same night, configuration and theme as
the serving command, read-only unless ``--allow-actions``), starts it as an argument list rather
than textual-serve's shell string, and builds the page's addresses from the address the browser
used, so that an SSH tunnel to any local port works. It imports aiohttp and textual-serve
(~0.2 s): ``__main__`` imports it only on the ``--serve`` path.
"""

from __future__ import annotations

import asyncio
import errno
import re
import shlex
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import WSCloseCode, web
from textual_serve.app_service import AppService
from textual_serve.server import Server

# textual-serve's page asks Google for its font: a control room without Internet sees a failed
# request, and an expert's browser would tell a third party who watches the night. The terminal
# falls back to the local monospace fonts its CSS names.
_REMOTE_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>\s*", re.S)

EXIT_PORT_IN_USE = 14
"""``--serve`` could not listen: the port is taken (or the address is not this machine's)."""


def served_argv(
    *, config: Path | None, date: str | None, theme: str | None, allow_actions: bool
) -> list[str]:
    """The console command each browser connection runs: what the serving command was asked to open."""
    argv = [sys.executable, "-m", "osa_console"]
    if config is not None:
        argv += ["--config", str(config.resolve())]
    if date is not None:
        argv += ["--date", date]
    if theme is not None:
        argv += ["--theme", theme]
    if not allow_actions:
        argv.append("--read-only")
    return argv


class _ExecAppService(AppService):
    """textual-serve's per-connection process, started from an argument list (no shell)."""

    def __init__(self, argv: Sequence[str], **kwargs: Any) -> None:
        # Only shown; were textual-serve ever to run it through its shell, it is quoted.
        super().__init__(shlex.join(argv), **kwargs)
        self._argv = list(argv)

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        self._process = process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self._build_environment(width=width, height=height),
        )
        assert process.stdin is not None
        self._stdin = process.stdin
        return process


class ConsoleServer(Server):
    """textual-serve's server, running ``argv`` per connection and quiet but for one line."""

    def __init__(self, argv: Sequence[str], host: str, port: int, title: str) -> None:
        super().__init__(shlex.join(argv), host=host, port=port, title=title)
        self.argv = list(argv)
        self.banner = ""
        self._sockets: set[web.WebSocketResponse] = set()

    def initialize_logging(self) -> None:
        # textual-serve logs through a Rich handler with every local variable of a traceback;
        # keep its warnings, on plain stderr.
        import logging

        logging.basicConfig(level=logging.WARNING, format="osa-console: %(message)s")

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        upstream = jinja2.FileSystemLoader(self.templates_path)

        def load(name: str) -> str:
            source, _, _ = upstream.get_source(jinja2.Environment(), name)
            return _REMOTE_FONT.sub("", source)

        aiohttp_jinja2.setup(app, loader=jinja2.FunctionLoader(load))
        app.router.add_get("/favicon.ico", _no_icon)
        return app

    async def on_shutdown(self, app: web.Application) -> None:
        # Closing the browsers' websockets ends their consoles now (each is told to quit), rather
        # than aiohttp waiting a minute for them before cancelling.
        for websocket in list(self._sockets):
            await websocket.close(code=WSCloseCode.GOING_AWAY, message=b"server stopped")

    async def on_startup(self, app: web.Application) -> None:
        if self.banner:
            print(self.banner, flush=True)

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        # The page's websocket and static addresses follow the address the browser used (an SSH
        # tunnel's local port, a host name), not the one the server was started with.
        base = f"{request.scheme}://{request.host}"
        ws = ("wss" if request.scheme == "https" else "ws") + f"://{request.host}"
        font_size = request.query.get("fontsize", "16")
        return {
            "font_size": int(font_size) if font_size.isdigit() else 16,
            "app_websocket_url": ws + str(request.app.router["websocket"].url_for()),
            "config": {"static": {"url": base + "/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        # textual-serve's own, with the process started from the argument list.
        websocket = web.WebSocketResponse(heartbeat=15)
        width = _int(request.query.get("width", "80"), 80)
        height = _int(request.query.get("height", "24"), 24)
        service: _ExecAppService | None = None
        self._sockets.add(websocket)
        try:
            await websocket.prepare(request)
            service = _ExecAppService(
                self.argv,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
            )
            await service.start(width, height)
            try:
                await self._process_messages(websocket, service)
            finally:
                await service.stop()
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # one connection's failure must not stop the server
            print(f"osa-console: a browser connection failed: {error}", file=sys.stderr)
        finally:
            self._sockets.discard(websocket)
            if service is not None:
                await service.stop()
        return websocket


async def _no_icon(request: web.Request) -> web.Response:
    return web.Response(status=204)  # a browser asks for one; "none" is not an error


def _int(text: str, default: int) -> int:
    return int(text) if text.isdigit() else default


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on, or None; the server binds it again right after."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"{host}: not an address of this machine ({exc.strerror})"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
            try:
                probe.bind(address)
            except OSError as exc:
                return _bind_error(host, port, exc)
    return None


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{host}:{port}: the port is in use; choose another with --port"
    if exc.errno == errno.EACCES:
        return f"{host}:{port}: not allowed to listen there (ports below 1024 need root); use --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host}: not an address of this machine"
    return f"{host}:{port}: cannot listen: {exc.strerror or exc}"


def serve(argv: Sequence[str], host: str, port: int, *, what: str, allow_actions: bool) -> int:
    """Serve the console until interrupted; a port that cannot be listened on is one line and exit 14."""
    problem = port_problem(host, port)
    if problem is not None:
        print(f"osa-console: {problem}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    server = ConsoleServer(argv, host, port, title=f"LST-1 OSA console: {what}")
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    mode = "with actions allowed" if allow_actions else "read-only"
    server.banner = f"osa-console: serving {what} {mode} on {url} (Ctrl+C to stop)"
    if host not in ("127.0.0.1", "::1", "localhost"):
        can = "resubmit, cancel, close and push" if allow_actions else "watch the night"
        print(f"osa-console: warning: there is no login: whoever reaches {url} can {can}", file=sys.stderr)
    try:
        server.serve()
    except OSError as exc:  # taken between the check and the bind
        print(f"osa-console: {_bind_error(host, port, exc)}", file=sys.stderr)
        return EXIT_PORT_IN_USE
    return 0
