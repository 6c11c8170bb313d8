"""``TeamStore``: the shared store of a group, its index in PostgreSQL and its archives in an
S3-compatible bucket. The same archives, signatures, rows and filters as the local store.

Trust: the team shares one signing key (the file ``QISKIT_AER_JOBS_KEY`` names, handed to each
member out of band). Every downloaded archive is checked against its index row (size, SHA-256,
job id) and its HMAC before anything in it is unpickled, so write access to the bucket or the
database alone never runs code in a reader's Python.
"""

from __future__ import annotations

import io
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings, signing
from .archive import JOB_ID_RE, ArchiveReader, job_id_from_name, read_manifest_bytes, sha256_hex
from .exceptions import (
    JobArchiveError,
    JobNotFoundError,
    JobStoreIntegrityError,
    JobStoreSettingsError,
)
from .index.query import JobFilter, circuit_names_of, row_from_manifest, tags_of
from .notebook import JobList
from .writer import JobStoreWarning

if TYPE_CHECKING:
    from .index.postgres import PostgresIndex
    from .job import StoredAerJob
    from .s3blobs import S3Blobs
    from .store import JobStore

# No archive a team member pushes is bigger; a row claiming more is refused before download.
MAX_ARCHIVE_BYTES = 64 * 1024**3
_stores: dict[tuple[str, str, str], TeamStore] = {}
_stores_lock = threading.Lock()


class TeamStore:
    """A team's job store: a PostgreSQL index and an S3 bucket, shared by many machines.

    Args:
        index_url: ``postgresql://user:password@host:port/database``.
        blobs_url: ``s3://bucket/prefix``.
        key_path: the team's signing key file (default: this machine's key, from settings).
    """

    def __init__(self, index_url: str, blobs_url: str, key_path: str | Path | None = None):
        from .index.postgres import PostgresIndex
        from .s3blobs import S3Blobs

        self.index: PostgresIndex = PostgresIndex(index_url)
        self.blobs: S3Blobs = S3Blobs(blobs_url)
        self.key_path = Path(key_path).expanduser() if key_path is not None else settings.key_file()
        self.last_failure: float | None = None  # time.monotonic() of the last failed push

    def __repr__(self) -> str:
        from .index.postgres import redact_url

        return f"TeamStore({redact_url(self.index.url)!r}, {self.blobs.url!r})"

    @property
    def key(self) -> bytes:
        return signing.load_key(self.key_path)

    def close(self) -> None:
        self.index.close()
        self.blobs.close()

    # -- pushing -----------------------------------------------------------------------
    def push_archive(self, name: str, data: bytes) -> bool:
        """Deliver one archive: object first, index row second (as in the local store).

        Idempotent by job id and archive SHA-256: a job already there with the same bytes is
        not uploaded again.

        Returns:
            True if it was delivered, False if the team store already had it.
        """
        manifest = read_manifest_bytes(data, name)
        if job_id_from_name(name) != manifest["job_id"]:
            raise JobArchiveError(f"{name} holds job {manifest['job_id']!r}: refused.")
        sha = sha256_hex(data)
        if self.index.sha256_of(manifest["job_id"]) == sha:
            return False
        self.blobs.put_bytes(name, data)
        row = row_from_manifest(manifest, name, len(data), sha)
        replaced = self.index.upsert(row, tags_of(manifest), circuit_names_of(manifest))
        if replaced is not None:
            try:
                self.blobs.delete(replaced)
            except Exception:  # an orphan object costs space, never correctness
                pass
        return True

    # -- reading -----------------------------------------------------------------------
    def _checked(self, row: dict[str, Any]) -> dict[str, Any]:
        """Refuse a hostile or broken index row with a clear error."""
        job_id = row.get("job_id")
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id) or ".." in job_id:
            raise JobArchiveError(
                f"The team index holds a row with the invalid job id {job_id!r}; it was "
                "skipped. The team index may have been tampered with."
            )
        if job_id_from_name(row.get("archive")) != job_id:
            raise JobArchiveError(
                f"The team index row of job {job_id} names the archive {row.get('archive')!r}, "
                "which is not that job's; refused. The team index may have been tampered with."
            )
        size = row.get("size")
        if not isinstance(size, int) or not 0 < size <= MAX_ARCHIVE_BYTES:
            raise JobArchiveError(
                f"The team index row of job {job_id} gives the size {size!r}, which is not a "
                f"valid archive size (1 to {MAX_ARCHIVE_BYTES} bytes); refused."
            )
        return row

    def _row(self, job_id: str) -> dict[str, Any]:
        from .store import validate_job_id

        row = self.index.get(validate_job_id(job_id))
        if row is None:
            raise JobNotFoundError(
                f"No job with id {job_id!r} in the team store {self!r}. List its jobs with "
                "backend.remote_jobs()."
            )
        return self._checked(row)

    def list(self, backend: Any = None, **filters: Any) -> list[StoredAerJob]:
        """Jobs in the team store matching ``filters`` (see :class:`~.index.JobFilter`),
        newest first, from the index alone. Rows that fail the checks are skipped with one
        JobStoreWarning."""
        from .job import StoredAerJob

        jobs, bad = [], []
        for row in self.index.query(JobFilter(**filters)):
            try:
                job = StoredAerJob.from_row(self._checked(row), self, backend)
            except (JobArchiveError, ValueError, TypeError) as exc:
                bad.append(str(exc))
                continue
            job.location = "remote"
            jobs.append(job)
        if bad:
            warnings.warn(
                f"Skipped {len(bad)} bad row(s) of the team index: {bad[0]}",
                JobStoreWarning,
                stacklevel=2,
            )
        return JobList(jobs)

    def count(self, **filters: Any) -> int:
        filters.pop("limit", None)
        filters.pop("skip", None)
        return self.index.count(JobFilter(**filters))

    def get(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """A ``StoredAerJob`` for a job of the team store (downloaded when first needed)."""
        from .job import StoredAerJob

        job = StoredAerJob.from_row(self._row(job_id), self, backend, trusted=trusted)
        job.location = "remote"
        return job

    def fetch(self, job_id: str, verify: bool = True) -> tuple[str, bytes]:
        """Download a job's archive and verify it: its size, SHA-256 and job id against the
        index row, then (if ``verify``) its signature with the team key. Nothing is unpickled.

        Returns:
            ``(archive name, archive bytes)``.

        Raises:
            JobStoreIntegrityError: the archive does not match its row or its signature.
        """
        row = self._row(job_id)
        name = row["archive"]
        data = self.blobs.get(name, max_bytes=row["size"])
        label = self.blobs.path(name)
        if len(data) != row["size"] or sha256_hex(data) != row["sha256"]:
            raise JobStoreIntegrityError(
                f"{label} does not match its team index row (size or SHA-256); it was not "
                "unpickled. Push the job again from a machine that has it."
            )
        with ArchiveReader(io.BytesIO(data), label) as reader:
            if reader.manifest()["job_id"] != row["job_id"]:
                raise JobStoreIntegrityError(f"{label} holds another job; it was not unpickled.")
            if verify:
                reader.verify(self.key)
        return name, data

    def load(self, job_id: str) -> dict[str, Any]:
        """A job's verified, unpickled payload."""
        name, data = self.fetch(job_id)
        with ArchiveReader(io.BytesIO(data), self.blobs.path(name)) as reader:
            return reader.payload(self.key)

    def read_payload(self, archive: str) -> dict[str, Any]:
        return self.read_job(archive)

    def read_job(self, archive: str, trusted: bool = True) -> dict[str, Any]:
        """As ``JobStore.read_job``: unpickled if ``trusted`` and signed with the team key,
        else built from the archive's portable copies only."""
        from .portable import read_portable, use_pickle

        job_id = job_id_from_name(archive)
        if job_id is None:
            raise JobArchiveError(f"{archive!r} is not an archive name.")
        name, data = self.fetch(job_id, verify=False)
        with ArchiveReader(io.BytesIO(data), self.blobs.path(name)) as reader:
            if trusted and use_pickle(reader, self.key):
                return reader.payload(self.key)
            return read_portable(reader)

    def delete(self, job_id: str) -> bool:
        """Remove a job from the team store (row first, so no reader finds a missing object)."""
        try:
            row = self._row(job_id)
        except JobNotFoundError:
            return False
        self.index.delete([job_id])
        self.blobs.delete(row["archive"])
        return True


def jobs_everywhere(
    local: JobStore,
    backend: Any = None,
    limit: int | None = 10,
    skip: int = 0,
    descending: bool = True,
    **filters: Any,
) -> list[StoredAerJob]:
    """Jobs of the local store and of the team store, newest first, each job once, with
    ``location`` ``"local"``, ``"remote"`` or ``"both"`` (the local copy is the one read).
    Without a team store, the local jobs; with one that is down, the local jobs and a
    JobStoreWarning."""
    from .exceptions import JobStoreUnavailableError

    window = None if limit is None else limit + skip
    found = local.list(backend=backend, limit=window, descending=descending, **filters)
    team = remote_store()
    if team is not None:
        try:
            remote = team.list(backend=backend, limit=window, descending=descending, **filters)
        except JobStoreUnavailableError as exc:
            warnings.warn(f"Listing local jobs only: {exc}", JobStoreWarning, stacklevel=3)
            remote = []
        mine = {job.job_id(): job for job in found}
        for job in remote:
            if job.job_id() in mine:
                mine[job.job_id()].location = "both"
            else:
                found.append(job)
        found.sort(key=lambda j: (j.creation_date(), j.job_id()), reverse=descending)
    return JobList(found[skip:] if limit is None else found[skip : skip + limit])


def remote_store() -> TeamStore | None:
    """The team store the settings name (one per URL pair and key), or None if none is set.

    Raises:
        JobStoreSettingsError: only one of the index and the archive location is set.
    """
    index_url, blobs_url = settings.remote_index(), settings.remote_blobs()
    if index_url is None and blobs_url is None:
        return None
    if index_url is None or blobs_url is None:
        raise JobStoreSettingsError(
            "A team store needs both QISKIT_AER_JOBS_REMOTE_INDEX (postgresql://...) and "
            "QISKIT_AER_JOBS_REMOTE_BLOBS (s3://bucket/prefix), or remote_index and "
            "remote_blobs in [aer] of settings.conf; only one is set."
        )
    key = (index_url, blobs_url, str(settings.key_file()))
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = TeamStore(index_url, blobs_url, key[2])
    return store


def require_remote() -> TeamStore:
    """The configured team store, or a JobStoreSettingsError that says what to set."""
    store = remote_store()
    if store is None:
        raise JobStoreSettingsError(
            "No team store is configured: set QISKIT_AER_JOBS_REMOTE_INDEX (postgresql://...) "
            "and QISKIT_AER_JOBS_REMOTE_BLOBS (s3://bucket/prefix), or remote_index and "
            "remote_blobs in [aer] of ~/.qiskit/settings.conf."
        )
    return store


def close_all() -> None:
    """Close every team store's connections (tests, and long-lived processes that reconfigure)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
