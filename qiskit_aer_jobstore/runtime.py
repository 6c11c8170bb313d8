"""qiskit-ibm-runtime's local testing mode, stored under the ids its jobs hand out.

Under ``enable()``, with qiskit-ibm-runtime installed:

- every job of its local mode (``SamplerV2`` / ``EstimatorV2`` with ``mode=`` a fake backend or
  an ``AerSimulator``, alone or in a local ``Session`` / ``Batch``; the executor-based
  ``Sampler`` / ``Estimator``) is stored once, under the ``LocalRuntimeJob``'s own id, with
  its pubs, options and ``PrimitiveResult``, as run on the device it names (``fake_manila``);
  the Aer jobs it runs underneath are not stored again;
- ``options.environment.job_tags`` become the job's tags, and a local ``Session`` / ``Batch``
  gets a session id (runtime leaves it None locally) recorded on each of its jobs;
- ``QiskitRuntimeLocalService`` gets ``jobs()``, ``job()`` and ``delete_job()`` over them
  (runtime's open issue #1607 asks for exactly these).

Runtime runs its primitives' work in other threads: ``PrimitiveJob._submit`` is grafted to
carry the caller's ``contextvars`` (saving suppressed, ``job_context``) into them.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
import math
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit.providers import JobError

from . import settings
from .context import (
    current,
    in_context,
    job_context,
    names_for,
    provenance,
    saving_suppressed,
    suppressed,
)
from .exceptions import JobNotFoundError, JobStoreError, JobStoreWarning
from .grafting import Grafts
from .primitives import PrimitiveRecord
from .record import ACTIVE_STATUSES
from .store import JobStore
from .times import utcnow

CLIENT = "qiskit-ibm-runtime"
_grafted = Grafts()


# -- primitive jobs carry the caller's context into their thread ---------------------------
def _submit_in_context(self: PrimitiveJob) -> None:
    if self._future is not None:
        raise JobError("Primitive job has been submitted already.")
    executor = ThreadPoolExecutor(max_workers=1)
    context = contextvars.copy_context()
    end = _End()
    self._future = executor.submit(context.run, end.run, self)
    self._future.aer_jobstore_end = end  # what _when_done finds (local mode shares futures)
    executor.shutdown(wait=False)


# -- a job's save is handed over before its result() returns --------------------------------
class _End:
    """How a primitive job ended, and what to call then, before its future holds the result
    (so a returned result is a saved job)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcome: tuple[Any, BaseException | None] | None = None
        self._then: Callable[[Any, BaseException | None], None] | None = None

    def run(self, job: PrimitiveJob) -> Any:
        try:
            result, error = job._function(*job._args, **job._kwargs), None
        except Exception as exc:
            result, error = None, exc
        with self._lock:
            self._outcome = (result, error)
            then = self._then
        if then is not None:
            then(result, error)
        if error is not None:
            raise error
        return result

    def when(self, then: Callable[[Any, BaseException | None], None]) -> None:
        with self._lock:
            outcome, self._then = self._outcome, then
        if outcome is not None:  # it ended already: on this thread, before result() is asked
            then(*outcome)


def _when_done(job: Any, then: Callable[[Any, BaseException | None], None]) -> None:
    """Call ``then(result, error)`` when ``job`` ends, before its result is returned."""
    end = getattr(job._future, "aer_jobstore_end", None)
    if end is not None:
        end.when(lambda result, exc: then(_decoded(job, result), exc))
    else:  # not submitted through _submit_in_context: after the fact, as a done-callback
        job._future.add_done_callback(lambda _done: then(*_outcome(job)))


def _decoded(job: Any, result: Any) -> Any:
    """The result as ``job.result()`` gives it (an executor job's is decoded)."""
    if result is None or getattr(job, "primitive_id", None) != "executor":
        return result
    # only local-mode executor jobs get here, with qiskit-ibm-runtime loaded
    from qiskit_ibm_runtime.decoders.defaults import DEFAULT_DECODERS

    for decoder in DEFAULT_DECODERS["executor"]:
        if decoder.is_applicable(result):
            result = decoder.decode(result)
    return result


def _outcome(job: Any) -> tuple[Any, BaseException | None]:
    try:
        return job.result(), None
    except Exception as exc:
        return None, exc


def carry_context_into_primitive_jobs() -> None:
    """Graft ``PrimitiveJob._submit`` so a primitive's work sees the submitter's contextvars."""
    with _grafted.lock:
        if not _grafted.has(PrimitiveJob, "_submit"):
            _grafted.set(PrimitiveJob, "_submit", _submit_in_context)


# -- saving a local-mode job ---------------------------------------------------------------
def _options_dict(options: Any) -> dict[str, Any]:
    if isinstance(options, dict):
        return dict(options)
    # shallow: asdict() would deep-copy the backend the options hold
    return {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}


def _pubs(kind: str, pubs: Any, options: dict[str, Any]) -> list[Any]:
    """The pubs with the shots or precision they ran with (local mode's reference primitives
    default to 1024 shots and a precision of 1/64, unless the options say otherwise)."""
    if kind == "sampler":
        shots = options.get("default_shots") or 1024
        return [SamplerPub.coerce(pub, shots) for pub in pubs or []]
    precision = options.get("default_precision") or 0.015625
    if options.get("default_shots"):
        precision = 1 / math.sqrt(options["default_shots"])
    return [EstimatorPub.coerce(pub, precision) for pub in pubs or []]


def _save(job: Any, backend: Any, kind: str, pubs: list[Any], run_options: dict[str, Any],
          primitive_options: dict[str, Any], names: tuple, created: Any, result: Any,
          exc: BaseException | None) -> None:
    """Hand over the record of a finished local-mode job."""
    try:
        error = None if exc is None else f"{type(exc).__name__}: {exc}"
        job_name, job_tags, session_id, origin = names
        record = PrimitiveRecord.from_backend(
            backend,
            job_id=job.job_id(),
            circuits=[pub.circuit for pub in pubs],
            run_options=run_options,
            result=result,
            error=error,
            status="ERROR" if error is not None else "DONE",
            creation_date=created,
            job_name=job_name,
            job_tags=job_tags,
            session_id=session_id,
            primitive=kind,
            pubs=pubs,
            primitive_options=primitive_options,
            client=CLIENT,
            extra_manifest={"runtime": {"backend": type(backend).__name__}, **origin},
        )
        JobStore.default().save_later(record)
    except Exception as exc:  # never cost the user the job
        warnings.warn(f"qiskit-ibm-runtime job {job.job_id()} was not saved: {exc}",
                      JobStoreWarning, stacklevel=2)


def _track(job: Any, backend: Any, kind: str, pubs: list[Any], run_options: dict[str, Any],
           primitive_options: dict[str, Any], tags: list[str], created: Any) -> None:
    names = (*names_for(None, tags), provenance())  # read here, in the caller's context
    _when_done(job, lambda result, exc: _save(
        job, backend, kind, pubs, run_options, primitive_options, names, created, result, exc))


def _run_local(original: Any, service: Any, program_id: str, inputs: dict, options: Any,
               calibration_id: Any = None, dry_run: bool = False) -> Any:
    """``QiskitRuntimeLocalService._run``, storing the job it returns."""
    if suppressed() or not settings.save_jobs_default():
        return original(service, program_id, inputs, options, calibration_id, dry_run)
    created = utcnow()
    runtime_options = _options_dict(options)
    with saving_suppressed():  # the backend jobs underneath: the runtime job is stored instead
        job = original(service, program_id, inputs, options, calibration_id, dry_run)
    options = dict(inputs.get("options") or {})
    pubs = _pubs(program_id, inputs.get("pubs"), options)
    run_options = ({"shots": pubs[0].shots} if program_id == "sampler" and pubs
                   else {"precision": pubs[0].precision} if pubs else {})
    _track(job, runtime_options.get("backend"), program_id, pubs, run_options, options,
           list(runtime_options.get("job_tags") or []), created)
    return job


def _run_executor(original: Any, service: Any, backend: Any, options: Any, inputs: Any,
                  dry_run: bool = False) -> Any:
    """``QiskitRuntimeLocalService._run_executor``, storing the job it returns."""
    if suppressed() or not settings.save_jobs_default():
        return original(service, backend, options, inputs, dry_run)
    created = utcnow()
    with saving_suppressed():  # the Aer sampler jobs it runs are stored as this one
        job = original(service, backend, options, inputs, dry_run)
    _track(job, backend, "executor", [], {}, {}, list(_executor_tags.get()), created)
    return job


_executor_tags: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar(
    "qiskit_aer_jobstore_executor_tags", default=()
)


def _executor_run(original: Any, executor: Any, *args: Any, **kwargs: Any) -> Any:
    """``Executor.run``: its ``options.environment.job_tags`` never reach the local service."""
    environment = getattr(getattr(executor, "options", None), "environment", None)
    token = _executor_tags.set(tuple(getattr(environment, "job_tags", None) or ()))
    try:
        return original(executor, *args, **kwargs)
    finally:
        _executor_tags.reset(token)


def _session_run(original: Any, session: Any, *args: Any, **kwargs: Any) -> Any:
    """``Session._run`` of a local session: give it an id, recorded on its jobs."""
    # optional package: only reached from its own Session
    from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService

    if not isinstance(getattr(session, "_service", None), QiskitRuntimeLocalService):
        return original(session, *args, **kwargs)
    if session._session_id is None:
        session._session_id = str(uuid.uuid4())
    with in_context(dataclasses.replace(current(), session_id=session._session_id)):
        return original(session, *args, **kwargs)


# -- the local service's way back ----------------------------------------------------------
def jobs(self: Any, limit: int | None = 10, skip: int = 0, backend_name: str | None = None,
         pending: bool | None = None, program_id: str | None = None, instance: Any = None,
         job_tags: list[str] | None = None, session_id: str | None = None,
         created_after: Any = None, created_before: Any = None, descending: bool = True,
         **_ignored: Any) -> list:
    """The stored jobs of qiskit-ibm-runtime's local mode, newest first (filters as in
    ``QiskitRuntimeService.jobs``; ``job_tags``: jobs with all of them)."""
    filters: dict[str, Any] = dict(
        client=CLIENT, limit=limit, skip=skip, descending=descending, backend_name=backend_name,
        primitive=program_id, session_id=session_id, created_after=created_after,
        created_before=created_before,
    )
    if job_tags:
        filters.update(job_tags=list(job_tags), job_tags_operator="AND")
    if pending is not None:
        filters["status"] = list(ACTIVE_STATUSES) if pending else ["DONE", "ERROR", "CANCELLED"]
    return JobStore.default().list(
        **{k: v for k, v in filters.items() if v is not None or k == "limit"}
    )


def job(self: Any, job_id: str) -> Any:
    """The stored job ``job_id`` (``StoredAerJob``: ``result()`` is its ``PrimitiveResult``)."""
    return JobStore.default().get(job_id)


def delete_job(self: Any, job_id: str) -> None:
    """Delete the stored job ``job_id``.

    Raises:
        JobNotFoundError: there is no such job.
    """
    if not JobStore.default().delete(job_id):
        raise JobNotFoundError(f"No stored job with id {job_id!r} to delete.")


# -- enable() / disable() ------------------------------------------------------------------
def _wrap(cls: type, name: str, wrapper: Any) -> None:
    original = getattr(cls, name)

    @functools.wraps(original)
    def grafted(self: Any, *args: Any, **kwargs: Any) -> Any:
        return wrapper(original, self, *args, **kwargs)

    _grafted.set(cls, name, grafted)


def enable_runtime() -> bool:
    """Store qiskit-ibm-runtime's local-mode jobs (part of ``enable()``). False if
    qiskit-ibm-runtime is not installed."""
    try:  # an optional package: only its users need it
        from qiskit_ibm_runtime import Session
        from qiskit_ibm_runtime.executor import Executor
        from qiskit_ibm_runtime.fake_provider.local_service import QiskitRuntimeLocalService
    except ImportError:
        return False
    with _grafted.lock:
        if _grafted.has(QiskitRuntimeLocalService, "_run"):
            return True
        carry_context_into_primitive_jobs()
        _wrap(QiskitRuntimeLocalService, "_run", _run_local)
        _wrap(QiskitRuntimeLocalService, "_run_executor", _run_executor)
        _wrap(Executor, "run", _executor_run)
        _wrap(Session, "_run", _session_run)
        for method in (jobs, job, delete_job):
            _grafted.set(QiskitRuntimeLocalService, method.__name__, method)
    return True


def disable_runtime() -> None:
    with _grafted.lock:
        _grafted.restore()


def rerun(stored: Any, backend: Any = None, **overrides: Any) -> Any:
    """Run a stored local-mode job's pubs again through qiskit-ibm-runtime's local mode, with
    the same options (seed included), on the same fake device (or ``backend``); the new job
    keeps the name and tags. ``shots=`` (sampler) or ``precision=`` (estimator) override."""
    from qiskit_ibm_runtime import EstimatorV2, SamplerV2  # optional: only its jobs get here

    kind, data = stored.primitive, stored._data()
    pubs, options = data.get("pubs"), data.get("primitive_options")
    if kind not in ("sampler", "estimator") or not pubs or not isinstance(options, dict):
        raise JobStoreError(
            f"Job {stored.job_id()} of qiskit-ibm-runtime cannot be rerun: only its sampler and "
            "estimator jobs, read trusted (with their pubs), can."
        )
    amount = overrides.pop("shots" if kind == "sampler" else "precision", None)
    if overrides:
        raise JobStoreError(
            f"Cannot rerun job {stored.job_id()} with {', '.join(sorted(overrides))}: a "
            f"qiskit-ibm-runtime {kind} job takes only "
            f"{'shots' if kind == 'sampler' else 'precision'}."
        )
    primitive = (SamplerV2 if kind == "sampler" else EstimatorV2)(
        mode=backend if backend is not None else stored.backend(), options=options
    )
    with job_context(job_name=stored.name, job_tags=stored.tags):
        if kind == "sampler":
            return primitive.run(pubs, shots=amount)
        return primitive.run(pubs, precision=amount)


def fake_backend(name: Any) -> Any:
    """A new qiskit-ibm-runtime fake backend of the class ``name`` (a manifest's, so only a
    ``FakeBackendV2`` class of its fake provider), or None."""
    try:  # an optional package: only jobs of its local mode name one
        from qiskit_ibm_runtime import fake_provider
        from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2
    except ImportError:
        return None
    cls = getattr(fake_provider, name, None) if isinstance(name, str) else None
    if isinstance(cls, type) and issubclass(cls, FakeBackendV2):
        return cls()
    return None
