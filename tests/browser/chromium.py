"""A real headless Chromium (Debian's package), driven through its DevTools protocol.

One :class:`Browser` per test session; each test opens :class:`Page` tabs on it. A page records
what a user would notice in the browser's developer tools: console errors, uncaught exceptions,
and requests that failed or answered with an HTTP error. The protocol is spoken synchronously
over one websocket per tab (websocket-client): no browser download, no event loop to share with
the tests.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

EXECUTABLES = ("chromium", "chromium-browser", "google-chrome")

XTERM_HOOK = """
// textual-serve keeps its xterm.js Terminal in a closure: catch it as it is assigned to
// `this.terminal`, so that tests can read the terminal's text from its buffer.
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    if (value && value.buffer && !window.__xterm) { window.__xterm = value; }
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
  },
});
"""

XTERM_TEXT = """
(() => {
  const term = window.__xterm;
  if (!term) { return null; }
  const buffer = term.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) {
    const line = buffer.getLine(i);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


def find_chromium() -> str | None:
    for name in EXECUTABLES:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(AssertionError):
    """The browser did not do what a test waited for; the message says what was seen."""


@dataclass
class Problem:
    kind: str  # "console", "exception", "request"
    text: str


@dataclass
class Page:
    """One tab: navigate, evaluate, press keys, take screenshots, and collect problems."""

    url_ws: str
    timeout: float = 30.0
    problems: list[Problem] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _events: list[dict[str, Any]] = field(default_factory=list)
    _requests: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ws = websocket.create_connection(self.url_ws, timeout=self.timeout, suppress_origin=True)
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")

    # -- the protocol ---------------------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` and return its result; events that arrive meanwhile are recorded."""
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            message = self._receive(deadline - time.monotonic())
            if message is not None and message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
        raise BrowserError(f"{method}: no answer within {self.timeout} s")

    def _receive(self, wait: float) -> dict[str, Any] | None:
        self._ws.settimeout(max(0.01, wait))
        try:
            message: dict[str, Any] = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        if "method" in message:
            self._event(message["method"], message.get("params", {}))
        return message

    def pump(self, seconds: float = 0.05) -> None:
        """Record the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self._receive(deadline - time.monotonic()) is not None:
            pass

    def _event(self, method: str, params: dict[str, Any]) -> None:
        self._events.append({"method": method, **params})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.problems.append(Problem("console", args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.problems.append(Problem("exception", text))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.problems.append(Problem("console", f"{entry.get('text')} {entry.get('url', '')}".strip()))
        elif method == "Network.requestWillBeSent":
            self._requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = self._requests.get(params["requestId"], "?")
            self.problems.append(Problem("request", f"{url}: {params.get('errorText')}"))
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            response = params["response"]
            self.problems.append(Problem("request", f"{response['url']}: HTTP {response['status']}"))

    # -- what a test does -----------------------------------------------------------------------

    def open(self, url: str, *, hook_xterm: bool = False) -> None:
        """Navigate to ``url`` and wait for its load event (``hook_xterm``: see :meth:`terminal_text`)."""
        if hook_xterm:
            self.send("Page.addScriptToEvaluateOnNewDocument", source=XTERM_HOOK)
        self._events.clear()
        self.send("Page.navigate", url=url)
        self.wait(lambda: any(e["method"] == "Page.loadEventFired" for e in self._events), f"{url} loaded")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, condition: Callable[[], object], what: str, timeout: float | None = None) -> Any:
        """Wait until ``condition()`` is true (events keep being recorded); return its value."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {what}")
            self.pump(0.1)

    def requested_urls(self) -> list[str]:
        """Every address the page asked for since it was opened (websockets included)."""
        kinds = {"Network.requestWillBeSent": "request", "Network.webSocketCreated": None}
        urls = []
        for event in self._events:
            if event["method"] in kinds:
                key = kinds[event["method"]]
                urls.append(event[key]["url"] if key else event["url"])
        return urls

    def terminal_text(self) -> str:
        """The text on a textual-serve page's terminal (needs ``open(..., hook_xterm=True)``)."""
        return str(self.evaluate(XTERM_TEXT) or "")

    def wait_for_text(self, text: str, timeout: float | None = None) -> str:
        """Wait until the terminal shows ``text``; return the whole screen (or say what it showed)."""
        try:
            screen: str = self.wait(
                lambda: (s := self.terminal_text()) and text in s and s, f"{text!r}", timeout
            )
        except BrowserError:
            raise BrowserError(f"{text!r} never showed; the terminal read:\n{self.terminal_text()}") from None
        return screen

    def focus_terminal(self) -> None:
        """Give the keyboard to a textual-serve page's terminal (as a click would, without the click)."""
        self.evaluate("window.__xterm.focus()")

    def press(self, key: str) -> None:
        """Type one key as a user would (a printable character, or Enter/Escape/Tab)."""
        special = {"Enter": ("\r", 13), "Escape": ("", 27), "Tab": ("\t", 9)}
        text, code = special.get(key, (key, ord(key.upper()) if len(key) == 1 else 0))
        base = {"key": key, "windowsVirtualKeyCode": code, "nativeVirtualKeyCode": code}
        self.send("Input.dispatchKeyEvent", type="keyDown", text=text, **base)
        self.send("Input.dispatchKeyEvent", type="keyUp", **base)

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def set_size(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Make the viewport ``width`` x ``height`` CSS pixels (``mobile``: a phone's viewport)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    def screenshot(self, path: Path | None = None) -> bytes:
        """A PNG of the viewport (also written to ``path`` when given)."""
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        if path is not None:
            path.write_bytes(data)
        return data

    def close(self) -> None:
        try:
            self.send("Page.close")
        except (BrowserError, websocket.WebSocketException, OSError):
            pass
        self._ws.close()


def distinct_colours(png: bytes) -> int:
    """How many different colours a PNG has: a blank or single-colour screenshot has 1 or 2."""
    from matplotlib.image import imread

    pixels = imread(io.BytesIO(png), format="png")
    flat = pixels.reshape(-1, pixels.shape[-1])
    return len({tuple(row) for row in flat[:: max(1, len(flat) // 200_000)].tolist()})


class Browser:
    """One headless Chromium process with its own profile directory; tabs are :class:`Page`."""

    def __init__(self, executable: str, timeout: float = 30.0) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="osa-chromium-"))
        self.timeout = timeout
        self._log = (self.profile / "chromium.log").open("wb")  # a pipe could fill and stall it
        self.process = subprocess.Popen(
            [
                executable,
                "--headless=new",
                "--no-sandbox",  # tests run as root
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=self._log,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
        )
        self.port = self._devtools_port()

    def _devtools_port(self) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.profile / "chromium.log").read_text(errors="replace")[-2000:]
                raise BrowserError(f"chromium exited {self.process.returncode}:\n{log}")
            lines = active.read_text().splitlines() if active.exists() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.05)
        raise BrowserError(f"chromium did not open its DevTools port within {self.timeout} s")

    def new_page(self) -> Page:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            target = json.load(answer)
        return Page(target["webSocketDebuggerUrl"], timeout=self.timeout)

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
