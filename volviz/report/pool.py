"""Worker processes for the report: its layers' work spread over the cores.

Workers come from a forkserver (spawn where there is none): never forked from a process
that has loaded torch and its threads, and never importing torchvision after a VTK render
(../DESIGN.md: that segfaults). The forkserver imports ``PRELOAD`` once, so each worker
starts with numpy, matplotlib, VTK and the ordering code already loaded. With one job
everything runs in the calling process, in submission order.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from volviz.errors import VolvizError

# What the workers use, imported once by the forkserver (not by the caller).
PRELOAD = [
    "volviz.report.layers",
    "volviz.analysis.stats",
    "volviz.render.still",
    "volviz.report.plots",
    "exporters.figures",
    "exporters.volumes",
    "ordering",
]


def default_jobs() -> int:
    """One worker per core this process may use.

    Not fewer on a busy machine: no count of "busy" cores held up. The 1-minute load average
    lags a minute behind, and the running count of /proc/loadavg includes the kernel's
    writeback threads, which run for about half a second after a capture or the demo wrote
    its store: both made a report started right after them run in one process (12 s instead
    of 9 s for the demo store on 2 idle cores). When other processes do hold every core the
    workers' start-up costs about 20% (measured at load 3-5 on 2 cores: 26-32 s with 2
    workers, 24-25 s with 1); ``-j 1`` is the choice there.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


class WorkPool:
    """``submit(fn, *args)`` to worker processes (``jobs`` > 1) or inline (``jobs`` = 1).

    ``inline=False`` keeps even one job in a worker process (the demo works in its own
    process meanwhile). Use as a context manager: leaving it waits for running work and
    drops queued work (on an error, nothing more is started).
    """

    def __init__(self, jobs: int | None = None, *, inline: bool = True) -> None:
        self.jobs = max(1, jobs if jobs is not None else default_jobs())
        self._executor: ProcessPoolExecutor | None = None
        if self.jobs > 1 or not inline:
            self._executor = ProcessPoolExecutor(self.jobs, mp_context=_context())
            # Start the forkserver (which imports the heavy modules once) and the workers
            # now, while the caller reads the store, not at the first real task.
            self._executor.submit(int)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
        if self._executor is not None:
            return self._executor.submit(fn, *args, **kwargs)
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered by result(), as from a worker
            future.set_exception(exc)
        return future

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> WorkPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def outcome(future: Future[Any]) -> Any:
    """``future.result()``; a worker that died (a crash in native code, such as VTK without
    any OpenGL) becomes one error line instead of a traceback."""
    try:
        return future.result()
    except BrokenProcessPool:
        msg = (
            "a worker process died (a crash in native code: without offscreen OpenGL, "
            "pass --no-3d to the report)"
        )
        raise VolvizError(msg) from None


def _context() -> multiprocessing.context.BaseContext:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return multiprocessing.get_context("spawn")
