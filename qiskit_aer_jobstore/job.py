"""``StoredAerJob``: a saved Aer job, rehydrated in any later session."""

from __future__ import annotations

import datetime as _dt
import json
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobError, JobStatus, JobV1

from .archive import parse_time

if TYPE_CHECKING:
    from .store import JobStore


class StoredAerJob(JobV1):
    """A job from the store, with the methods of ``AerJob``.

    It is built from the job's manifest alone; circuits, options and the result are read and
    verified the first time one of them is asked for.
    """

    def __init__(self, backend: Any, job_id: str, store: JobStore, manifest: dict[str, Any],
                 archive: str | None = None, size: int | None = None):
        super().__init__(backend, job_id)
        self._store = store
        self._manifest = manifest
        self._archive = archive
        self._size = size
        self._payload: dict[str, Any] | None = None
        self.location = "local"  # "local", "remote" (team store) or "both"

    @classmethod
    def from_row(cls, row: dict[str, Any], store: JobStore, backend: Any = None) -> StoredAerJob:
        manifest = json.loads(row["manifest"])
        return cls(backend, row["job_id"], store, manifest, row["archive"], row.get("size"))

    def __repr__(self) -> str:
        return (
            f"<StoredAerJob('{self._job_id}') backend='{self.backend_name}' "
            f"status={self.status().name} created={self._manifest.get('creation_date')}>"
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
            if self._archive is None:
                self._payload = self._store.load(self._job_id)
            else:
                self._payload = self._store.read_payload(self._archive)
        return self._payload

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
        result = self._data().get("result")
        if result is None:
            raise JobError(f"Aer job {self._job_id} has no stored result.")
        return result

    def circuits(self) -> list:
        """The circuits the job ran."""
        return self._data()["circuits"]

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
