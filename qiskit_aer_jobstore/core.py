"""The store core: one folder of signed archives and the SQLite index over them.

It knows how to put an archive and its row, rewrite a manifest, bring the index in line with
the folder, find a row, read a job and delete jobs (with their pieces). It calls no service:
retention, the team push and the lifecycle run on top of it (``store.JobStore``).

Write order (as in diskcache): the archive is written first (atomically), the index row is
committed second. A crash between the two leaves an archive the index does not know yet; it is
picked up the next time the store is listed, because the archives are the source of truth.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from . import settings, signing
from .archive import ArchiveReader, count_foreign, rewrite_archive, write_archive
from .blobs import FolderBlobs, file_identity
from .exceptions import (
    JobArchiveError,
    JobNotFoundError,
    JobStoreError,
    JobStoreUnavailableError,
    JobStoreWarning,
)
from .handoff import flush_saves, wait_for_orphaned_writers
from .handover import hand_over
from .index import IndexEntry, JobFilter, SQLiteIndex
from .indexbatch import not_indexed
from .manifest import job_id_from_name, validate_job_id
from .pieces import delete_pieces
from .portable import read_job

INDEX_FILE = "index.sqlite"
# Archives written while the index could not be: a marker each, read back by the next sync
UNINDEXED_DIR = ".unindexed"
# How old the last diff of the folder against the index may be before a listing diffs again.
RESYNC_AFTER_S = 30.0


class StoreCore:
    """A folder of job archives and its index: the operations every service builds on.

    Args:
        path: the store folder (default: ``QISKIT_AER_JOBS_DIR``, ``jobs_dir`` in settings.conf,
            or ``~/.qiskit/aer_jobs``).
        key_path: the signing key file (default: ``QISKIT_AER_JOBS_KEY`` or
            ``~/.qiskit/aer_jobs.key``).
    """

    def __init__(self, path: str | Path | None = None, key_path: str | Path | None = None,
                 check_settings: bool = True):
        self.path = Path(path).expanduser() if path is not None else settings.jobs_dir()
        self.key_path = Path(key_path).expanduser() if key_path is not None else settings.key_file()
        if check_settings:  # a broken cap is refused now; the caps are read at each save
            settings.max_store_bytes(), settings.max_job_bytes()
        self.blobs = FolderBlobs(self.path, fsync=settings.durability() == "full")
        self._index: SQLiteIndex | None = None
        self._index_lock = threading.Lock()
        self._key_checked = False
        self.rows_later: Any = None  # an ``indexbatch.IndexBatch`` while one is open

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # -- parts -------------------------------------------------------------------------
    @property
    def key(self) -> bytes:
        """The signing key; made on first use, with a warning if the store holds jobs that
        another key signed (a mistyped or moved key path)."""
        if not self._key_checked:
            self._key_checked = True
            if not self.key_path.exists():
                key = signing.load_key(self.key_path)
                self._warn_if_foreign(key)
                return key
        return signing.load_key(self.key_path)

    def _warn_if_foreign(self, key: bytes) -> None:
        names = self.blobs.names() if self.path.is_dir() else []
        foreign = count_foreign(self.blobs, names, key)
        if foreign:
            warnings.warn(
                f"The signing key {self.key_path} did not exist, so a new key was made there; "
                f"{foreign} of the {len(names)} jobs in the store {self.path} were signed with "
                "another key and can now be read only through their portable copies "
                "(untrusted). If the key was moved or its path mistyped, point "
                "QISKIT_AER_JOBS_KEY (or jobs_key in [aer] of settings.conf) at the right key "
                f"file and delete {self.key_path}.",
                JobStoreWarning,
                stacklevel=3,
            )

    @property
    def index(self) -> SQLiteIndex:
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    read_only = self._folder_read_only()
                    self.blobs.read_only = read_only
                    self.blobs.ensure()
                    # NORMAL even for durability=full: the index is a cache, and rows lost
                    # with the WAL's tail on power loss come back by the folder check
                    self._index = SQLiteIndex(
                        self.path / INDEX_FILE, synchronous="NORMAL", read_only=read_only
                    )
        return self._index

    def archive_label(self, archive: str) -> str:
        """Where an archive of the store is, for people (its file path)."""
        return self.blobs.path(archive)

    @property
    def read_only(self) -> bool:
        """Whether the store folder cannot be written (jobs can only be listed and read)."""
        return self.index.read_only

    def _folder_read_only(self) -> bool:
        if not self.path.is_dir():
            return False  # made on the first save
        index = self.path / INDEX_FILE
        if os.access(self.path, os.W_OK) and (not index.exists() or os.access(index, os.W_OK)):
            return False
        warnings.warn(
            f"The job store {self.path} is read-only: its jobs can be listed and read, but "
            "saving, deleting, renaming or tagging jobs there fails. Its index is kept in "
            "memory. Set QISKIT_AER_JOBS_DIR to a writable folder to save jobs.",
            JobStoreWarning,
            stacklevel=4,
        )
        return True

    # -- writing -----------------------------------------------------------------------
    def put_archive(
        self, name: str, manifest: dict[str, Any], members: dict[str, bytes]
    ) -> dict[str, Any]:
        """Write one archive, then its index row. Returns the manifest as written."""
        key = self.key
        return self.commit(name, lambda handle: write_archive(handle, manifest, members, key))

    def commit(self, name: str, write: Callable[[BinaryIO], dict[str, Any]]) -> dict[str, Any]:
        """Put an archive (``write`` writes it and returns its manifest), then its index row.
        An index that cannot be written costs a warning, never the archive."""
        index = self.index
        before = self.blobs.version()
        written: dict[str, Any] = {}
        size = self.blobs.put(name, lambda handle: written.update(write(handle)))
        after = self.blobs.version()
        if self.rows_later is not None:  # the writer process's burst: rows in one transaction
            self.rows_later.add(IndexEntry.from_manifest(written, name, size), before, after)
            return written
        try:
            replaced = index.upsert(IndexEntry.from_manifest(written, name, size), before, after)
        except JobStoreUnavailableError as exc:
            # the signed archive is complete and is the truth: keep it, the next listing indexes it
            self._mark_unindexed(name)
            warnings.warn(
                not_indexed(written["job_id"], self.blobs.path(name), exc),
                JobStoreWarning,
                stacklevel=3,
            )
            return written
        if replaced is not None:
            self.blobs.delete(replaced)
        return written

    def _mark_unindexed(self, name: str) -> None:
        try:
            folder = self.path / UNINDEXED_DIR
            folder.mkdir(mode=0o700, exist_ok=True)
            (folder / name).touch()
        except OSError:
            pass  # then only reindex() brings a rewritten archive's row up to date

    def _unindexed(self) -> list[str]:
        try:
            return os.listdir(self.path / UNINDEXED_DIR)
        except OSError:
            return []

    def rewrite_manifest(self, archive: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Rewrite one archive with some manifest fields changed: members copied unchanged
        (verified), signed again with this store's key, then its index row.

        Returns:
            The new manifest.

        Raises:
            JobStoreIntegrityError: the archive does not verify with this store's key.
            JobNotFoundError: the archive was removed meanwhile.
        """
        key, label = self.key, self.blobs.path(archive)

        def write(handle: BinaryIO) -> dict[str, Any]:
            try:
                source = self.blobs.open(archive)
            except FileNotFoundError:
                raise JobNotFoundError(f"The archive {label} was removed: the job is gone.") \
                    from None
            with source:
                return rewrite_archive(source, handle, key, changes, label)

        return self.commit(archive, write)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for this process's saves to be written (see ``handoff.flush_saves``)."""
        return flush_saves(timeout)

    # -- the index and the folder --------------------------------------------------------
    def refresh(self, flush: bool = True) -> None:
        """Bring the index in line with the archives if the folder changed behind its back
        (``flush``: after this process's saves are written)."""
        if flush:
            self.flush()
        wait_for_orphaned_writers(self.path)
        index = self.index
        version = self.blobs.version()
        if version is None:
            return
        if index.rebuilt:  # reindex(), without its flush
            index.rebuilt = False
            self.blobs.clean_temp()
            self.sync(version, full=True)
        elif index.get_meta("blobs_version") != str(version) or self._resync_due():
            self.sync(version)

    def _resync_due(self) -> bool:
        # A save marks the folder's new mtime as in sync when it was in sync before, so an
        # archive that landed in the same instant without its row (copied in by hand, or
        # left by a writer killed between rename and index) would stay unseen: diff the
        # folder against the index anyway when the last diff is older than RESYNC_AFTER_S.
        synced = self.index.get_meta("synced_at")
        try:
            return time.time() - float(synced) > RESYNC_AFTER_S
        except (TypeError, ValueError):
            return True

    def sync(self, version: Any, full: bool = False,
             progress: Callable[[int, int], None] | None = None) -> list[tuple[str, str]]:
        """Diff the folder against the index (``full``: re-read every archive); returns
        ``(archive name, reason)`` for each archive that could not be indexed."""
        # rows first, then the folder: an archive saved in between is then only re-read
        indexed = self.index.archive_names()
        on_disk = set(self.blobs.names())
        gone = [name for name in indexed if name not in on_disk]
        problems: list[tuple[str, str]] = []
        items = []
        marked = self._unindexed()
        names = sorted(on_disk if full else (on_disk - indexed) | (on_disk & set(marked)))
        read: dict[str, Any] = {}  # the file each entry was read from
        for done, name in enumerate(names, 1):
            try:
                items.append(self.entry_for_archive(name, read))
            except FileNotFoundError:
                pass  # deleted while we looked
            except JobStoreError as exc:
                problems.append((name, str(exc)))
            if progress is not None:
                progress(done, len(names))
        if full:
            gone += [name for name, _ in problems if name in indexed]
        if gone or items:
            # a row is written only if its archive is still the file read (checked inside
            # the transaction): a writer that replaced it meanwhile writes its own row after
            self.index.upsert_many(items, gone, lambda name: read.get(name) is not None
                                   and self.blobs.identity(name) == read[name])
        for name in marked:
            with contextlib.suppress(OSError):
                os.unlink(self.path / UNINDEXED_DIR / name)
        self.index.set_meta("blobs_version", version)
        self.index.set_meta("synced_at", repr(time.time()))
        for name, why in problems:
            if self.index.get_meta(f"reported:{name}") is None:
                warnings.warn(f"Skipped a damaged archive: {why}", JobStoreWarning, stacklevel=3)
                self.index.set_meta(f"reported:{name}", "1")
        return problems

    def entry_for_archive(self, name: str, read: dict[str, Any] | None = None) -> IndexEntry:
        """The index entry of one archive, from its manifest (nothing is unpickled); the
        identity of the file it was read from goes to ``read[name]``."""
        try:
            handle = self.blobs.open(name)
        except FileNotFoundError:
            raise
        except OSError as exc:  # a folder named *.zip, no permission, I/O error
            raise JobArchiveError(f"Cannot open {self.blobs.path(name)}: {exc}.") from exc
        with handle:
            if read is not None:
                read[name] = file_identity(os.fstat(handle.fileno()))
            size = handle.seek(0, 2)
            handle.seek(0)
            with ArchiveReader(handle, self.blobs.path(name)) as reader:
                return IndexEntry.from_manifest(reader.manifest(), name, size)

    def reindex(
        self, progress: Callable[[int, int], None] | None = None
    ) -> list[tuple[str, str]]:
        """Rebuild the index from the archives (in one transaction: others keep listing), and
        remove temp files killed writers left over an hour ago. Returns ``(archive name,
        reason)`` for each archive that could not be indexed (reported, never deleted);
        ``progress(done, total)`` is called after each archive is read."""
        self.flush()
        self.blobs.clean_temp()
        return self.sync(self.blobs.version(), full=True, progress=progress)

    # -- finding and reading -----------------------------------------------------------
    def row(self, job_id: str) -> dict[str, Any]:
        """A job's index row.

        Raises:
            InvalidJobIdError: ``job_id`` is not a well-formed id.
            JobNotFoundError: no such job (or JobArchiveError and kin: its archive is damaged).
        """
        validate_job_id(job_id)
        row = self.index.get(job_id)
        if row is None:
            self.refresh()  # (this process's saves first)
            row = self.index.get(job_id)
        if row is None:
            damaged = self.damaged_archive_error(job_id)
            if damaged is not None:
                raise damaged
            raise JobNotFoundError(
                f"No job with id {job_id!r} in the job store {self.path}. List the stored jobs "
                "with backend.jobs() or `JobStore().list()`; set QISKIT_AER_JOBS_DIR if the "
                "job was saved to another folder."
            )
        return row

    def damaged_archive_error(self, job_id: str) -> JobStoreError | None:
        """The error for a job that is not indexed because its archive is damaged, if so.

        Called only when a job id is not in the index, so the folder scan is off the hot path.
        """
        for name in self.blobs.names():
            if job_id_from_name(name) != job_id:
                continue
            try:
                self.entry_for_archive(name)
            except FileNotFoundError:
                continue
            except JobStoreError as exc:
                return type(exc)(
                    f"Job {job_id} is in the store but cannot be read: {exc} "
                    "(`JobStore.check()` lists every damaged archive.)"
                )
        return None

    def manifest(self, job_id: str) -> dict[str, Any]:
        """A job's manifest (from the index; no archive is opened)."""
        return json.loads(self.row(job_id)["manifest"])

    @contextlib.contextmanager
    def reader(self, archive: str) -> Iterator[ArchiveReader]:
        """An ``ArchiveReader`` over one archive of the store.

        Raises:
            JobNotFoundError: the archive was removed.
            JobArchiveError: it cannot be opened.
        """
        label = self.blobs.path(archive)
        try:
            handle = self.blobs.open(archive)
        except FileNotFoundError:
            self.refresh()
            raise JobNotFoundError(
                f"The archive {label} was removed from the store; the job is gone."
            ) from None
        except OSError as exc:
            raise JobArchiveError(f"Cannot open {label}: {exc}.") from exc
        with handle, ArchiveReader(handle, label) as reader:
            yield reader

    def load(self, job_id: str) -> dict[str, Any]:
        """A job's verified, unpickled payload: circuits, binds, options, result, error."""
        return self.read_payload(self.row(job_id)["archive"])

    def read_payload(self, archive: str) -> dict[str, Any]:
        """The verified, unpickled payload of an archive (refused unless signed by this key)."""
        with self.reader(archive) as reader:
            return reader.payload(self.key)

    def signed_here(self, archive: str) -> bool:
        """Whether the archive's manifest verifies with this store's key."""
        with self.reader(archive) as reader:
            return reader.is_signed_by(self.key)

    def read_job(self, archive: str, trusted: bool = True) -> dict[str, Any]:
        """An archive's payload: unpickled if ``trusted`` and signed by this store's key, else
        built from its portable copies only (``payload["portable"]`` is then True)."""
        with self.reader(archive) as reader:
            return read_job(reader, self.key, trusted)

    def count(self, **filters: Any) -> int:
        """How many stored jobs ``filters`` select (paging filters are ignored)."""
        return self.index.count(self._unpaged(filters))

    def usage(self, **filters: Any) -> list[dict[str, Any]]:
        """Disk use by backend and month: ``{"backend_name", "month" ("YYYY-MM", UTC), "jobs",
        "bytes"}`` per group, for the jobs ``filters`` select (paging filters are ignored)."""
        return self.index.usage(self._unpaged(filters))

    def _unpaged(self, filters: dict[str, Any]) -> JobFilter:
        filters = {k: v for k, v in filters.items() if k not in ("limit", "skip")}
        self.refresh()
        return JobFilter.from_kwargs(**filters)

    def size(self) -> int:
        """Bytes used by the archives of the store."""
        self.refresh()
        return self.index.total_size()

    # -- deleting ----------------------------------------------------------------------
    def delete(self, job_id: str) -> bool:
        """Delete one job (archive, then index row, then its pieces). False if there was no
        such job."""
        validate_job_id(job_id)
        self.flush()
        if self.read_only:
            self.blobs.writable()  # says so before the job is even looked up
        row = self.index.get(job_id)
        if row is None:
            return False
        self.delete_rows([row])
        return True

    def delete_rows(self, rows: list[dict[str, Any]]) -> list[str]:
        """Delete jobs given as index rows: archives first, then the rows in one transaction,
        then the pieces of split jobs. Returns their ids."""
        if not rows:
            return []
        hand_over(self, rows)  # reuses keep the results they read
        before = self.blobs.version()
        for row in rows:
            self.blobs.delete(row["archive"])
        after = self.blobs.version()
        ids = [row["job_id"] for row in rows]
        self.index.delete(ids, before, after)
        for job_id in ids:
            delete_pieces(self.path, job_id)
        return ids
