"""``JobStore``: saving, loading, listing and deleting jobs over an index and blobs.

Write order (as in diskcache): the archive is written first (atomically), the index row is
committed second. A crash between the two leaves an archive the index does not know yet; it is
picked up the next time the store is listed, because the archives are the source of truth.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import settings, signing
from .archive import (
    JOB_ID_RE,
    ArchiveReader,
    archive_name,
    read_manifest_bytes,
    write_archive,
)
from .blobs import FolderBlobs
from .exceptions import (
    InvalidJobIdError,
    JobArchiveError,
    JobNotFoundError,
    JobStoreError,
    JobStoreUnavailableError,
)
from .index import JobFilter, SQLiteIndex, row_from_manifest
from .index.query import circuit_names_of, tags_of
from .record import JobRecord
from .writer import WRITER, JobStoreWarning

if TYPE_CHECKING:
    from .job import StoredAerJob
    from .push import PushResult

INDEX_FILE = "index.sqlite"
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
                    sync = "FULL" if self.settings.durability == "full" else "NORMAL"
                    self._index = SQLiteIndex(self.path / INDEX_FILE, synchronous=sync)
        return self._index

    # -- saving ------------------------------------------------------------------------
    def save(self, record: JobRecord) -> dict[str, Any]:
        """Write one job now: archive first, index row second. Returns its manifest."""
        key = self.key
        manifest = record.manifest()
        members = record.members()
        name = archive_name(record.creation_date, record.job_id)
        written = self._commit(name, lambda handle: write_archive(handle, manifest, members, key))
        from . import push

        push.queue(self, record.job_id, name)  # no-op without a team store
        return written

    def _commit(self, name: str, write: Callable[[BinaryIO], dict[str, Any]]) -> dict[str, Any]:
        """Put an archive (``write`` writes it and returns its manifest), then its index row."""
        index = self.index
        before = self.blobs.version()
        written: dict[str, Any] = {}
        size = self.blobs.put(name, lambda handle: written.update(write(handle)))
        after = self.blobs.version()
        row = row_from_manifest(written, name, size, None)
        old = index.get(written["job_id"])
        index.upsert(row, tags_of(written), circuit_names_of(written), before, after)
        if old is not None and old["archive"] != name:
            self.blobs.delete(old["archive"])
        return written

    def save_later(self, record: JobRecord) -> None:
        """Queue ``record`` for the background writer; failures become JobStoreWarnings."""
        WRITER.submit(lambda: self.save(record), f"Aer job {record.job_id}")

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
            return
        if index.get_meta("blobs_version") != str(version):
            self._sync(version)

    def _sync(self, version: Any) -> list[tuple[str, str]]:
        on_disk = set(self.blobs.names())
        indexed = self.index.archives()
        gone = [name for name in indexed if name not in on_disk]
        problems: list[tuple[str, str]] = []
        items = []
        for name in sorted(on_disk - indexed.keys()):
            try:
                items.append(self._row_for_archive(name))
            except FileNotFoundError:
                continue  # deleted while we looked
            except JobStoreError as exc:
                problems.append((name, str(exc)))
        if gone:
            self.index.delete_archives(gone)
        if items:
            self.index.upsert_many(items)
        self.index.set_meta("blobs_version", version)
        for name, why in problems:
            if self.index.get_meta(f"reported:{name}") is None:
                warnings.warn(f"Skipped a damaged archive: {why}", JobStoreWarning, stacklevel=3)
                self.index.set_meta(f"reported:{name}", "1")
        return problems

    def _row_for_archive(self, name: str) -> tuple[dict, list[str], list[str]]:
        with self.blobs.open(name) as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            with ArchiveReader(handle, str(self.blobs.path(name))) as reader:
                manifest = reader.manifest()
        return row_from_manifest(manifest, name, size, None), tags_of(manifest), circuit_names_of(
            manifest
        )

    def reindex(self) -> list[tuple[str, str]]:
        """Rebuild the index from the archives. Unreadable archives are reported and skipped,
        never deleted.

        Returns:
            ``(archive name, reason)`` for each archive that could not be indexed.
        """
        self.flush()
        version = self.blobs.version()
        indexed = self.index.archives()
        self.index.delete_archives(indexed)
        self.index.set_meta("blobs_version", None)
        return self._sync(version)

    def _row(self, job_id: str) -> dict[str, Any]:
        validate_job_id(job_id)
        self.flush()
        row = self.index.get(job_id)
        if row is None:
            self.refresh()
            row = self.index.get(job_id)
        if row is None:
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

    def read_payload(self, archive: str) -> dict[str, Any]:
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
            return reader.payload(self.key)

    def get(self, job_id: str, backend: Any = None) -> StoredAerJob:
        """A ``StoredAerJob`` for ``job_id`` (its payload is read when first needed)."""
        from .job import StoredAerJob

        return StoredAerJob.from_row(self._row(job_id), self, backend)

    def list(self, backend: Any = None, **filters: Any) -> list[StoredAerJob]:
        """Stored jobs matching ``filters`` (see :class:`~.index.JobFilter`), newest first.
        Built from the index alone: no archive is opened."""
        from .job import StoredAerJob

        flt = JobFilter(**filters)
        self.refresh()
        return [StoredAerJob.from_row(row, self, backend) for row in self.index.query(flt)]

    def count(self, **filters: Any) -> int:
        filters.pop("limit", None)
        filters.pop("skip", None)
        self.refresh()
        return self.index.count(JobFilter(**filters))

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
        return True

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

    def pull(self, job_id: str, backend: Any = None) -> StoredAerJob:
        """Copy a job from the team store into this store (downloaded and verified first).

        Raises:
            JobNotFoundError: the team store has no such job.
            JobStoreIntegrityError: the downloaded archive does not verify.
        """
        from .team import require_remote

        name, data = require_remote().fetch(validate_job_id(job_id))
        manifest = read_manifest_bytes(data, name)

        def write(handle: BinaryIO) -> dict[str, Any]:
            handle.write(data)
            return manifest

        self._commit(name, write)
        job = self.get(job_id, backend)
        job.location = "both"
        return job
