"""``JobStoreMixin``: the hook into Aer and the store methods every store-enabled backend has.

The data path: ``backend.run`` -> ``AerJob`` -> ``_execute_circuits_job`` (in Aer's executor
thread) -> ``post_process`` -> the job is queued for the background writer -> ``result()``
returns. Writing the archive and the index row happens just after, off the caller's path.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import cluster, context, reuse, settings, stages
from .exceptions import JobNotFoundError, JobStoreError, JobStoreWarning
from .handoff import WRITER_PROCESS
from .manifest import device_name, validate_job_id
from .record import JobRecord
from .stages import SaveContext
from .store import JobStore
from .team import jobs_everywhere, require_remote

CONTEXT_KEY = "_aer_jobstore"
# Run options that are ours: taken out before Aer sees the options.
RUN_ONLY_OPTIONS = ("save_jobs", "job_name", "job_tags", "reuse_results")


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return settings.parse_bool(value, name)
    raise JobStoreError(f"Invalid value {value!r} for {name}: use True or False.")


def attach_context(backend: Any, run_options: dict[str, Any]) -> dict[str, Any]:
    """Take our run options out of ``run_options`` and attach a SaveContext (or None)."""
    if CONTEXT_KEY in run_options:
        return run_options
    run_options = dict(run_options)
    save = run_options.pop("save_jobs", None)
    job_name = run_options.pop("job_name", None)
    job_tags = run_options.pop("job_tags", None)
    reuse_value = run_options.pop("reuse_results", None)
    if context.suppressed():
        save = False
    if save is None:
        save = getattr(backend, "_jobstore_save_jobs", None)
    save = settings.save_jobs_default() if save is None else _as_bool(save, "save_jobs")
    job_name, job_tags, session_id = context.names_for(job_name, job_tags)
    if save:
        WRITER_PROCESS.warm()  # it boots while the job simulates
    run_options[CONTEXT_KEY] = (
        SaveContext(JobStore.default(), job_name, job_tags, session_id=session_id,
                    reuse=reuse.mode(backend, reuse_value), provenance=context.provenance())
        if save else None
    )
    return run_options


def run_or_reuse(backend, original, circuits, parameter_binds, run_options):
    """The job for a run: served from the store (``reuse_results``), else run (and
    recorded as submitted). Every job that ran has ``reused_from = None``."""
    ctx = run_options.get(CONTEXT_KEY)
    if ctx is not None and ctx.reuse is not None:  # a split job whole, else piece by piece
        options = {k: v for k, v in run_options.items() if k != CONTEXT_KEY}
        try:
            job = reuse.serve(
                backend, ctx, circuits, parameter_binds, options,
                lambda job_id: backend._execute_circuits_job(  # if the stored one fails to verify
                    circuits, parameter_binds, {**options, CONTEXT_KEY: ctx}, job_id))
        except Exception as exc:  # the store never stops a run: it runs instead
            warnings.warn(f"Results were not reused: {exc}", JobStoreWarning, stacklevel=3)
            job = None
        if job is not None:
            return job
    job = run_or_sweep(backend, original, circuits, parameter_binds, run_options)
    submitted(backend, job, run_options)
    try:
        job.reused_from = None
    except AttributeError:
        pass
    return job


def submitted(backend, job, run_options: dict[str, Any]) -> None:
    """Record a just-submitted job as ``QUEUED`` and watch for its cancellation.

    Runs on the caller's path: it only queues work for the background writer.
    """
    ctx = run_options.get(CONTEXT_KEY)
    if ctx is None:
        return
    try:
        options = {k: v for k, v in run_options.items() if k != CONTEXT_KEY}
        circuits = job.circuits()
        binds = getattr(job, "_parameter_binds", None)

        def record(status: str) -> JobRecord:
            return build_record(backend, ctx, job.job_id(), circuits, binds, options,
                                status=status, manifest_only=status != "CANCELLED")

        stages.record_stage(ctx, stages.QUEUED, lambda: record("QUEUED"), job.job_id())
        stages.watch_for_cancel(job, ctx, lambda: record("CANCELLED"))
    except Exception as exc:  # never fail a submission because of the store
        _warn_not_saved(job.job_id(), exc)


def run_or_sweep(backend, original, circuits, parameter_binds, run_options):
    """Aer's ``_run_circuits``, unless the job asks for an executor or a split (cluster/)."""
    if cluster.wants_sweep(backend, run_options):
        # Taken out of the caller's dict: a sweep saves itself (parent, then piece by piece).
        ctx = run_options.pop(CONTEXT_KEY, None)
        return cluster.submit_sweep(backend, circuits, parameter_binds, run_options, ctx)
    return original(circuits, parameter_binds, **run_options)


def execute_and_save(backend, original, circuits, parameter_binds, run_options, job_id="",
                     format_result=True):
    """Run Aer's job function, then hand the finished job to ``post_process``."""
    run_options = dict(run_options)
    ctx = run_options.pop(CONTEXT_KEY, None)
    if ctx is None:
        return original(circuits, parameter_binds, run_options, job_id, format_result)
    stored_options = dict(run_options)  # Aer adds "parameterizations" to the dict it gets
    try:
        stages.record_stage(ctx, stages.RUNNING, lambda: build_record(
            backend, ctx, job_id, circuits, parameter_binds, stored_options, status="RUNNING",
            manifest_only=True), job_id)
    except Exception as exc:
        _warn_not_saved(job_id, exc)
    try:
        result = original(circuits, parameter_binds, run_options, job_id, format_result)
    except Exception as exc:
        post_process(backend, ctx, job_id, circuits, parameter_binds, stored_options, None,
                     f"{type(exc).__name__}: {exc}")
        raise
    return post_process(backend, ctx, job_id, circuits, parameter_binds, stored_options, result)


def build_record(backend, ctx, job_id, circuits, parameter_binds, run_options, result=None,
                 error=None, status="DONE", manifest_only=False) -> JobRecord:
    """The store's record of one job at one stage (references only: cheap)."""
    return JobRecord.from_backend(
        backend,
        job_id=job_id,
        circuits=list(circuits) if circuits is not None else [],
        parameter_binds=parameter_binds,
        run_options=run_options,
        result=result,
        error=error,
        status=status,
        creation_date=ctx.creation_date,
        job_name=ctx.job_name,
        job_tags=ctx.job_tags,
        session_id=ctx.session_id,
        manifest_only=manifest_only,
        content_key=getattr(ctx, "content_key", None),
        extra_manifest=dict(getattr(ctx, "provenance", None) or {}),
    )


def post_process(backend, ctx, job_id, circuits, parameter_binds, run_options, result,
                 error=None):
    """Queue the finished job for saving and give the live result back untouched.

    Costs microseconds: the archive is written by the background writer. Nothing here may
    lose the result: any failure becomes a warning.
    """
    try:
        status = "ERROR" if error is not None else "DONE"
        stages.record_stage(ctx, stages.FINAL, lambda: build_record(
            backend, ctx, job_id, circuits, parameter_binds, run_options, result, error, status))
    except Exception as exc:  # never lose a live result to the store
        _warn_not_saved(job_id, exc)
    return result


def _warn_not_saved(job_id: str, exc: Exception) -> None:
    warnings.warn(f"Aer job {job_id} was not saved: {exc}", JobStoreWarning, stacklevel=3)


def intercept_option(backend, key, value) -> bool:
    """Handle our backend options; True if ``key`` was ours."""
    if key == "save_jobs":
        backend._jobstore_save_jobs = None if value is None else _as_bool(value, "save_jobs")
        return True
    if key == "reuse_results":
        if value is not None:
            settings.parse_reuse(value, "reuse_results")  # refused now, not at the next run
        backend._jobstore_reuse_results = value
        return True
    return False


class StoreMethods:
    """The store methods of a store-enabled backend (no Aer hooks: safe to graft)."""

    _jobstore_save_jobs: bool | None = None
    _jobstore_reuse_results: bool | str | None = None

    @property
    def job_store(self) -> JobStore:
        """The local store this backend saves to (from the current settings)."""
        return JobStore.default()

    def local_jobs(self, limit: int | None = 10, skip: int = 0, descending: bool = True,
                   **filters: Any) -> list:
        """Jobs in the local store, from any backend, newest first.

        Args:
            limit: at most this many (None: all).
            skip: skip this many first.
            descending: newest first (default) or oldest first.
            filters: ``backend_name``, ``status``, ``job_name``, ``job_tags``,
                ``job_tags_operator``, ``created_after``, ``created_before``, ``method``,
                ``num_qubits``, ``shots``, ``circuit_name``, ``reused`` (see ``JobFilter``).

        Returns:
            list[StoredAerJob]: built from the index alone; payloads are read on demand.
        """
        return self.job_store.list(
            backend=self, limit=limit, skip=skip, descending=descending, **filters
        )

    def remote_jobs(self, limit: int | None = 10, skip: int = 0, descending: bool = True,
                    **filters: Any) -> list:
        """Jobs in the team store (PostgreSQL + S3), from any backend, newest first; same
        arguments as ``local_jobs``. Their ``location`` is ``"remote"``.

        Raises:
            JobStoreSettingsError: no team store is configured.
            JobStoreUnavailableError: the team store cannot be reached.
        """
        return require_remote().list(
            backend=self, limit=limit, skip=skip, descending=descending, **filters
        )

    def jobs(self, limit: int | None = 10, skip: int = 0, descending: bool = True,
             **filters: Any) -> list:
        """This backend's stored jobs, local and (with a team store) remote, newest first, each
        once (``backend_name=self.name`` unless another ``backend_name`` is given).
        ``StoredAerJob.location`` says where each is: ``"local"``, ``"remote"`` or ``"both"``."""
        filters.setdefault("backend_name", device_name(self.name))
        return jobs_everywhere(self.job_store, self, limit, skip, descending, **filters)

    def retrieve_job(self, job_id: str, trusted: bool = True):
        """The stored job ``job_id`` as a ``StoredAerJob``: from the local store, else from the
        team store (downloaded, verified, and kept in the local store).

        Args:
            job_id: the job's id.
            trusted: False to read it from its portable copies only (QPY, JSON and ``.npy``;
                nothing is unpickled). Jobs not signed by this store's key are always read so.

        Raises:
            JobNotFoundError: no such job in the store (the message says where it looked).
            InvalidJobIdError: ``job_id`` is not a well-formed id.
        """
        store = self.job_store
        try:
            return store.get(validate_job_id(job_id), backend=self, trusted=trusted)
        except JobNotFoundError as local_miss:
            if not settings.remote_configured():
                raise
            try:
                return store.pull(job_id, backend=self, trusted=trusted)
            except JobNotFoundError as remote_miss:
                raise JobNotFoundError(f"{local_miss} Not in the team store either.") from (
                    remote_miss
                )

    def delete_job(self, job_id: str) -> bool:
        """Delete a stored job. False if there was none."""
        return self.job_store.delete(job_id)


class JobStoreMixin(StoreMethods):
    """Mixin for ``qiskit_aer`` backends: saves every job (unless ``save_jobs=False``) and adds
    ``jobs()``, ``local_jobs()``, ``retrieve_job()`` and ``delete_job()``.

    Use it first in the bases: ``class MySim(JobStoreMixin, qiskit_aer.AerSimulator)``.
    """

    def _run_circuits(self, circuits, parameter_binds, **run_options):
        run_options = attach_context(self, run_options)
        return run_or_reuse(self, super()._run_circuits, circuits, parameter_binds, run_options)

    def _execute_circuits_job(self, circuits, parameter_binds, run_options, job_id="",
                              format_result=True):
        return execute_and_save(self, super()._execute_circuits_job, circuits, parameter_binds,
                                run_options, job_id, format_result)

    def set_option(self, key, value):
        if not intercept_option(self, key, value):
            super().set_option(key, value)
