"""What is wrong in a store, found without unpickling anything: ``JobStore.check()``.

A store can hold archives that were truncated by a full disk, edited by hand or planted by
someone else, temp files of writers that were killed, and index rows whose archive was removed
behind the index's back. ``check`` lists them; ``check(fix=True)`` removes the temp files and
brings the index in line, but never deletes an archive: damaged ones are the user's to judge.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .archive import ArchiveReader, job_id_from_name
from .blobs import TEMP_PREFIX, TEMP_SUFFIX
from .exceptions import JobArchiveError, JobStoreError

if TYPE_CHECKING:
    from .store import JobStore

# A temp file this old is stale even if its writer's pid is alive again (reused pid).
STALE_TEMP_S = 3600.0
_TEMP_RE = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[0-9a-f]+" + re.escape(TEMP_SUFFIX) + r"\Z")


def check(
    store: JobStore, fix: bool = False, progress: Callable[[int, int], None] | None = None
) -> list[tuple[str, str]]:
    """See :meth:`JobStore.check`."""
    store.flush()
    store.blobs.ensure()
    key = store.key
    indexed = store.index.archives()
    names = sorted(store.blobs.names())
    problems = []
    for done, name in enumerate(names, 1):
        why = archive_problem(store, name, key)
        if why:
            problems.append((name, why))
        if progress is not None:
            progress(done, len(names))
    temps = stale_temp_files(store)
    problems += temps
    on_disk = set(names)
    for archive, job_id in sorted(indexed.items()):
        if archive not in on_disk and not store.blobs.path(archive).exists():
            problems.append(
                (
                    archive,
                    f"the index lists job {job_id} but its archive is missing; "
                    "check(fix=True) or reindex() removes the row",
                )
            )
    if fix:
        for name, _ in temps:
            try:
                os.unlink(store.blobs.path(name))
            except OSError:
                pass
        store.reindex()
    return problems


def archive_problem(store: JobStore, name: str, key: bytes) -> str | None:
    """Why the archive ``name`` cannot be trusted or read, or None if it verifies."""
    label = str(store.blobs.path(name))
    try:
        try:
            handle = store.blobs.open(name)
        except FileNotFoundError:
            return None  # deleted while we looked: not a problem
        except OSError as exc:
            raise JobArchiveError(f"Cannot open {label}: {exc}.") from exc
        with handle, ArchiveReader(handle, label) as reader:
            manifest = reader.manifest()
            reader.verify(key)
            for member in manifest["members"]:
                reader.member(member, key)  # size and SHA-256 against the signed manifest
        if job_id_from_name(name) != manifest["job_id"]:
            return (
                f"{label}: the file name names job {job_id_from_name(name)!r} but the signed "
                f"manifest says {manifest['job_id']!r}; it was renamed by hand."
            )
    except JobStoreError as exc:
        return _text(exc)
    return None


def stale_temp_files(store: JobStore) -> list[tuple[str, str]]:
    """Temp files whose writer is gone (its pid is not running) or older than an hour."""
    stale = []
    now = time.time()
    try:
        entries = list(os.scandir(store.blobs.root))
    except OSError:
        return stale
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if not entry.name.startswith(TEMP_PREFIX):
            continue
        try:
            age = now - entry.stat().st_mtime
        except OSError:
            continue  # renamed into place meanwhile
        pid = int(match.group(1)) if match else None
        if pid is not None and not _alive(pid):
            stale.append(
                (
                    entry.name,
                    f"temp file of process {pid}, which is no longer running "
                    "(a save was interrupted); check(fix=True) removes it",
                )
            )
        elif age > STALE_TEMP_S:
            stale.append(
                (
                    entry.name,
                    f"temp file {age / 3600:.1f} h old, left by an interrupted "
                    "save; check(fix=True) removes it",
                )
            )
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, another user's
    except (OverflowError, ValueError):
        return False  # not a pid at all
    return True


def damaged_archive_error(store: JobStore, job_id: str) -> JobStoreError | None:
    """The error for a job that is not indexed because its archive is damaged, if so.

    Called only when a job id is not in the index, so the folder scan is off the hot path.
    """
    for name in store.blobs.names():
        if job_id_from_name(name) != job_id:
            continue
        try:
            store._row_for_archive(name)
        except FileNotFoundError:
            continue
        except JobStoreError as exc:
            return type(exc)(
                f"Job {job_id} is in the store but cannot be read: {_text(exc)} "
                "(`JobStore.check()` lists every damaged archive.)"
            )
    return None


def _text(exc: JobStoreError) -> str:
    """The message itself (``str()`` of a QiskitError is its repr, quotes included)."""
    return getattr(exc, "message", None) or str(exc)
