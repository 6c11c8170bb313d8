"""What is wrong in a store, found without unpickling anything: ``JobStore.check()``.

A store can hold archives that were truncated by a full disk, edited by hand or planted by
someone else, temp files of writers that were killed, and index rows whose archive was removed
behind the index's back. ``check`` lists them; ``check(fix=True)`` removes the temp files and
brings the index in line, but never deletes an archive: damaged ones are the user's to judge.

An archive not signed with the store's key (an untrusted import, a colleague's) is not a
problem if its portable copies verify against its manifest: it is read through them only,
never unpickled, and ``check`` counts it apart (``Problems.untrusted``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

from .archive import ArchiveReader
from .blobs import TEMP_PREFIX, TEMP_SUFFIX
from .core import StoreCore
from .exceptions import JobArchiveError, JobStoreError
from .manifest import job_id_from_name
from .portable import use_pickle
from .process import process_alive

# A temp file this old is stale even if its writer's pid is alive again (reused pid).
STALE_TEMP_S = 3600.0
_TEMP_RE = re.compile(re.escape(TEMP_PREFIX) + r"(\d+)-[0-9a-f]+" + re.escape(TEMP_SUFFIX) + r"\Z")


class Problems(list):
    """``(file name, reason)`` for each problem found; empty if the store is healthy.

    Attributes:
        untrusted: ids of the jobs whose archive is not signed with the store's key but
            whose portable copies verify (read from those only, never unpickled): not problems.
    """

    untrusted: list[str]


def check(
    store: StoreCore, fix: bool = False, progress: Callable[[int, int], None] | None = None
) -> Problems:
    """See :meth:`JobStore.check`."""
    store.flush()
    store.blobs.ensure()
    key = store.key
    indexed = store.index.archives()
    names = sorted(store.blobs.names())
    problems = Problems()
    problems.untrusted = []
    for done, name in enumerate(names, 1):
        why, untrusted = archive_problem(store, name, key)
        if why:
            problems.append((name, why))
        elif untrusted:
            problems.untrusted.append(untrusted)
        if progress is not None:
            progress(done, len(names))
    temps = stale_temp_files(store)
    problems += temps
    on_disk = set(names)
    for archive, job_id in sorted(indexed.items()):
        if archive not in on_disk and not store.blobs.exists(archive):
            problems.append(
                (
                    archive,
                    f"the index lists job {job_id} but its archive is missing; "
                    "check(fix=True) or reindex() removes the row",
                )
            )
    for row in store.index.orphaned_reuses():
        problems.append((row["archive"], (
            f"job {row['job_id']} reused the result of job {row['payload_in']}, whose archive "
            "is gone (removed by hand?): its result cannot be read")))
    if fix:
        for name, _ in temps:
            try:
                os.unlink(store.blobs.file(name))
            except OSError:
                pass
        store.reindex()
    return problems


def archive_problem(store: StoreCore, name: str, key: bytes) -> tuple[str | None, str | None]:
    """``(why the archive name cannot be read, None)``, or ``(None, its job id)`` if it is
    untrusted but readable through its portable copies, or ``(None, None)`` if it verifies."""
    label = store.blobs.path(name)
    try:
        try:
            handle = store.blobs.open(name)
        except FileNotFoundError:
            return None, None  # deleted while we looked: not a problem
        except OSError as exc:
            raise JobArchiveError(f"Cannot open {label}: {exc}.") from exc
        with handle, ArchiveReader(handle, label) as reader:
            manifest = reader.manifest()
            # no portable copies, or claiming this key: only the signature could make it
            # readable, so verify() says why it is not
            untrusted = not use_pickle(reader, key)
            if not untrusted:
                reader.verify(key)
            for member in manifest["members"]:
                reader.check_member(member)  # size and SHA-256 against the manifest
        if job_id_from_name(name) != manifest["job_id"]:
            return (
                f"{label}: the file name names job {job_id_from_name(name)!r} but the "
                f"manifest says {manifest['job_id']!r}; it was renamed by hand."
            ), None
    except JobStoreError as exc:
        return _text(exc), None
    return None, manifest["job_id"] if untrusted else None


def stale_temp_files(store: StoreCore) -> list[tuple[str, str]]:
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
        if pid is not None and not process_alive(pid):
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


def _text(exc: JobStoreError) -> str:
    """The message itself (``str()`` of a QiskitError is its repr, quotes included)."""
    return getattr(exc, "message", None) or str(exc)
