"""Pushing saved jobs to the team store, through an outbox in the local index.

With a team store configured, each job saved locally is queued in the outbox (a table of the
local SQLite index) by the background writer, right after its index row. A second background
thread, the pusher, delivers queued jobs, so a slow or down server never delays local saves.
A job leaves the outbox only once the team store has it; a failure leaves it queued, with one
warning that says why, and it goes out with the next push (after a failure the pusher tries
again by itself only a minute later, so an outage costs one connect timeout and one warning,
not one per saved job). At a normal exit, pending pushes
get a short time (``QISKIT_AER_JOBS_PUSH_EXIT_TIMEOUT``, 10 s) to finish; what remains stays
queued for ``JobStore().push()``.

If the local index is ever rebuilt from a corrupt file, the outbox is lost with it: queue every
local job again with ``JobStore().push(all_jobs=True)`` (cheap: jobs the team store already
has with the same SHA-256 are not uploaded again).
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import warnings
from dataclasses import dataclass, field

from . import settings
from .core import StoreCore
from .exceptions import JobStoreError, JobStoreUnavailableError, JobStoreWarning
from .handoff import flush_saves
from .team import TeamStore, remote_store


@dataclass
class PushResult:
    """What one push did.

    Attributes:
        pushed: ids of jobs delivered now.
        unchanged: ids of queued jobs the team store already had (same SHA-256).
        failed: ``(job id, reason)`` for jobs refused for themselves (damaged archive, ...);
            they stay queued.
        remaining: jobs still queued after the push.
        error: why the push stopped early (server down, wrong credentials), or None.
    """

    pushed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    remaining: int = 0
    error: str | None = None


_deliver_lock = threading.Lock()
# After a failed push the pusher waits this long before trying again by itself, so that an
# outage costs one connect timeout and one warning, not one per saved job.
RETRY_AFTER_S = 60.0


def deliver(store: StoreCore, team: TeamStore) -> PushResult:
    """Push every job queued in ``store``'s outbox to ``team``, oldest first.

    Stops at the first error that is the server's (down, wrong credentials): the rest stay
    queued. One process delivers one store at a time; processes sharing a store may overlap,
    which is harmless because a push is idempotent.
    """
    result = PushResult()
    with _deliver_lock:
        index = store.index
        for job_id, _archive, queued in index.outbox():
            try:
                row = index.get(job_id)
                if row is None:  # deleted locally since: nothing to push
                    index.outbox_done(job_id, queued)
                    continue
                data = store.blobs.get(row["archive"])
                if team.push_archive(row["archive"], data):
                    result.pushed.append(job_id)
                else:
                    result.unchanged.append(job_id)
                index.outbox_done(job_id, queued)
            except FileNotFoundError:
                index.outbox_done(job_id, queued)
            except JobStoreUnavailableError as exc:
                result.error = str(exc)
                break
            except JobStoreError as exc:
                result.failed.append((job_id, str(exc)))
        result.remaining = index.outbox_count()
    team.last_failure = time.monotonic() if result.error is not None else None
    return result


def queue(store: StoreCore, job_id: str, archive: str) -> None:
    """Queue a just-saved job for the team store (in the writer thread); start the pusher if
    pushes are automatic. A no-op when no team store is configured."""
    try:
        if settings.remote_index() is None and settings.remote_blobs() is None:
            return
        auto = settings.push_jobs() == "auto"
        try:
            team, why = remote_store(), None
        except JobStoreUnavailableError as exc:  # its client libraries are not installed
            team, why = None, exc
        store.index.outbox_add(job_id, archive)
    except JobStoreError as exc:  # the job is saved locally: say so, do not fail the save
        warnings.warn(
            f"Aer job {job_id} was saved locally but not queued for the team store: {exc}",
            JobStoreWarning,
            stacklevel=1,
        )
        return
    if team is None:  # queued: it goes out once the team store can be used
        _warn_once(f"Aer jobs are saved locally and queued, but not pushed to the team store: "
                   f"{why}")
    elif auto and not _failed_recently(team):
        notify(store)


def notify(store: StoreCore) -> None:
    """Start pushing ``store``'s queue (the writer process asks its caller to, instead)."""
    PUSHER.notify(store)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One warning per message and process: a lasting misconfiguration is said once."""
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, JobStoreWarning, stacklevel=3)


def _failed_recently(team: TeamStore) -> bool:
    failed = team.last_failure
    return failed is not None and time.monotonic() - failed < RETRY_AFTER_S


class Pusher:
    """One daemon thread per process that drains the outboxes of the stores it is told of."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._wanted: dict[int, StoreCore] = {}
        self._busy = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def notify(self, store: StoreCore) -> None:
        if self._pid != os.getpid():  # forked child: the parent's thread is not ours
            self.__init__()
        with self._lock:
            self._wanted[id(store)] = store
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="qiskit-aer-jobstore-pusher", daemon=True
                )
                self._thread.start()
            self._idle.notify_all()

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._busy = False
                self._idle.notify_all()
                self._idle.wait_for(lambda: bool(self._wanted))
                store = self._wanted.pop(next(iter(self._wanted)))
                self._busy = True
            try:
                self._push(store)
            except Exception as exc:  # never let one failure stop the pusher
                warnings.warn(
                    f"Pushing to the team store failed: {type(exc).__name__}: {exc}",
                    JobStoreWarning,
                    stacklevel=1,
                )

    @staticmethod
    def _push(store: StoreCore) -> None:
        team = remote_store()
        if team is None or _failed_recently(team):
            return  # jobs stay queued; the failure was already reported
        result = deliver(store, team)
        why = result.error or (result.failed[0][1] if result.failed else None)
        if why is not None:
            warnings.warn(
                f"{result.remaining} Aer job(s) were saved locally but not pushed to the team "
                f"store, and stay queued: {why} They go out with the next JobStore().push().",
                JobStoreWarning,
                stacklevel=1,
            )

    def pending(self) -> bool:
        return self._pid == os.getpid() and (self._busy or bool(self._wanted))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the pusher is idle. False if ``timeout`` ran out first."""
        if self._pid != os.getpid() or threading.current_thread() is self._thread:
            return True
        with self._lock:
            return self._idle.wait_for(lambda: not self._busy and not self._wanted, timeout)


PUSHER = Pusher()


def _flush_at_exit() -> None:
    timeout = float(os.getenv("QISKIT_AER_JOBS_PUSH_EXIT_TIMEOUT", 10))
    saves = float(os.getenv("QISKIT_AER_JOBS_EXIT_TIMEOUT", 60))
    flush_saves(timeout=saves)  # the writer's answers say which saves are ours to push
    if PUSHER.pending() and not PUSHER.flush(timeout=timeout):
        warnings.warn(
            "Pushing to the team store was still going on when Python exited; the jobs not "
            "yet pushed stay queued for the next JobStore().push().",
            JobStoreWarning,
            stacklevel=1,
        )


# registered after writer.py's handler, so it runs first: it flushes the writer itself
atexit.register(_flush_at_exit)
