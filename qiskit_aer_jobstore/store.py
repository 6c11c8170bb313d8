"""``JobStore``: saving, loading, listing and deleting jobs over an index and blobs.

Write order (as in diskcache): the archive is written first (atomically), the index row is
committed second. A crash between the two leaves an archive the index does not know yet; it is
picked up the next time the store is listed, because the archives are the source of truth.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import lifecycle, retention, settings, signing
from .archive import (
    JOB_ID_RE,
    ArchiveReader,
    archive_name,
    rewrite_archive,
    write_archive,
)
from .blobs import FolderBlobs
from .cluster.journal import delete_pieces
from .exceptions import (
    InvalidJobIdError,
    JobArchiveError,
    JobNotFoundError,
    JobStoreError,
    JobStoreUnavailableError,
)
from .index import JobFilter, SQLiteIndex, row_from_manifest
from .index.query import circuit_names_of, tags_of
from .notebook import JobList
from .record import JobRecord
from .writer import WRITER, JobStoreWarning

if TYPE_CHECKING:
    from .health import Problems
    from .job import StoredAerJob
    from .push import PushResult

INDEX_FILE = "index.sqlite"
# How old the last diff of the folder against the index may be before a listing diffs again.
RESYNC_AFTER_S = 30.0
_defaults: dict[tuple[str, str], JobStore] = {}
_defaults_lock = threading.Lock()


def validate_job_id(job_id: Any) -> str:
    """Refuse ids that could name anything but one job (paths, globs, empty, non-strings)."""
    if not isinstance(job_id, str):
        raise InvalidJobIdError(
            f"A job id must be a string, not {type(job_id).__name__}: e.g. job.job_id()."
        )
    if not JOB_ID_RE.match(job_id) or ".." in job_id:
        raise InvalidJobIdError(
            f"Invalid job id {job_id!r}: ids are 1-128 letters, digits, '-', '_' and '.', as "
            "returned by job.job_id()."
        )
    return job_id


class JobStore:
    """A store of Aer jobs: one signed zip archive per job and an SQL index over them.

    Args:
        path: the store folder (default: ``QISKIT_AER_JOBS_DIR``, ``jobs_dir`` in settings.conf,
            or ``~/.qiskit/aer_jobs``).
        key_path: the signing key file (default: ``QISKIT_AER_JOBS_KEY`` or
            ``~/.qiskit/aer_jobs.key``).
    """

    def __init__(self, path: str | Path | None = None, key_path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else settings.jobs_dir()
        self.key_path = Path(key_path).expanduser() if key_path is not None else settings.key_file()
        self.settings = settings.StoreSettings.current()
        full = self.settings.durability == "full"
        self.blobs = FolderBlobs(self.path, fsync=full)
        self._index: SQLiteIndex | None = None
        self._index_lock = threading.Lock()

    @classmethod
    def default(cls) -> JobStore:
        """The store the current settings name (one instance per folder and key)."""
        key = (str(settings.jobs_dir()), str(settings.key_file()))
        store = _defaults.get(key)
        if store is None:
            with _defaults_lock:
                store = _defaults.setdefault(key, cls(*key))
        return store

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    # -- parts -------------------------------------------------------------------------
    @property
    def key(self) -> bytes:
        return signing.load_key(self.key_path)

    @property
    def index(self) -> SQLiteIndex:
        if self._index is None:
            with self._index_lock:
                if self._index is None:
                    self.blobs.ensure()
                    # NORMAL even for durability=full: the index is a cache, and rows lost
                    # with the WAL's tail on power loss come back by the folder check
                    self._index = SQLiteIndex(self.path / INDEX_FILE, synchronous="NORMAL")
        return self._index

    # -- saving ------------------------------------------------------------------------
    def save(self, record: JobRecord) -> dict[str, Any]:
        """Write one job now: archive first, index row second. Returns its manifest."""
        name = archive_name(record.creation_date, record.job_id)
        members = record.members()  # first: it adds the portable entry to the manifest
        manifest, members = retention.cap_job(record, record.manifest(), members)
        written = self._put_archive(name, manifest, members)
        if not record.manifest_only:
            from . import push

            push.queue(self, record.job_id, name)  # no-op without a team store
        return written

    def _put_archive(self, name: str, manifest: dict[str, Any],
                     members: dict[str, bytes]) -> dict[str, Any]:
        key = self.key
        return self._commit(name, lambda handle: write_archive(handle, manifest, members, key))

    def _commit(self, name: str, write: Callable[[BinaryIO], dict[str, Any]]) -> dict[str, Any]:
        """Put an archive (``write`` writes it and returns its manifest), then its index row."""
        index = self.index
        before = self.blobs.version()
        written: dict[str, Any] = {}
        size = self.blobs.put(name, lambda handle: written.update(write(handle)))
        after = self.blobs.version()
        row = row_from_manifest(written, name, size, None)
        try:
            old = index.get(written["job_id"])
            index.upsert(row, tags_of(written), circuit_names_of(written), before, after)
        except JobStoreUnavailableError as exc:
            # the signed archive is complete and is the truth: keep it, the next listing indexes it
            warnings.warn(
                f"Aer job {written['job_id']} was saved to {self.blobs.path(name)} but not added "
                f"to the index ({exc}); it is listed once the index is free again.",
                JobStoreWarning,
                stacklevel=2,
            )
            return written
        if old is not None and old["archive"] != name:
            self.blobs.delete(old["archive"])
        return written

    def replace_manifest(self, archive: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Rewrite one archive with some manifest fields changed, its members kept and
        verified, signed again with this store's key.

        Raises:
            JobStoreIntegrityError: the archive does not verify with this store's key.
        """
        key = self.key
        with self.blobs.open(archive) as handle, ArchiveReader(
            handle, str(self.blobs.path(archive))
        ) as reader:
            manifest = dict(reader.manifest())
            reader.verify(key)
            members = {name: reader.member(name, key) for name in manifest["members"]}
        manifest.update(changes)
        return self._put_archive(archive, manifest, members)

    def save_later(self, record: JobRecord, current: Callable[[], bool] | None = None) -> None:
        """Queue ``record`` for the background writer; failures become JobStoreWarnings.

        Args:
            record: the job to write.
            current: if given, the record is written only if this still returns True when the
                writer reaches it (a queued or running state the job has since left is skipped).
        """

        def task() -> None:
            if current is None or current():
                self._save_and_cap(record)

        WRITER.submit(task, f"Aer job {record.job_id}")

    def _save_and_cap(self, record: JobRecord) -> None:
        self.save(record)
        try:
            retention.enforce_store_cap(self, keep=record.job_id)
        except JobStoreError as exc:  # the job is saved: say only that the cap was not applied
            warnings.warn(
                f"Aer job {record.job_id} was saved, but max_store_bytes was not enforced: {exc}",
                JobStoreWarning,
                stacklevel=1,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait for this process's queued saves to finish."""
        return WRITER.flush(timeout)

    # -- reading -----------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring the index in line with the archives if the folder changed behind its back."""
        self.flush()
        index = self.index
        version = self.blobs.version()
        if version is None:
            return
        if index.rebuilt:
            index.rebuilt = False
            self.reindex()
        elif index.get_meta("blobs_version") != str(version) or self._resync_due():
            self._sync(version)
        lifecycle.settle_interrupted(self)  # jobs left QUEUED/RUNNING by a dead process

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

    def _sync(
        self,
        version: Any,
        full: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[tuple[str, str]]:
        # rows first, then the folder: an archive saved in between is then only re-read
        indexed = self.index.archives()
        on_disk = set(self.blobs.names())
        gone = [name for name in indexed if name not in on_disk]
        problems: list[tuple[str, str]] = []
        items = []
        names = sorted(on_disk if full else on_disk - indexed.keys())
        for done, name in enumerate(names, 1):
            try:
                items.append(self._row_for_archive(name))
            except FileNotFoundError:
                pass  # deleted while we looked
            except JobStoreError as exc:
                problems.append((name, str(exc)))
            if progress is not None:
                progress(done, len(names))
        if full:
            gone += [name for name, _ in problems if name in indexed]
        if gone or items:
            self.index.upsert_many(items, gone, lambda name: self.blobs.path(name).exists())
        self.index.set_meta("blobs_version", version)
        self.index.set_meta("synced_at", repr(time.time()))
        for name, why in problems:
            if self.index.get_meta(f"reported:{name}") is None:
                warnings.warn(f"Skipped a damaged archive: {why}", JobStoreWarning, stacklevel=3)
                self.index.set_meta(f"reported:{name}", "1")
        return problems

    def _row_for_archive(self, name: str) -> tuple[dict, list[str], list[str]]:
        try:
            handle = self.blobs.open(name)
        except FileNotFoundError:
            raise
        except OSError as exc:  # a folder named *.zip, no permission, I/O error
            raise JobArchiveError(f"Cannot open {self.blobs.path(name)}: {exc}.") from exc
        with handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            with ArchiveReader(handle, str(self.blobs.path(name))) as reader:
                manifest = reader.manifest()
        return row_from_manifest(manifest, name, size, None), tags_of(manifest), circuit_names_of(
            manifest
        )

    def reindex(
        self, progress: Callable[[int, int], None] | None = None
    ) -> list[tuple[str, str]]:
        """Rebuild the index from the archives, and remove temp files that killed writers
        left more than an hour ago. Unreadable archives are reported and skipped, never
        deleted. Other processes keep listing meanwhile: the rows are replaced in one
        transaction.

        Args:
            progress: called as ``progress(done, total)`` after each archive is read.

        Returns:
            ``(archive name, reason)`` for each archive that could not be indexed.
        """
        self.flush()
        self.blobs.clean_temp()
        return self._sync(self.blobs.version(), full=True, progress=progress)

    def _row(self, job_id: str) -> dict[str, Any]:
        validate_job_id(job_id)
        self.flush()
        row = self.index.get(job_id)
        if row is None:
            self.refresh()
            row = self.index.get(job_id)
        if row is None:
            from .health import damaged_archive_error

            damaged = damaged_archive_error(self, job_id)
            if damaged is not None:
                raise damaged
            raise JobNotFoundError(
                f"No job with id {job_id!r} in the job store {self.path}. List the stored jobs "
                "with backend.jobs() or `JobStore().list()`; set QISKIT_AER_JOBS_DIR if the "
                "job was saved to another folder."
            )
        return row

    def manifest(self, job_id: str) -> dict[str, Any]:
        """A job's manifest (from the index; no archive is opened)."""
        import json

        return json.loads(self._row(job_id)["manifest"])

    def load(self, job_id: str) -> dict[str, Any]:
        """A job's verified, unpickled payload: circuits, binds, options, result, error."""
        row = self._row(job_id)
        return self.read_payload(row["archive"])

    @contextlib.contextmanager
    def _reader(self, archive: str) -> Iterator[ArchiveReader]:
        label = str(self.blobs.path(archive))
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

    def read_payload(self, archive: str) -> dict[str, Any]:
        """The verified, unpickled payload of an archive (refused unless signed by this key)."""
        with self._reader(archive) as reader:
            return reader.payload(self.key)

    def read_job(self, archive: str, trusted: bool = True) -> dict[str, Any]:
        """An archive's payload: unpickled if ``trusted`` and signed by this store's key, else
        built from its portable copies only (``payload["portable"]`` is then True)."""
        from .portable import read_portable, use_pickle

        with self._reader(archive) as reader:
            if trusted and use_pickle(reader, self.key):
                return reader.payload(self.key)
            return read_portable(reader)

    def get(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """A ``StoredAerJob`` for ``job_id`` (its payload is read when first needed).

        Args:
            job_id: the job's id.
            backend: the backend to report as the job's.
            trusted: False to read the job from its portable copies only, never unpickling
                (jobs not signed by this store's key are always read that way).
        """
        from .job import StoredAerJob

        return StoredAerJob.from_row(self._row(job_id), self, backend, trusted=trusted)

    def list(self, backend: Any = None, **filters: Any) -> JobList:
        """Stored jobs matching ``filters`` (see :class:`~.index.JobFilter`), newest first.
        Built from the index alone: no archive is opened. The list shows as a table in Jupyter."""
        from .job import StoredAerJob

        flt = JobFilter.from_kwargs(**filters)
        self.refresh()
        return JobList(StoredAerJob.from_row(row, self, backend) for row in self.index.query(flt))

    def to_dataframe(self, **filters: Any) -> Any:
        """Stored jobs matching ``filters`` (all of them unless ``limit`` is given) as a pandas
        DataFrame indexed by job id (needs the ``pandas`` extra)."""
        filters.setdefault("limit", None)
        return self.list(**filters).to_dataframe()

    def usage(self, **filters: Any) -> list[dict[str, Any]]:
        """Disk use by backend and month: ``{"backend_name", "month" ("YYYY-MM", UTC), "jobs",
        "bytes"}`` per group, for the jobs ``filters`` select (paging filters are ignored)."""
        filters.pop("limit", None)
        filters.pop("skip", None)
        self.refresh()
        return self.index.usage(JobFilter(**filters))

    def count(self, **filters: Any) -> int:
        filters.pop("limit", None)
        filters.pop("skip", None)
        self.refresh()
        return self.index.count(JobFilter.from_kwargs(**filters))

    # -- moving jobs between stores ----------------------------------------------------
    def import_archive(self, path: str | Path, trust: bool = False) -> StoredAerJob:
        """Copy a job archive (a colleague's, or an export) into this store.

        Args:
            path: the archive file.
            trust: False (default): keep its author's signature; the job is then read from
                its portable copies only, never unpickled. True: re-sign it with this store's
                key, so it is read whole (pickle included). Only trust archives whose author
                you trust. Importing an already imported archive with ``trust=True`` re-signs
                it in place (the store's own copy, ``job.archive_path``, can be given).

        Returns:
            StoredAerJob: the imported job.

        Raises:
            JobArchiveError: the file is not a readable job archive.
            JobStoreIntegrityError: a member does not match the manifest, or (untrusted) the
                archive has no portable copies or claims this store's key but was altered.
            JobStoreError: the store holds a different job with the same id.
        """
        from .transfer import import_archive

        return import_archive(self, path, trust=trust)

    def export_archive(self, job_id: str, path: str | Path) -> Path:
        """Copy a job's archive to ``path`` (a file, or a folder to put it in) to share it.

        Returns:
            The path written.
        """
        from .transfer import export_archive

        return export_archive(self, job_id, path)

    # -- deleting ----------------------------------------------------------------------
    def delete(self, job_id: str) -> bool:
        """Delete one job (archive, then index row). False if there was no such job."""
        validate_job_id(job_id)
        self.flush()
        row = self.index.get(job_id)
        if row is None:
            return False
        before = self.blobs.version()
        self.blobs.delete(row["archive"])
        after = self.blobs.version()
        self.index.delete([job_id], before, after)
        delete_pieces(self, job_id)
        return True

    def check(
        self, fix: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> Problems:
        """Look for problems: archives that do not open or verify, temp files left by killed
        writers, index rows whose archive is gone. Nothing is unpickled. An archive signed with
        another key (or unsigned) whose portable copies verify, such as an untrusted import,
        is not a problem: its job id is listed in the result's ``untrusted`` instead.

        Args:
            fix: also remove the stale temp files and bring the index in line with the folder
                (damaged archives are reported, never deleted).
            progress: called with ``(archives checked, archives in all)`` after each archive.

        Returns:
            Problems: a list of ``(file name, reason)`` for each problem found, empty if the
            store is healthy; its ``untrusted`` attribute lists the ids of the jobs read from
            their portable copies only.
        """
        from .health import check

        return check(self, fix=fix, progress=progress)

    def update_manifest(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Change manifest fields of a stored job (its name, tags): the archive is rewritten
        atomically with the same payload bytes and a new signature, then its index row.

        Returns:
            The new manifest.

        Raises:
            JobStoreIntegrityError: the archive does not verify (it is not re-signed).
        """
        row = self._row(job_id)
        name, key = row["archive"], self.key
        label = str(self.blobs.path(name))
        written: dict[str, Any] = {}

        def write(handle: Any) -> None:
            try:
                source = self.blobs.open(name)
            except FileNotFoundError:
                gone = f"The archive {label} was removed: the job is gone."
                raise JobNotFoundError(gone) from None
            with source:
                written.update(rewrite_archive(source, handle, key, changes, label))

        before = self.blobs.version()
        size = self.blobs.put(name, write)
        after = self.blobs.version()
        row = row_from_manifest(written, name, size, None)
        self.index.upsert(row, tags_of(written), circuit_names_of(written), before, after)
        return written

    def prune(
        self,
        older_than: Any = None,
        keep_last: int | None = None,
        max_bytes: int | str | None = None,
        dry_run: bool = False,
    ) -> list[str]:
        """Delete jobs by age, count or total size; each rule given removes the jobs it names.

        Args:
            older_than: a ``datetime.timedelta`` or seconds: delete jobs created longer ago.
            keep_last: delete all but the newest ``keep_last`` jobs.
            max_bytes: then delete the oldest jobs left until the store holds at most this
                many bytes (an int or a size such as ``"500MB"``).
            dry_run: only say which jobs would go.

        Returns:
            The ids of the deleted jobs, oldest first.

        Raises:
            JobStoreError: no rule given, or a bad value.
        """
        return retention.prune(self, older_than, keep_last, max_bytes, dry_run)

    def size(self) -> int:
        """Bytes used by the archives of the store."""
        self.refresh()
        return self.index.total_size()

    # -- the team store ----------------------------------------------------------------
    def push(self, all_jobs: bool = False) -> PushResult:
        """Deliver the jobs queued for the team store (those whose automatic push failed, or
        all saved jobs with ``push_jobs = manual``).

        Args:
            all_jobs: queue every local job first (after a lost outbox; jobs the team store
                already has are not uploaded again).

        Returns:
            PushResult: what was pushed and what stays queued.

        Raises:
            JobStoreSettingsError: no team store is configured.
            JobStoreUnavailableError: the team store cannot be reached (jobs stay queued).
        """
        from .push import deliver
        from .team import require_remote

        team = require_remote()
        self.refresh()
        if all_jobs:
            self.index.outbox_add_all()
        result = deliver(self, team)
        if result.error is not None:
            raise JobStoreUnavailableError(f"{result.remaining} job(s) stay queued: {result.error}")
        return result

    def queued(self) -> list[str]:
        """Ids of the jobs waiting to be pushed to the team store, oldest first."""
        self.flush()
        return [job_id for job_id, _, _ in self.index.outbox()]

    def pull(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """Copy a job from the team store into this store. The download is checked against
        its team index row (size, SHA-256, job id) before it is kept; an archive not signed
        with the team key is kept as an untrusted import: read through its portable copies
        only, never unpickled (see ``import_archive``).

        Raises:
            JobNotFoundError: the team store has no such job.
            JobStoreIntegrityError: the download does not match its row, or claims the team
                key but was altered, or is foreign and has no portable copies.
        """
        from .team import require_remote
        from .transfer import import_bytes

        team = require_remote()
        name, data = team.fetch(validate_job_id(job_id), verify=False)
        job = import_bytes(self, data, team.blobs.path(name))
        if backend is not None or not trusted:
            job = self.get(job_id, backend, trusted=trusted)
        job.location = "both"
        return job
