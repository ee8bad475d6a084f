"""A real headless Chromium for browser tests: Debian's ``chromium`` driven by playwright-core.

The driver is a small Node program (``web/tools/browser.mjs``) that takes one JSON command
per line; ``Browser`` sends them and waits for each answer, so a test stays in Python next
to its real ``execstream serve`` and its sidecar. Nothing is downloaded: the browser is
``/usr/bin/chromium`` (``CHROMIUM`` overrides it) with a fresh profile per run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from . import needs

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "web" / "tools" / "browser.mjs"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class BrowserError(AssertionError):
    """A browser command failed; the message carries the page's console lines."""


def browser_missing() -> str:
    """Why browser tests cannot run here, or "" when they can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; scripts/dev-setup does)"
    if shutil.which("node") is None:
        return "node is missing"
    if not (ROOT / "web" / "node_modules" / "playwright-core").exists():
        return "web/node_modules is missing (npm ci --prefix web; scripts/dev-setup does)"
    return ""


class Browser:
    """One Chromium with one page; every method waits for the driver's answer."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._proc: subprocess.Popen[str] | None = None
        self._next_id = 0
        self._lock = threading.Lock()

    def start(self) -> Browser:
        needs.check_may_start("chromium")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a")
        self._proc = subprocess.Popen(
            ["node", str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=ROOT / "web",
            env={**os.environ, "CHROMIUM": CHROMIUM},
        )
        log.close()
        ready = self._readline()
        if not ready.get("ready"):
            raise BrowserError(f"the browser driver did not start: {ready}")
        return self

    def _readline(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise BrowserError(f"the browser driver exited; see {self.log_path}")
        return json.loads(line)  # type: ignore[no-any-return]

    def command(self, op: str, **fields: Any) -> Any:
        assert self._proc is not None and self._proc.stdin is not None
        with self._lock:
            self._next_id += 1
            self._proc.stdin.write(json.dumps({"id": self._next_id, "op": op, **fields}) + "\n")
            self._proc.stdin.flush()
            answer = self._readline()
        if not answer.get("ok"):
            console = "" if op == "console" else "\n".join(self.console())
            raise BrowserError(f"{op} failed: {answer.get('error')}\npage console:\n{console}")
        return answer.get("result")

    def goto(self, url: str) -> None:
        self.command("goto", url=url)

    def eval(self, expr: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page."""
        return self.command("eval", expr=expr)

    def wait(self, expr: str, timeout: float = 10.0) -> Any:
        """Wait until a JavaScript expression is truthy in the page; return its value."""
        return self.command("wait", expr=expr, timeout=int(timeout * 1000))

    def click(self, selector: str) -> None:
        self.command("click", selector=selector)

    def fill(self, selector: str, text: str) -> None:
        self.command("fill", selector=selector, text=text)

    def scroll(self, selector: str, top: int) -> int:
        return int(self.command("scroll", selector=selector, top=top))

    def screenshot(self, path: Path, selector: str = "", full_page: bool = False) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.command("screenshot", path=str(path), selector=selector, fullPage=full_page)
        return path

    def viewport(self, width: int, height: int) -> None:
        self.command("viewport", width=width, height=height)

    def console(self) -> list[str]:
        return list(self.command("console"))

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps({"id": 0, "op": "close"}) + "\n")
            proc.stdin.flush()
            proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(10)
