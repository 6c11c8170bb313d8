"""A job's stages as it runs: ``QUEUED`` -> ``RUNNING`` -> ``DONE`` / ``ERROR`` / ``CANCELLED``,
each written to the store through the background writer.

A job is written as soon as it is submitted, as an archive holding only its manifest (status,
host, pid); the same archive name is replaced atomically at each step, and by the full
archive when the job ends. A step that is already outdated when the writer reaches it (the
job moved on) is skipped, so a short job costs one extra write at most. ``SaveContext`` is
what ``run`` decided about saving one job; the mixin, the primitives and sweeps all carry one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .record import JobRecord
from .store import JobStore
from .times import utcnow
from .writer import WRITER

# Stages a SaveContext moves through; a stage is written only while it is the latest.
NOT_SUBMITTED, QUEUED, RUNNING, FINAL = -1, 0, 1, 2
# A queued or running state is written only if the job is still in it after this long:
# short jobs then cost no extra write and no writer work beside the simulation.
GRACE_SECONDS = 0.02
_stage_lock = threading.Lock()


@dataclass
class SaveContext:
    """What ``run`` decided about saving one job, carried to where the job ends."""

    store: JobStore
    job_name: str | None = None
    job_tags: list[str] = field(default_factory=list)
    creation_date: Any = field(default_factory=utcnow)
    stage: int = NOT_SUBMITTED  # how far the job got (QUEUED, ...)
    session_id: str | None = None
    reuse: str | None = None  # reuse_results: None, "seeded" or "unseeded"
    content_key: str | None = None  # computed on the caller's path when reuse is on
    provenance: dict[str, str] = field(default_factory=dict)  # context.provenance(): rerun_of


def advance(ctx: Any, stage: int) -> bool:
    """Move ``ctx`` on to ``stage``. False if it is already there or further on."""
    with _stage_lock:
        if getattr(ctx, "stage", NOT_SUBMITTED) >= stage:
            return False
        ctx.stage = stage
        return True


def record_stage(ctx: SaveContext, stage: int, make_record: Callable[[], JobRecord],
                 job_id: str | None = None) -> None:
    """Hand over the job's record for ``stage``, unless a later stage came first (a queued
    or running stage: only if the job is still in it after ``GRACE_SECONDS``).

    ``make_record`` is called on the caller's thread for the final stage (cheap: it takes
    references; the hand-over pickles them), and in the background thread for the others,
    only if the job is still at that stage by then. Meanwhile listings in this process show
    the job in that stage (given its ``job_id``), making its record only if they do.
    """
    if not advance(ctx, stage) and stage != FINAL:  # an end is always written
        return
    if stage == FINAL:
        ctx.store.save_later(make_record())
        return

    shown = ctx.store.overlay.expect(job_id, make_record) if job_id else None

    def if_still_there() -> None:
        try:
            if ctx.stage == stage:
                ctx.store.save_later(make_record())
        finally:
            ctx.store.overlay.done(shown, written=False)  # (a hand-over shows its own)

    # A queued or running state is rarely written (a short job has moved on by then), so
    # its record is built only when it is, off the caller's path.
    WRITER.submit_at(time.monotonic() + GRACE_SECONDS, if_still_there,
                     "The queued or running state of an Aer job")


def watch_for_cancel(job: Any, ctx: SaveContext, make_record: Callable[[], JobRecord]) -> None:
    """Record the job as ``CANCELLED`` if its future is cancelled before it runs."""
    future = getattr(job, "_future", None)
    if future is None or not hasattr(future, "add_done_callback"):
        return

    def on_done(done: Any) -> None:
        if done.cancelled():
            record_stage(ctx, FINAL, make_record)

    future.add_done_callback(on_done)
