"""``TeamStore``: the shared store of a group, its index in PostgreSQL and its archives in an
S3-compatible bucket. The same archives, signatures, rows and filters as the local store.

Trust: the team shares one signing key (the file ``QISKIT_AER_JOBS_KEY`` names, handed to each
member out of band). Every downloaded archive is checked against its index row (size, SHA-256,
job id) and its HMAC before anything in it is unpickled, so write access to the bucket or the
database alone never runs code in a reader's Python.
"""

from __future__ import annotations

import importlib.util
import io
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import settings, signing
from .archive import ArchiveReader, read_manifest_bytes, rewrite_archive, sha256_hex
from .exceptions import (
    JobArchiveError,
    JobNotFoundError,
    JobStoreIntegrityError,
    JobStoreSettingsError,
    JobStoreUnavailableError,
    JobStoreWarning,
)
from .index import IndexEntry, JobFilter, ids_matching, only_match
from .index.postgres import PostgresIndex, redact_url
from .listing import JobList
from .manifest import is_job_id, job_id_from_name, validate_job_id
from .portable import read_job
from .s3blobs import S3Blobs

if TYPE_CHECKING:
    from .job import StoredAerJob

# No archive a team member pushes is bigger; a row claiming more is refused before download.
MAX_ARCHIVE_BYTES = 64 * 1024**3
_stores: dict[tuple[str, str, str], TeamStore] = {}
_stores_lock = threading.Lock()
# The team store's client libraries (module, what pip installs): the [team] extra.
TEAM_PACKAGES = (("psycopg", "psycopg[binary]"), ("psycopg_pool", "psycopg-pool"),
                 ("boto3", "boto3"))


def _installed(module: str) -> bool:
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require_team_packages() -> None:
    """Raise JobStoreUnavailableError naming the team store's client libraries that are
    not installed (they are imported only when the team store is used)."""
    missing = [dist for module, dist in TEAM_PACKAGES if not _installed(module)]
    if missing:
        raise JobStoreUnavailableError(
            f"A team store is configured, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: pip install "
            '"qiskit-aer-jobstore[team]". Jobs are saved locally meanwhile (and queued for '
            "the team store)."
        )


class TeamStore:
    """A team's job store: a PostgreSQL index and an S3 bucket, shared by many machines.

    Args:
        index_url: ``postgresql://user:password@host:port/database``.
        blobs_url: ``s3://bucket/prefix``.
        key_path: the team's signing key file (default: this machine's key, from settings).
    """

    def __init__(self, index_url: str, blobs_url: str, key_path: str | Path | None = None):
        require_team_packages()
        self.index: PostgresIndex = PostgresIndex(index_url)
        self.blobs: S3Blobs = S3Blobs(blobs_url)
        self.key_path = Path(key_path).expanduser() if key_path is not None else settings.key_file()
        self.last_failure: float | None = None  # time.monotonic() of the last failed push

    def __repr__(self) -> str:
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
        replaced = self.index.upsert(IndexEntry.from_manifest(manifest, name, len(data), sha))
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
        if not is_job_id(job_id):
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

    def archive_label(self, archive: str) -> str:
        """Where an archive of the team store is (its ``s3://`` URL)."""
        return self.blobs.path(archive)

    def row(self, job_id: str) -> dict[str, Any]:
        """A job's checked team index row.

        Raises:
            JobNotFoundError: the team store has no such job.
            JobArchiveError: the row is hostile or broken.
        """
        row = self.index.get(validate_job_id(job_id))
        if row is None:
            raise JobNotFoundError(
                f"No job with id {job_id!r} in the team store {self!r}. List its jobs with "
                "backend.remote_jobs()."
            )
        return self._checked(row)

    def resolve(self, prefix: str) -> str:
        """The id of the one job of the team store whose id is, or starts with, ``prefix``.

        Raises:
            InvalidJobIdError: ``prefix`` is not well formed.
            AmbiguousJobIdError: several jobs' ids start with it.
            JobNotFoundError: none does.
        """
        found = only_match(prefix, ids_matching(self.index, prefix), f"the team store {self!r}")
        return self.row(prefix)["job_id"] if found is None else found

    def list(self, backend: Any = None, **filters: Any) -> JobList:
        """Jobs in the team store matching ``filters`` (see :class:`~.index.JobFilter`),
        newest first, from the index alone. Rows that fail the checks are skipped with one
        JobStoreWarning."""
        from .job import StoredAerJob  # imports Qiskit: only made jobs need it, not listings

        jobs, bad = [], []
        for row in self.index.query(JobFilter.from_kwargs(**filters)):
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
        return self.index.count(JobFilter.from_kwargs(**filters))

    def get(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """A ``StoredAerJob`` for a job of the team store (downloaded when first needed)."""
        from .job import StoredAerJob  # imports Qiskit: only made jobs need it, not listings

        job = StoredAerJob.from_row(self.row(job_id), self, backend, trusted=trusted)
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
        row = self.row(job_id)
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

    def signed_here(self, archive: str) -> bool:
        """Whether the archive's manifest verifies with the team key."""
        name, data = self.fetch(job_id_from_name(archive) or "", verify=False)
        with ArchiveReader(io.BytesIO(data), self.blobs.path(name)) as reader:
            return reader.is_signed_by(self.key)

    def read_job(self, archive: str, trusted: bool = True) -> dict[str, Any]:
        """As ``JobStore.read_job``: unpickled if ``trusted`` and signed with the team key,
        else built from the archive's portable copies only."""
        job_id = job_id_from_name(archive)
        if job_id is None:
            raise JobArchiveError(f"{archive!r} is not an archive name.")
        name, data = self.fetch(job_id, verify=False)
        with ArchiveReader(io.BytesIO(data), self.blobs.path(name)) as reader:
            return read_job(reader, self.key, trusted)

    def update_manifest(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Change manifest fields of a job in the team store (its name, tags): its archive,
        verified with the team key, is re-signed with the changes and pushed again.

        Returns:
            The new manifest.

        Raises:
            JobStoreIntegrityError: the archive does not verify with the team key.
        """
        name, data = self.fetch(job_id)
        out = io.BytesIO()
        manifest = rewrite_archive(io.BytesIO(data), out, self.key, changes, self.blobs.path(name))
        self.push_archive(name, out.getvalue())
        return manifest

    def delete(self, job_id: str) -> bool:
        """Remove a job from the team store (row first, so no reader finds a missing object)."""
        try:
            row = self.row(job_id)
        except JobNotFoundError:
            return False
        self.index.delete([job_id])
        self.blobs.delete(row["archive"])
        return True


def jobs_everywhere(
    local: Any,
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
    window = None if limit is None else limit + skip
    found = local.list(backend=backend, limit=window, descending=descending, **filters)
    try:
        team = remote_store()
        remote = [] if team is None else team.list(
            backend=backend, limit=window, descending=descending, **filters
        )
    except JobStoreUnavailableError as exc:
        warnings.warn(f"Listing local jobs only: {exc}", JobStoreWarning, stacklevel=3)
        team, remote = None, []
    if team is not None:
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
