"""Saving off the caller's path: one background thread per process writes archives in order.

``result()`` returns as soon as the simulation is done; the archive is written just after.
Pending saves are flushed before any read of the store in this process and when the
interpreter exits, so a job is never silently dropped by a normal exit.
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import os
import queue
import sys
import threading
import time
import warnings
from collections.abc import Callable

from .exceptions import JobStoreError, JobStoreWarning


class BackgroundWriter:
    """A FIFO of save tasks run by one daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._delayed: list[tuple[float, int, Callable[[], None], str]] = []  # a heap
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, task: Callable[[], None], describe: str) -> None:
        """Queue ``task``; a failure becomes a JobStoreWarning naming ``describe``."""
        self._add(task, describe)
        self._queue.put((task, describe))

    def submit_at(self, due: float, task: Callable[[], None], describe: str) -> None:
        """Run ``task`` at ``due`` (``time.monotonic()``), after the tasks queued by then.

        The thread sleeps until the earliest such task is due, so a burst of short jobs
        (whose queued or running state is due after they ended) wakes it once per
        ``GRACE`` rather than at every stage of every job.
        """
        earliest = self._add(task, describe, due)
        if earliest:
            self._queue.put((None, ""))  # wake the thread to sleep until this one instead

    def _add(self, task: Callable[[], None], describe: str, due: float | None = None) -> bool:
        if self._pid != os.getpid():  # forked child: the parent's thread is not ours
            self.__init__()
        with self._lock:
            self._pending += 1
            earliest = False
            if due is not None:
                earliest = not self._delayed or due < self._delayed[0][0]
                heapq.heappush(self._delayed, (due, next(self._count), task, describe))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="qiskit-aer-jobstore-writer", daemon=True
                )
                self._thread.start()
            return earliest

    def _next_delayed(self) -> tuple[Callable[[], None] | None, str, float | None]:
        """A delayed task that is due, or how long until the next one is (None: none)."""
        with self._lock:
            if not self._delayed:
                return None, "", None
            wait = self._delayed[0][0] - time.monotonic()
            if wait > 0:
                return None, "", wait
            _, _, task, describe = heapq.heappop(self._delayed)
            return task, describe, None

    def _loop(self) -> None:
        lower_own_priority()
        while True:
            task, describe, wait = self._next_delayed()
            if task is None:
                try:
                    task, describe = self._queue.get(timeout=wait)
                except queue.Empty:
                    continue
                if task is None:
                    continue  # woken to look at the delayed tasks again
            self._run(task, describe)

    def _run(self, task: Callable[[], None], describe: str) -> None:
        try:
            task()
        except JobStoreError as exc:
            warnings.warn(f"{describe} was not saved: {exc}", JobStoreWarning, stacklevel=1)
        except Exception as exc:  # never let one bad job stop the writer
            warnings.warn(
                f"{describe} was not saved: {type(exc).__name__}: {exc}",
                JobStoreWarning,
                stacklevel=1,
            )
        finally:
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.notify_all()

    def pending(self) -> int:
        return self._pending if self._pid == os.getpid() else 0

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued save is done. False if ``timeout`` ran out first."""
        if self._pid != os.getpid() or threading.current_thread() is self._thread:
            return True
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)


# How much lower than the process the writer thread runs (Linux nice levels). Saving is
# background work: on a busy machine the simulations should get the cores first. Measured
# on 2 cores: the latency ratio of 5-qubit jobs went from 1.14-1.19 to 1.085-1.11, with the
# same throughput (benchmarks/run.py, (a)).
WRITER_NICE = 10


def lower_own_priority() -> None:
    """Lower the calling thread's CPU priority by WRITER_NICE (Linux: threads have their own
    nice value; elsewhere, and if refused, nothing changes)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        nice = min(19, os.getpriority(os.PRIO_PROCESS, tid) + WRITER_NICE)
        os.setpriority(os.PRIO_PROCESS, tid, nice)
    except OSError:
        pass


WRITER = BackgroundWriter()


def _flush_at_exit() -> None:
    timeout = float(os.getenv("QISKIT_AER_JOBS_EXIT_TIMEOUT", "60"))
    if WRITER.pending() and not WRITER.flush(timeout=timeout):
        warnings.warn(
            f"{WRITER.pending()} Aer job(s) were still being saved when Python exited and were "
            "lost from the store.",
            JobStoreWarning,
            stacklevel=1,
        )


atexit.register(_flush_at_exit)
