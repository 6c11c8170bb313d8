"""``StoredAerJob``: a saved Aer job, rehydrated in any later session.

A stored job reads its store through the small ``JobSource`` protocol, which the local store
(``JobStore``) and the team store (``TeamStore``) both satisfy.
"""

from __future__ import annotations

import datetime as _dt
import json
import time
from typing import Any, Protocol

from qiskit.providers import JobError, JobStatus, JobTimeoutError, JobV1
from qiskit.providers.jobstatus import JOB_FINAL_STATES

from . import lifecycle, pieces, wiring
from .exceptions import JobArchiveError, JobNotFoundError, JobStoreError
from .manifest import PAYLOAD
from .times import parse_time


class JobSource(Protocol):
    """What a stored job needs of its store (``JobStore`` and ``TeamStore`` offer it)."""

    path: Any

    def row(self, job_id: str) -> dict[str, Any]:
        """The job's index row (``archive``, ``manifest``, ``size``, ...)."""

    def get(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """The job, freshly read from the index."""

    def read_job(self, archive: str, trusted: bool = True) -> dict[str, Any]:
        """The job's payload (unpickled, or from its portable copies)."""

    def update_manifest(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Rewrite the job's manifest with ``changes``; the new manifest."""

    def archive_label(self, archive: str) -> str:
        """Where the archive is, for people: a file path or an ``s3://`` URL."""

    def signed_here(self, archive: str) -> bool:
        """Whether the archive's manifest verifies with the store's key."""


class Runner(Protocol):
    """What a stored job needs to run again: simulators, reruns, resumed sweeps. The model
    says what it needs; the execution layer, above it, provides it (``reproduce.RUNNER``),
    so that nothing here imports upward."""

    def simulator(self, job: StoredAerJob) -> Any:
        """A new store-enabled simulator of the kind that ran ``job``."""

    def rerun(self, job: StoredAerJob, backend: Any = None, **run_options: Any) -> Any:
        """Run ``job`` again; see :meth:`StoredAerJob.rerun`."""

    def resume(self, job: StoredAerJob, executor: Any = None) -> Any:
        """Finish a split ``job``; see :meth:`StoredAerJob.resume`."""


_runners: list[Runner] = []


def provide_runner(runner: Runner) -> None:
    """Install the execution layer's ``Runner`` (done when ``qiskit_aer_jobstore`` is imported)."""
    _runners[:] = [runner]


def runner() -> Runner:
    if not _runners:
        wiring.load_runner()  # the package's face registered how: it loads it on first need
    if not _runners:  # only if a module of the package was loaded without the package itself
        raise JobStoreError(
            "Running a stored job needs qiskit_aer_jobstore's simulators: import "
            "qiskit_aer_jobstore first."
        )
    return _runners[0]


class StoredAerJob(JobV1):
    """A job from the store, with the methods of ``AerJob``.

    It is built from the job's manifest alone; circuits, options and the result are read and
    verified the first time one of them is asked for.
    """

    def __init__(self, backend: Any, job_id: str, store: JobSource, manifest: dict[str, Any],
                 archive: str | None = None, size: int | None = None, trusted: bool = True):
        super().__init__(backend, job_id)
        self._store = store
        self._manifest = manifest
        self._archive = archive
        self._size = size
        self._trust = trusted
        self._payload: dict[str, Any] | None = None
        self._rebuilt: Any = None
        self._unwritten = False  # listed before its save was written (see JobStore.rows)
        self.location = "local"  # "local", "remote" (team store) or "both"

    @classmethod
    def from_row(cls, row: dict[str, Any], store: JobSource, backend: Any = None,
                 trusted: bool = True) -> StoredAerJob:
        pending = bool(row.get("pending"))  # handed over, not written yet: no archive
        job = cls(backend, row["job_id"], store, json.loads(row["manifest"]),
                  None if pending else row["archive"], row.get("size"), trusted=trusted)
        job._unwritten = pending
        return job

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
        """``"sampler"`` or ``"estimator"`` for a primitive job (``"executor"`` for
        qiskit-ibm-runtime's executor), None for a backend job."""
        return self._manifest.get("primitive")

    primitive_id = primitive  # qiskit-ibm-runtime's name for it

    @property
    def session_id(self) -> str | None:
        """The ``job_context`` (or qiskit-ibm-runtime ``Session`` / ``Batch``) the job ran in."""
        return self._manifest.get("session_id")

    @property
    def inputs(self) -> dict[str, Any]:
        """A primitive job's inputs, as qiskit-ibm-runtime's jobs give them: ``{"pubs": ...}``."""
        return {"pubs": self._data().get("pubs")}

    @property
    def reused_from(self) -> str | None:
        """The id of the stored job this one was served from (``reuse_results``); None for a
        job that ran."""
        return self._manifest.get("reused_from")

    @property
    def rerun_of(self) -> str | None:
        """The id of the stored job this one reran (``rerun()``); None for a job that did not
        come from a rerun."""
        return self._manifest.get("rerun_of")

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
    def store(self) -> JobSource:
        """The store the job was read from (``JobStore``, or ``TeamStore`` for ``remote``)."""
        return self._store

    @property
    def archive_path(self) -> str | None:
        return self._store.archive_label(self._archive) if self._archive else None

    @property
    def size(self) -> int | None:
        """Bytes of the job's archive in the store."""
        return self._size

    def _repr_html_(self) -> str:
        from .notebook import job_card_html  # the notebook face draws it (upward, on demand)

        return job_card_html(self)

    def status(self) -> JobStatus:
        """The job's status as stored: ``QUEUED`` or ``RUNNING`` while it runs, then ``DONE``,
        ``ERROR`` or ``CANCELLED``. A job whose process died before it ended is ``ERROR``."""
        return JobStatus[lifecycle.status_name(self._manifest)]

    def error_message(self) -> str | None:
        """Why the job failed (the simulation's error, or that it was interrupted), else None."""
        return self._manifest.get("error") or lifecycle.interrupted_reason(self._manifest)

    def in_final_state(self) -> bool:
        """Whether the job has ended (done, failed, cancelled or interrupted)."""
        return self.status() in JOB_FINAL_STATES

    def wait_for_final_state(self, timeout: float | None = None) -> None:
        """Wait until the job (maybe running in another process) has ended, reading the store.

        Raises:
            JobTimeoutError: it had not ended after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.02
        while not self.in_final_state():
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(
                    f"Aer job {self._job_id} is still {self.status().name} after {timeout} s."
                )
            time.sleep(pause if deadline is None else min(pause, deadline - time.monotonic()))
            pause = min(pause * 1.5, 1.0)
            fresh = self._store.get(self._job_id)
            self._manifest, self._archive, self._payload = fresh._manifest, fresh._archive, None

    def creation_date(self) -> _dt.datetime:
        """When the job was submitted (timezone-aware, UTC)."""
        return parse_time(self._manifest["creation_date"])

    def end_date(self) -> _dt.datetime | None:
        end = self._manifest.get("end_date")
        return parse_time(end) if end else None

    def time_taken(self) -> float | None:
        return self._manifest.get("time_taken")

    # -- what the payload holds -------------------------------------------------------
    def _written(self) -> None:
        """Read the job's row as written (for a job listed before its save landed: waits)."""
        row = self._store.row(self._job_id)
        self._manifest, self._archive = json.loads(row["manifest"]), row["archive"]
        self._size, self._unwritten = row.get("size"), False

    def _data(self) -> dict[str, Any]:
        if self._payload is None and self._unwritten:
            self._written()
        if self._payload is None and self._manifest.get("payload_in"):
            self._payload = self._shared_payload()
        members = self._manifest.get("members")
        if self._payload is None and isinstance(members, dict) and PAYLOAD not in members:
            if self.in_final_state():
                raise JobError(
                    f"Aer job {self._job_id} ended ({self.error_message()}) before its circuits, "
                    "options and result were stored: the store holds only its manifest."
                )
            raise JobError(
                f"Aer job {self._job_id} is {self.status().name}: its circuits, options and "
                "result are stored when it ends (result() waits for that)."
            )
        if self._payload is None:
            archive = self._archive or self._store.row(self._job_id)["archive"]
            self._payload = self._store.read_job(archive, trusted=self._trust)
        return self._payload

    def _shared_payload(self) -> dict[str, Any] | None:
        """A reuse's payload, read from the job it reused (or, once that job was deleted and
        the payload handed over, from its own archive: then None)."""
        try:
            source = self._store.row(self._manifest["payload_in"])["archive"]
            own = self._archive or self._store.row(self._job_id)["archive"]
            # the pointer is trusted only if this store's key signed it: else portable copies
            trusted = self._trust and self._store.signed_here(own)
            return self._store.read_job(source, trusted=trusted)
        except JobNotFoundError:
            self._written()
            if self._manifest.get("payload_in"):
                raise JobError(
                    f"Aer job {self._job_id} reused the result of job {self.reused_from}, "
                    "which was deleted before the result could be copied into it."
                ) from None
            return None

    @property
    def trusted(self) -> bool:
        """False if this job is read from its portable copies (asked for with
        ``trusted=False``, or not signed by this store's key): see README, "Portable copies".
        Reading the archive to find out if needed."""
        return not self._data().get("portable", False)

    def result(self, timeout: float | None = None) -> Any:
        """The stored ``Result`` (equal to what the live job returned).

        Args:
            timeout: for a job still queued or running, how long to wait for it to end
                (None: as long as it takes).

        Raises:
            JobError: if the job's simulation failed (with the error it failed with), was
                cancelled or was interrupted.
            JobTimeoutError: the job had not ended after ``timeout`` seconds.
            JobStoreIntegrityError: if the archive does not verify.
        """
        self.wait_for_final_state(timeout)
        if self._unwritten:
            self._written()  # its status as written, and whether its result was dropped
        if self.status() in (JobStatus.ERROR, JobStatus.CANCELLED):
            data = self._data() if self.error_message() is None else {}
            raise JobError(
                f"Aer job {self._job_id} ended with status {self.status().name}: "
                f"{self.error_message() or data.get('error') or 'no result was stored'}"
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
        """A new simulator built like the one that ran the job (same class and options,
        ``from_backend`` configuration and target, or qiskit-ibm-runtime's fake device for a
        job of its local mode), whichever backend the job was retrieved through."""
        if self._rebuilt is None:
            self._rebuilt = runner().simulator(self)
        return self._rebuilt

    # -- jobs run in pieces (executor=, max_job_size=, max_shot_size=) ---------------
    def progress(self) -> Any:
        """``Progress(done, total, failed)``: pieces saved so far (a job not split is one
        piece). Reads the pieces saved since the job's last save, so it follows a running
        sweep from another process."""
        return pieces.progress(self._store, self._job_id, self._manifest, self.status().name)

    def sub_jobs(self) -> list[dict[str, Any]]:
        """The pieces of a split job: circuits ``[start, stop)``, shots, seed, status, worker,
        times and error of each (empty for a job not split)."""
        return pieces.sub_jobs(self._store, self._job_id, self._manifest, self.status().name)

    def resume(self, executor: Any = None) -> Any:
        """Finish a split job that did not finish (client killed, workers lost, cancelled):
        run only its missing or failed pieces, with the same seeds, on ``executor`` (None:
        locally). The stored job becomes ``DONE`` with the whole result. With
        ``reuse_results`` on (``job_context`` or the settings), a missing piece identical to
        a stored job is taken from it instead of run.

        Returns:
            SweepJob: a running job whose ``result()`` equals an uninterrupted run's.

        Raises:
            JobError: the job was not split into pieces.
        """
        return runner().resume(self, executor)

    def diff(self, other: StoredAerJob) -> Any:
        """Compare this job (A) with ``other`` (B): circuits, parameter binds, options, noise
        model, versions, and each experiment's results (counts by total variation distance
        against the shot-noise level, states and expectation values by their largest
        difference). See :class:`~qiskit_aer_jobstore.diff.JobDiff`."""
        from .diff import diff_jobs  # numpy and qiskit: a listing imports this module too

        return diff_jobs(self, other)

    # -- JobV1 plumbing ----------------------------------------------------------------
    def rerun(self, backend: Any = None, **run_options: Any) -> Any:
        """Run this job's circuits again, as they ran: same parameter binds, run options,
        backend options, noise model and seed (the seed Aer drew, if none was given).

        A primitive job (``self.primitive`` is ``"sampler"`` or ``"estimator"``) runs its pubs
        (parameter values included) again with the same primitive class and options, seed
        included: a seeded ``SamplerV2`` job reruns to identical bits, an ``EstimatorV2`` job
        to identical expectation values. An unseeded sampler job samples afresh (the
        primitive does not record the seeds Aer drew).

        Args:
            backend: where to run them (default: a new store-enabled simulator rebuilt like
                the one that ran the job, ``from_backend`` configuration and target included).
                A given backend keeps its own options but gets the job's noise model, method
                and seed unless ``run_options`` say otherwise.
            run_options: options that override the stored ones (e.g. ``shots=...``), and
                ``job_name`` / ``job_tags`` (default: this job's). For a sampler job,
                ``shots`` replaces every pub's shots and ``seed_simulator`` the sampler's
                seed; for an estimator job, ``precision`` replaces every pub's precision and
                ``shots`` is refused (Aer's ``EstimatorV2`` has none). Other options go to
                the primitive's ``run_options``, i.e. to the simulator's ``run``.

        Returns:
            AerJob: the new job (saved to the store like any other); for a primitive job, a
            ``PrimitiveJob`` whose ``result()`` is a ``PrimitiveResult``, saved as one
            primitive job.

        Raises:
            JobStoreError: the job cannot be rerun (no stored pubs, e.g. read from its
                portable copies; an override that does not apply). Nothing is run or stored.
            JobError: the job's circuits and options are not stored yet (still running).
        """
        return runner().rerun(self, backend, **run_options)

    def submit(self) -> None:
        raise JobError("A stored job has already run; use rerun() to run its circuits again.")

    def cancel(self) -> bool:
        return False
