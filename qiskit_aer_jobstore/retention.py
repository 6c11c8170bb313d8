"""Keeping the store within bounds: per-job size cap, store size cap, and ``prune``.

- ``max_job_bytes`` (default 256 MiB): a job whose payload is bigger is saved with its manifest,
  circuits, binds and options but without its ``Result``; its manifest says so
  (``result_dropped: true`` and a note) and ``StoredAerJob.result()`` explains.
- ``max_store_bytes`` (default 2 GiB): checked after each background save from the index's total
  (one SQL sum); past it the oldest jobs are deleted, and a ``JobStoreWarning`` names them.
- ``JobStore.prune(older_than, keep_last, max_bytes)``: explicit clean-up.

Settings are read when used, so a change to settings.conf applies to the next save.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
import warnings
from typing import Any

from . import settings
from .core import StoreCore
from .exceptions import JobStoreError, JobStoreWarning
from .record import JobRecord
from .settings import human

_BATCH = 500
_NAMED = 10


def _named(ids: list[str]) -> str:
    shown = ", ".join(ids[:_NAMED])
    return shown + (f" and {len(ids) - _NAMED} more" if len(ids) > _NAMED else "")


def cap_job(
    record: JobRecord, manifest: dict[str, Any], members: dict[str, bytes]
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Drop the result of a job over ``max_job_bytes``, keeping everything else.

    Returns:
        The manifest and members to write (unchanged when the job is within the cap).
    """
    cap = settings.max_job_bytes()
    size = sum(len(data) for data in members.values())
    if not cap or size <= cap or record.result is None:
        return manifest, members
    members = dataclasses.replace(record, result=None).members()
    note = (
        f"result dropped: the job's data was {human(size)}, over max_job_bytes "
        f"({human(cap)}); the manifest, circuits, parameter binds and options were kept"
    )
    manifest = dict(manifest)
    manifest["notes"] = [*manifest.get("notes", []), note]
    manifest["result_dropped"] = True
    manifest["result_bytes"] = size
    warnings.warn(
        f"Aer job {record.job_id}: {note}. Raise max_job_bytes in [aer] of settings.conf (or "
        "QISKIT_AER_MAX_JOB_BYTES; 0 means no cap) to keep such results.",
        JobStoreWarning,
        stacklevel=2,
    )
    return manifest, members


def enforce_store_cap(store: StoreCore, keep: str | None = None) -> list[str]:
    """Delete the oldest jobs while the store is over ``max_store_bytes``.

    Args:
        store: the store.
        keep: a job id never deleted here (the job just saved).

    Returns:
        The ids of the deleted jobs.
    """
    cap = settings.max_store_bytes()
    if not cap:
        return []
    total = store.index.total_size()
    if total <= cap:
        return []
    before_total = total
    doomed: list[dict[str, Any]] = []
    offset = 0
    while total > cap:
        rows = store.index.oldest(limit=_BATCH, offset=offset)
        if not rows:
            break
        offset += len(rows)
        for row in rows:
            if total <= cap:
                break
            if row["job_id"] != keep:
                doomed.append(row)
                total -= row["size"] or 0
    ids = store.delete_rows(doomed)
    if ids:
        warnings.warn(
            f"The job store {store.path} held {human(before_total)}, over max_store_bytes "
            f"({human(cap)}): deleted the {len(ids)} oldest job(s) "
            f"({human(before_total - total)}): {_named(ids)}. Raise max_store_bytes in [aer] "
            "of settings.conf (or QISKIT_AER_MAX_STORE_BYTES; 0 means no cap) to keep more.",
            JobStoreWarning,
            stacklevel=2,
        )
    return ids


def _seconds(older_than: Any) -> float | None:
    if older_than is None:
        return None
    if isinstance(older_than, _dt.timedelta):
        seconds = older_than.total_seconds()
    elif isinstance(older_than, (int, float)) and not isinstance(older_than, bool):
        seconds = float(older_than)
    else:
        raise JobStoreError(
            f"Invalid older_than {older_than!r}: give a datetime.timedelta or a number of seconds."
        )
    if seconds < 0:
        raise JobStoreError(f"Invalid older_than {older_than!r}: it must not be negative.")
    return seconds


def plan_prune(
    rows: list[dict[str, Any]],
    older_than: Any = None,
    keep_last: int | None = None,
    max_bytes: int | str | None = None,
    now: float | None = None,
) -> list[dict[str, Any]]:
    """Which rows (oldest first) ``prune`` deletes. See :meth:`JobStore.prune`."""
    seconds = _seconds(older_than)
    if keep_last is not None and (
        not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 0
    ):
        raise JobStoreError(f"Invalid keep_last {keep_last!r}: give an int >= 0.")
    if max_bytes is not None:
        max_bytes = settings.parse_size(max_bytes, "max_bytes")
    if seconds is None and keep_last is None and max_bytes is None:
        raise JobStoreError(
            "prune() needs at least one of older_than, keep_last or max_bytes; to delete "
            "every job, use prune(keep_last=0)."
        )
    doomed: set[str] = set()
    if seconds is not None:
        cutoff = (time.time() if now is None else now) - seconds
        doomed.update(r["job_id"] for r in rows if r["created"] < cutoff)
    if keep_last is not None:
        doomed.update(r["job_id"] for r in rows[: max(0, len(rows) - keep_last)])
    if max_bytes is not None:
        total = sum(r["size"] or 0 for r in rows if r["job_id"] not in doomed)
        for row in rows:
            if total <= max_bytes:
                break
            if row["job_id"] not in doomed:
                doomed.add(row["job_id"])
                total -= row["size"] or 0
    return [r for r in rows if r["job_id"] in doomed]


def prune(
    store: StoreCore,
    older_than: Any = None,
    keep_last: int | None = None,
    max_bytes: int | str | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete jobs by age, count and total size. See :meth:`JobStore.prune`."""
    store.refresh()
    rows = store.index.oldest()
    doomed = plan_prune(rows, older_than, keep_last, max_bytes)
    if dry_run:
        return [r["job_id"] for r in doomed]
    store.blobs.clean_temp()
    return store.delete_rows(doomed)
