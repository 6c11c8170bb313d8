"""Saving off the caller's path: one background thread per process writes archives in order.

``result()`` returns as soon as the simulation is done; the archive is written just after.
Pending saves are flushed before any read of the store in this process and when the
interpreter exits, so a job is never silently dropped by a normal exit.
"""

from __future__ import annotations

import atexit
import os
import queue
import sys
import threading
import warnings
from collections.abc import Callable

from .exceptions import JobStoreError, JobStoreWarning


class BackgroundWriter:
    """A FIFO of save tasks run by one daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def submit(self, task: Callable[[], None], describe: str) -> None:
        """Queue ``task``; a failure becomes a JobStoreWarning naming ``describe``."""
        if self._pid != os.getpid():  # forked child: the parent's thread is not ours
            self.__init__()
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="qiskit-aer-jobstore-writer", daemon=True
                )
                self._thread.start()
        self._queue.put((task, describe))

    def _loop(self) -> None:
        lower_own_priority()
        while True:
            task, describe = self._queue.get()
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
