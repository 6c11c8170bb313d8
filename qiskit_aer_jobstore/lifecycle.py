"""Jobs whose process died: a job that says ``QUEUED`` or ``RUNNING`` but can never finish.

A job is written as soon as it is submitted (see ``stages``), with the host, pid and start
time of its process. If that process dies before the job ends, the job would stay active
forever: when the store is listed (or a job retrieved) on the same host, such a job whose pid
is gone (or now names another process) is shown, and rewritten, as ``ERROR`` with the reason.
"""

from __future__ import annotations

import json
from typing import Any

from .archive import ArchiveReader
from .core import StoreCore
from .exceptions import JobStoreError
from .index import JobFilter
from .manifest import JOB_STATUSES
from .process import is_this_host, process_alive
from .record import ACTIVE_STATUSES


def interrupted_reason(manifest: dict[str, Any]) -> str | None:
    """Why a job that says it is queued or running can never finish, or None if it may."""
    status = manifest.get("status")
    pid, host = manifest.get("pid"), manifest.get("host")
    if status not in ACTIVE_STATUSES or not isinstance(pid, int) or isinstance(pid, bool):
        return None
    if not is_this_host(host) or process_alive(pid, manifest.get("process_start")):
        return None
    return (
        f"interrupted: the process that ran it (pid {pid} on {host}) ended while the job was "
        f"{status}; it never finished. Run it again with rerun() once it is stored, or submit "
        "it again."
    )


def status_name(manifest: dict[str, Any]) -> str:
    """The name of the job's ``JobStatus``: as stored, but ``ERROR`` for an interrupted job or
    a status that is no ``JobStatus``."""
    status = manifest.get("status")
    if status not in JOB_STATUSES or interrupted_reason(manifest):
        return "ERROR"
    return status


def settle_interrupted(store: StoreCore) -> int:
    """Rewrite as ``ERROR`` every job of this host that is still active but whose process is
    gone. Returns how many were settled; archives that cannot be rewritten are left as they
    are (they still show as ``ERROR`` when read)."""
    settled = 0
    rows = store.index.query(JobFilter(status=list(ACTIVE_STATUSES), limit=None))
    for row in rows:
        manifest = json.loads(row["manifest"])
        reason = interrupted_reason(manifest)
        if reason is None:
            continue
        try:
            # the archive, not its row, says whether the job ended (a row may lag behind)
            archive = row["archive"]
            with store.blobs.open(archive) as handle, \
                    ArchiveReader(handle, store.blobs.path(archive)) as reader:
                reason = interrupted_reason(reader.manifest())
            if reason is None:
                continue
            store.rewrite_manifest(row["archive"], {"status": "ERROR", "error": reason})
        except (JobStoreError, OSError):
            continue
        settled += 1
    return settled
