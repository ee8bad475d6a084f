"""Starting load processes, waiting for them, and collecting their results.

Workers come from a ``forkserver`` that preloaded the load module: a new worker starts in
milliseconds, and never inherits the parent's gRPC state (gRPC does not survive a plain
fork of a process that used it).
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable
from typing import Any

from . import load
from .servers import BenchError

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["bench.load"])


def _get(results: Any, timeout: float, what: str) -> Any:
    try:
        return results.get(timeout=timeout)
    except queue.Empty:
        raise BenchError(f"{what} did not report within {timeout:.0f}s") from None


class LoadRun:
    """One scenario's load: watchers first (subscribed), then sidecars; always cleaned up."""

    def __init__(self, *, timeout_s: float = 300.0) -> None:
        self.timeout_s = timeout_s
        self._ready = _CONTEXT.Queue()
        self._results = _CONTEXT.Queue()
        self._watch_results = _CONTEXT.Queue()
        self._go = _CONTEXT.Event()
        self._stop = _CONTEXT.Event()
        self.subscribed = _CONTEXT.Value("i", 0)
        self._processes: list[Any] = []
        self._watchers = 0

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        process = _CONTEXT.Process(target=target, args=args, daemon=True)
        process.start()
        self._processes.append(process)

    def _await_ready(self, count: int) -> None:
        for _ in range(count):
            _get(self._ready, 60, "a load process")

    def start_watchers(self, specs: list[load.WatcherSpec]) -> None:
        for spec in specs:
            self._spawn(
                load.watcher_main,
                spec,
                self._ready,
                self._stop,
                self.subscribed,
                self._watch_results,
            )
        self._await_ready(len(specs))
        self._watchers += len(specs)

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise BenchError(f"{what} did not happen within {timeout:.0f}s")
            time.sleep(0.02)

    def run_sidecars(self, specs: list[load.SidecarSpec]) -> list[load.SidecarResult]:
        self._go.clear()
        for spec in specs:
            self._spawn(load.sidecar_main, spec, self._ready, self._go, self._results)
        self._await_ready(len(specs))
        self._go.set()
        results = [_get(self._results, self.timeout_s, "a sidecar") for _ in specs]
        errors = [r.error for r in results if r.error]
        if errors:
            raise BenchError(errors[0])
        return results

    def finish_watchers(self, *, stop: bool = False) -> list[load.WatcherResult]:
        """Collect every watcher's result (after telling idle ones to stop, if asked)."""
        if stop:
            self._stop.set()
        results = [
            _get(self._watch_results, self.timeout_s, "a watcher") for _ in range(self._watchers)
        ]
        self._watchers = 0
        errors = [r.error for r in results if r.error]
        if errors:
            raise BenchError(errors[0])
        return results

    def close(self) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(5)
            if process.is_alive():
                process.terminate()
                process.join(5)
        self._processes.clear()

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
