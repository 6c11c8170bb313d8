"""``StoredAerJob``: a saved Aer job, rehydrated in any later session."""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobError, JobStatus, JobV1

from .archive import parse_time
from .exceptions import JobStoreError

if TYPE_CHECKING:
    from .store import JobStore


class StoredAerJob(JobV1):
    """A job from the store, with the methods of ``AerJob``.

    It is built from the job's manifest alone; circuits, options and the result are read and
    verified the first time one of them is asked for.
    """

    def __init__(self, backend: Any, job_id: str, store: JobStore, manifest: dict[str, Any],
                 archive: str | None = None, size: int | None = None, trusted: bool = True):
        super().__init__(backend, job_id)
        self._store = store
        self._manifest = manifest
        self._archive = archive
        self._size = size
        self._trust = trusted
        self._payload: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], store: JobStore, backend: Any = None,
                 trusted: bool = True) -> StoredAerJob:
        manifest = json.loads(row["manifest"])
        return cls(backend, row["job_id"], store, manifest, row["archive"], row.get("size"),
                   trusted=trusted)

    def __repr__(self) -> str:
        return (
            f"<StoredAerJob('{self._job_id}') backend='{self.backend_name}' "
            f"status={self.status().name}{' (result dropped)' if self.result_dropped else ''} "
            f"created={self._manifest.get('creation_date')}>"
        )

    # -- what the manifest knows ------------------------------------------------------
    @property
    def manifest(self) -> dict[str, Any]:
        """The job's manifest (see :mod:`qiskit_aer_jobstore.archive` for its schema)."""
        return dict(self._manifest)

    @property
    def backend_name(self) -> str:
        return self._manifest["backend_name"]

    @property
    def name(self) -> str | None:
        """The job name given at run time (``job_name=``), or None."""
        return self._manifest.get("job_name")

    @property
    def tags(self) -> list[str]:
        """The job tags given at run time (``job_tags=``)."""
        return list(self._manifest.get("job_tags") or [])

    @property
    def primitive(self) -> str | None:
        """``"sampler"`` or ``"estimator"`` for a primitive job, None for a backend job."""
        return self._manifest.get("primitive")

    @property
    def result_dropped(self) -> bool:
        """True if the job was over ``max_job_bytes`` and was stored without its result."""
        return bool(self._manifest.get("result_dropped"))

    def update_tags(self, tags: list[str]) -> list[str]:
        """Replace the job's tags, in its archive (re-signed) and in the index.

        Returns:
            The new tags.
        """
        if not isinstance(tags, (list, tuple, set)) or not all(isinstance(t, str) for t in tags):
            raise JobStoreError(f"Invalid tags {tags!r}: give a list of strings.")
        self._manifest = self._store.update_manifest(self._job_id, job_tags=sorted(set(tags)))
        return self.tags

    def update_name(self, name: str) -> str:
        """Rename the job, in its archive (re-signed) and in the index.

        Returns:
            The new name.
        """
        if not isinstance(name, str):
            raise JobStoreError(f"Invalid job name {name!r}: give a string.")
        self._manifest = self._store.update_manifest(self._job_id, job_name=name)
        return name

    @property
    def archive_path(self) -> str | None:
        return str(self._store.blobs.path(self._archive)) if self._archive else None

    def status(self) -> JobStatus:
        """The status the job ended with (``DONE``, ``ERROR``, ...)."""
        try:
            return JobStatus[self._manifest["status"]]
        except KeyError:
            return JobStatus.ERROR

    def error_message(self) -> str | None:
        """The error text of a job whose simulation raised, else None."""
        return self._manifest.get("error")

    def creation_date(self) -> _dt.datetime:
        """When the job was submitted (timezone-aware, UTC)."""
        return parse_time(self._manifest["creation_date"])

    def end_date(self) -> _dt.datetime | None:
        end = self._manifest.get("end_date")
        return parse_time(end) if end else None

    def time_taken(self) -> float | None:
        return self._manifest.get("time_taken")

    # -- what the payload holds -------------------------------------------------------
    def _data(self) -> dict[str, Any]:
        if self._payload is None:
            archive = self._archive or self._store._row(self._job_id)["archive"]
            self._payload = self._store.read_job(archive, trusted=self._trust)
        return self._payload

    @property
    def trusted(self) -> bool:
        """False if this job is read from its portable copies (asked for with
        ``trusted=False``, or not signed by this store's key): see README, "Portable copies".
        Reading the archive to find out if needed."""
        return not self._data().get("portable", False)

    def result(self, timeout: float | None = None) -> Any:
        """The stored ``Result`` (equal to what the live job returned).

        Raises:
            JobError: if the job's simulation failed (with the error it failed with).
            JobStoreIntegrityError: if the archive does not verify.
        """
        if self.status() in (JobStatus.ERROR, JobStatus.CANCELLED):
            data = self._data() if self._manifest.get("error") is None else {}
            raise JobError(
                f"Aer job {self._job_id} ended with status {self.status().name}: "
                f"{self._manifest.get('error') or data.get('error') or 'no result was stored'}"
            )
        if self.result_dropped:
            raise JobError(
                f"Aer job {self._job_id} was stored without its result: "
                f"{self._manifest.get('result_bytes', 'its')} bytes of data were over the "
                "max_job_bytes cap. Its circuits and options are kept: rerun it, or raise "
                "max_job_bytes in [aer] of settings.conf to keep such results next time."
            )
        result = self._data().get("result")
        if result is None:
            raise JobError(f"Aer job {self._job_id} has no stored result.")
        return result

    def circuits(self) -> list:
        """The circuits the job ran.

        Raises:
            JobArchiveError: read from the portable copies, and QPY could not hold or load them.
        """
        data = self._data()
        if data["circuits"] is None and data.get("circuits_error"):
            from .exceptions import JobArchiveError

            raise JobArchiveError(data["circuits_error"])
        return data["circuits"]

    def parameter_binds(self) -> Any:
        return self._data()["parameter_binds"]

    def run_options(self) -> dict[str, Any]:
        """The run options given to ``backend.run`` (``save_jobs`` and executors excluded)."""
        return dict(self._data()["run_options"])

    def backend_options(self) -> dict[str, Any]:
        """The backend's options when the job ran (noise model included)."""
        return dict(self._data()["backend_options"])

    def noise_model(self) -> Any:
        return self.run_options().get("noise_model", self.backend_options().get("noise_model"))

    def backend(self) -> Any:
        """The backend the job was retrieved through, or a new store-enabled simulator of the
        same kind when it was loaded from a ``JobStore`` directly."""
        if self._backend is None:
            from . import backends

            cls_name = (self._manifest.get("backend_class") or "AerSimulator").rsplit(".", 1)[-1]
            cls = getattr(backends, cls_name, backends.AerSimulator)
            self._backend = cls()
        return self._backend

    # -- JobV1 plumbing ----------------------------------------------------------------
    def submit(self) -> None:
        raise JobError("A stored job has already run; use rerun() to run its circuits again.")

    def cancel(self) -> bool:
        return False
