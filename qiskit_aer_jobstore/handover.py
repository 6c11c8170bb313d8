"""Reuses that read another job's payload keep it when that job is deleted.

A job served by ``reuse_results`` is stored as its own archive holding only its manifest,
whose ``payload_in`` names the job whose archive holds the payload. Before that job is
deleted (``delete``, ``prune``, the store cap), each such reuse is rewritten with a copy of
the payload, so the payload is stored twice only once its first copy is about to go.
"""

from __future__ import annotations

import warnings
from typing import Any

from .archive import adopt_payload
from .exceptions import JobStoreError, JobStoreWarning


def hand_over(core: Any, rows: list[dict[str, Any]]) -> None:
    """Copy the payload of each job of ``rows`` (index rows about to be deleted from the
    store core ``core``) into the reuses that read it; a failure is a warning."""
    archives = {row["job_id"]: row["archive"] for row in rows}
    for reuse in core.index.sharing(list(archives)):
        if reuse["job_id"] in archives:
            continue  # deleted too
        mine, theirs = reuse["archive"], archives[reuse["payload_in"]]
        label = core.blobs.path(mine)
        try:
            with core.blobs.open(mine) as own, core.blobs.open(theirs) as source:
                core.commit(mine, lambda out, own=own, source=source, label=label: adopt_payload(
                    own, source, out, core.key, label))
        except (OSError, JobStoreError) as exc:
            warnings.warn(
                f"Job {reuse['job_id']} reused the result of job {reuse['payload_in']}, which "
                f"is being deleted, and could not keep a copy of it: {exc}",
                JobStoreWarning, stacklevel=4)
