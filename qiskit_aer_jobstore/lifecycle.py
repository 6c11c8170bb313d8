"""A job's life in the store: ``QUEUED`` -> ``RUNNING`` -> ``DONE`` / ``ERROR`` / ``CANCELLED``.

A job is written as soon as it is submitted, as an archive holding only its manifest (status,
host, pid); the same archive name is replaced atomically at each step, and by the full
archive when the job ends. All writes go through the background writer; a step that is
already outdated when the writer reaches it (the job moved on) is skipped, so a short job
costs one extra write at most.

A job whose process died before it ended would stay ``QUEUED``/``RUNNING`` forever: when the
store is listed (or a job retrieved) on the same host, such a job whose pid is gone (or now
names another process) is shown, and rewritten, as ``ERROR`` with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .exceptions import JobStoreError
from .writer import WRITER

if TYPE_CHECKING:
    from .record import JobRecord
    from .store import JobStore

# Stages a SaveContext moves through; a stage is written only while it is the latest.
NOT_SUBMITTED, QUEUED, RUNNING, FINAL = -1, 0, 1, 2
ACTIVE_STATUSES = ("INITIALIZING", "QUEUED", "VALIDATING", "RUNNING")
# A queued or running state is written only if the job is still in it after this long:
# short jobs then cost no extra write and no writer work beside the simulation.
GRACE_SECONDS = 0.02
_stage_changed = threading.Condition(threading.Lock())
_own_start: str | None = None


def advance(ctx: Any, stage: int) -> bool:
    """Move ``ctx`` on to ``stage``. False if it is already there or further on."""
    with _stage_changed:
        if getattr(ctx, "stage", NOT_SUBMITTED) >= stage:
            return False
        ctx.stage = stage
        _stage_changed.notify_all()
        return True


def still_at(ctx: Any, stage: int, due: float) -> bool:
    """In the writer: whether ``ctx`` is still at ``stage`` at time ``due`` (monotonic)."""
    with _stage_changed:
        left = due - time.monotonic()
        return _stage_changed.wait_for(lambda: ctx.stage != stage, max(left, 0)) is False


def record_stage(ctx: Any, stage: int, make_record: Callable[[], JobRecord]) -> None:
    """Queue the job's record for ``stage``, to be written only if no later stage came first
    (a queued or running stage also only if the job is still in it after ``GRACE_SECONDS``).

    ``make_record`` is called on the caller's thread for the final stage (cheap: it takes
    references; pickling happens in the writer), and in the writer for the others, only if
    they are still current.
    """
    if not advance(ctx, stage) and stage != FINAL:  # an end is always written
        return
    if stage == FINAL:
        ctx.store.save_later(make_record())
        return
    # A queued or running state is rarely written (a short job has moved on by then), so
    # its record is built by the writer, only when it is, not on the caller's path.
    due = time.monotonic() + GRACE_SECONDS

    def write_state() -> None:
        if still_at(ctx, stage, due):
            ctx.store._save_and_cap(make_record())

    WRITER.submit(write_state, "The queued or running state of an Aer job")


def watch_for_cancel(job: Any, ctx: Any, make_record: Callable[[], JobRecord]) -> None:
    """Record the job as ``CANCELLED`` if its future is cancelled before it runs."""
    future = getattr(job, "_future", None)
    if future is None or not hasattr(future, "add_done_callback"):
        return

    def on_done(done: Any) -> None:
        if done.cancelled():
            record_stage(ctx, FINAL, make_record)

    future.add_done_callback(on_done)


# -- jobs whose process died ------------------------------------------------------------
def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def process_identity() -> dict[str, Any]:
    """Manifest fields naming this process: ``host``, ``pid`` and ``process_start``."""
    global _own_start
    if _own_start is None:
        _own_start = _start_time(os.getpid()) or ""
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_start": _own_start or None}


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` still names the process that wrote a manifest (same start time)."""
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        try:
            import psutil
        except ImportError:
            return True
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    now = _start_time(pid)
    return not (started and now and now != started)


def interrupted_reason(manifest: dict[str, Any]) -> str | None:
    """Why a job that says it is queued or running can never finish, or None if it may."""
    status = manifest.get("status")
    pid, host = manifest.get("pid"), manifest.get("host")
    if status not in ACTIVE_STATUSES or not isinstance(pid, int) or isinstance(pid, bool):
        return None
    if host != socket.gethostname() or process_alive(pid, manifest.get("process_start")):
        return None
    return (
        f"interrupted: the process that ran it (pid {pid} on {host}) ended while the job was "
        f"{status}; it never finished. Run it again with rerun() once it is stored, or submit "
        "it again."
    )


def settle_interrupted(store: JobStore) -> int:
    """Rewrite as ``ERROR`` every job of this host that is still active but whose process is
    gone. Returns how many were settled; archives that cannot be rewritten are left as they
    are (they still show as ``ERROR`` when read)."""
    from .index import JobFilter

    settled = 0
    rows = store.index.query(JobFilter(status=list(ACTIVE_STATUSES), limit=None))
    for row in rows:
        manifest = json.loads(row["manifest"])
        reason = interrupted_reason(manifest)
        if reason is None:
            continue
        try:
            store.replace_manifest(row["archive"], {"status": "ERROR", "error": reason})
        except (JobStoreError, FileNotFoundError):
            continue
        settled += 1
    return settled
