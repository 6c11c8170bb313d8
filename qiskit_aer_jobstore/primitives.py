"""Store-enabled ``SamplerV2`` and ``EstimatorV2``: Aer's primitives, each job saved as one.

>>> from qiskit_aer_jobstore.primitives import SamplerV2
>>> job = SamplerV2(seed=7).run([circuit], shots=1000, job_tags=["paper"])
>>> AerSimulator().retrieve_job(job.job_id()).result()   # the PrimitiveResult, any session

A primitive job is stored under its own ``job_id()`` with its pubs, options and
``PrimitiveResult``, and listed with ``primitive="sampler"`` or ``"estimator"``. The backend
jobs it runs underneath are not saved (they would list the same work twice). ``enable()``
makes Aer's own primitives do the same (``enable_aer_primitives``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from qiskit.primitives.containers import EstimatorPubLike, PrimitiveResult, SamplerPubLike
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.primitive_job import PrimitiveJob
from qiskit_aer.primitives import EstimatorV2 as _AerEstimatorV2
from qiskit_aer.primitives import SamplerV2 as _AerSamplerV2

from . import reuse, settings
from .backends import carry_physics, rebuild_backend
from .contentkey import content_key, effective_options, is_seeded, pubs_content
from .context import check_tags, names_for, provenance, saving_suppressed, suppressed
from .exceptions import JobStoreError, JobStoreWarning
from .grafting import Grafts
from .record import JobRecord
from .store import JobStore
from .times import utcnow


@dataclass
class PrimitiveRecord(JobRecord):
    """A primitive job: its pubs and options beside what every job record holds."""

    pubs: list[Any] = field(default_factory=list)
    primitive_options: dict[str, Any] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        manifest = super().manifest()
        manifest["success"] = self.error is None and self.result is not None
        manifest["num_pubs"] = len(self.pubs)
        if self.primitive == "estimator":  # exact unless run_options give shots
            shots = self.run_options.get("shots")
            manifest["shots"] = shots if isinstance(shots, int) else None
            precision = self.run_options.get("precision")
            manifest["precision"] = precision if isinstance(precision, (int, float)) else None
        return manifest

    def payload(self) -> dict[str, Any]:
        payload = super().payload()
        payload["pubs"] = list(self.pubs)
        payload["primitive_options"] = self.primitive_options
        return payload

    def key(self) -> str | None:
        """The content key of the job's pubs, options, simulator and versions."""
        if self.content_key is None:
            try:
                self.content_key = content_key(
                    self.circuits, pubs_content(self.primitive, self.pubs), self.run_options,
                    self.backend_options, self.backend_class, self.backend_name, self.primitive)
            except Exception:  # noqa: BLE001 - a key is an optimisation, never a failed save
                return None
        return self.content_key


@dataclass
class Pending:
    """What ``run`` decided about saving one primitive job, carried to its thread."""

    store: JobStore | None
    job_name: str | None
    job_tags: list[str]
    run_options: dict[str, Any]
    session_id: str | None = None
    job_id: str = ""
    creation_date: Any = field(default_factory=utcnow)
    reuse: str | None = None  # reuse_results: None, "seeded" or "unseeded"
    provenance: dict[str, str] = field(default_factory=provenance)  # rerun_of, read at run

    @classmethod
    def decide(cls, run_options: dict[str, Any], job_name: Any = None, job_tags: Any = None,
               save_jobs: bool | None = None, primitive: Any = None) -> Pending:
        """Whether and how to save a primitive job: ``job_name`` / ``job_tags`` given to
        ``run`` or in the primitive's ``run_options`` (taken out of them), in the current
        ``job_context``; never inside another primitive job (it saves itself). Whether to
        reuse a stored result: the primitive's ``reuse_results``, else its simulator's, the
        ``job_context``'s or the settings'."""
        run_options = dict(run_options)
        named = run_options.pop("job_name", None)
        tags = [*check_tags(run_options.pop("job_tags", None)), *check_tags(job_tags)]
        name, tags, session_id = names_for(job_name if job_name is not None else named, tags)
        if suppressed():
            save = False
        else:
            save = settings.save_jobs_default() if save_jobs is None else bool(save_jobs)
        reuse_mode = None
        if save and primitive is not None:
            reuse_mode = reuse.mode(primitive._backend, getattr(primitive, "reuse_results", None))
        return cls(JobStore.default() if save else None, name, tags, run_options, session_id,
                   reuse=reuse_mode)


def _kind(primitive: Any) -> str:
    return "sampler" if isinstance(primitive, _AerSamplerV2) else "estimator"


def submit(primitive: Any, pubs: list[Any], run_options: dict[str, Any], job_name: Any = None,
           job_tags: Any = None) -> PrimitiveJob:
    """Run an Aer primitive's coerced ``pubs`` as one ``PrimitiveJob``, saved as one job under
    that job's id when it ends (unless saving is off)."""
    pending = Pending.decide(run_options, job_name, job_tags, getattr(primitive, "save_jobs", None),
                             primitive)
    if pending.reuse is not None:
        try:
            served = _reused(primitive, pubs, pending)
        except Exception as exc:  # the store never stops a run: it runs instead
            warnings.warn(f"Results were not reused: {exc}", JobStoreWarning, stacklevel=3)
            served = None
        if served is not None:
            return served
    job = PrimitiveJob(_run_and_save, primitive, pubs, pending)
    pending.job_id = job.job_id()
    job.reused_from = None
    job._submit()
    return job


def _reused(primitive: Any, pubs: list[Any], pending: Pending) -> PrimitiveJob | None:
    """A job done at once with the stored result of an identical primitive job, or None."""
    backend_options = dict(primitive._backend.options.__dict__)
    if pending.reuse != settings.REUSE_UNSEEDED and not is_seeded(
            effective_options(pending.run_options, backend_options)):
        return None
    record = _record(primitive, pubs, pending, None, None, manifest_only=True)
    found = reuse.lookup(pending.store, record.key())
    if found is None:
        return None
    source, payload = found
    job = PrimitiveJob(_given, payload["result"])
    record.job_id = pending.job_id = job.job_id()
    reuse.keep(pending.store, record, source, payload["result"])
    job.reused_from = source
    job._submit()
    return job


def _given(result: PrimitiveResult) -> PrimitiveResult:
    return result


def _run_and_save(primitive: Any, pubs: list[Any], pending: Pending) -> PrimitiveResult:
    with saving_suppressed():
        try:
            result = primitive._run(pubs)
        except Exception as exc:
            _save(primitive, pubs, pending, None, f"{type(exc).__name__}: {exc}")
            raise
    _save(primitive, pubs, pending, result)
    return result


def _save(primitive: Any, pubs: list[Any], pending: Pending, result: PrimitiveResult | None,
          error: str | None = None) -> None:
    if pending.store is None:
        return
    try:
        pending.store.save_later(_record(primitive, pubs, pending, result, error))
    except Exception as exc:  # never lose a live result to the store
        warnings.warn(f"{_kind(primitive)} job {pending.job_id} was not saved: {exc}",
                      JobStoreWarning, stacklevel=2)


def _record(primitive: Any, pubs: list[Any], pending: Pending, result: PrimitiveResult | None,
            error: str | None = None, manifest_only: bool = False) -> PrimitiveRecord:
    kind = _kind(primitive)
    options = dataclasses.asdict(primitive.options)
    if kind == "sampler":
        options.update(default_shots=primitive._default_shots, seed=primitive._seed)
    return PrimitiveRecord.from_backend(
        primitive._backend,
        job_id=pending.job_id,
        circuits=[pub.circuit for pub in pubs],
        run_options=pending.run_options,
        result=result,
        error=error,
        status="ERROR" if error is not None else "DONE",
        creation_date=pending.creation_date,
        job_name=pending.job_name,
        job_tags=pending.job_tags,
        session_id=pending.session_id,
        primitive=kind,
        pubs=list(pubs),
        primitive_options=options,
        manifest_only=manifest_only,
        extra_manifest=dict(pending.provenance),
    )


def run_sampler(sampler: Any, pubs: Iterable[SamplerPubLike], shots: int | None = None,
                job_name: Any = None, job_tags: Any = None) -> PrimitiveJob:
    """``SamplerV2.run`` of Aer's sampler (or ours), saving the job."""
    if shots is None:
        shots = sampler._default_shots
    coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
    sampler._validate_pubs(coerced)
    run_options = {**sampler.options.run_options, "shots": shots}
    if sampler._seed is not None:
        run_options["seed_simulator"] = sampler._seed
    return submit(sampler, coerced, run_options, job_name, job_tags)


def run_estimator(estimator: Any, pubs: Iterable[EstimatorPubLike],
                  precision: float | None = None, job_name: Any = None,
                  job_tags: Any = None) -> PrimitiveJob:
    """``EstimatorV2.run`` of Aer's estimator (or ours), saving the job."""
    if precision is None:
        precision = estimator._options.default_precision
    coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
    estimator._validate_pubs(coerced)
    run_options = {**estimator.options.run_options, "precision": precision}
    return submit(estimator, coerced, run_options, job_name, job_tags)


def _reuse_value(value: bool | str | None) -> bool | str | None:
    if value is not None:
        settings.parse_reuse(value, "reuse_results")  # refused now, not at the first run
    return value


class SamplerV2(_AerSamplerV2):
    """``qiskit_aer.primitives.SamplerV2`` whose every job is saved to the local job store.

    Args:
        default_shots: shots for pubs that give none.
        seed: the simulator seed (None: random).
        options: ``backend_options`` and ``run_options`` (``job_name`` / ``job_tags`` there
            name and tag every job), as for Aer's ``SamplerV2``.
        save_jobs: save this sampler's jobs (None: the global setting, on by default).
        reuse_results: serve a job from an identical stored one instead of running it
            (True: if seeded; ``"unseeded"``: even unseeded; None: as ``job_context`` or the
            settings say). See README, "Reusing results".
    """

    def __init__(
        self,
        *,
        default_shots: int = 1024,
        seed: int | None = None,
        options: dict | None = None,
        save_jobs: bool | None = None,
        reuse_results: bool | str | None = None,
    ):
        super().__init__(default_shots=default_shots, seed=seed, options=options)
        self.save_jobs = save_jobs
        self.reuse_results = _reuse_value(reuse_results)

    def run(
        self,
        pubs: Iterable[SamplerPubLike],
        *,
        shots: int | None = None,
        job_name: str | None = None,
        job_tags: Iterable[str] | None = None,
    ) -> PrimitiveJob:
        """Run the pubs; the job is saved when it finishes.

        Args:
            pubs: sampler pubs (circuits, or ``(circuit, parameter values, shots)`` tuples).
            shots: shots for pubs that give none (default: ``default_shots``).
            job_name: a name to find the job by (``jobs(job_name=...)``).
            job_tags: tags to find the job by (``jobs(job_tags=[...])``).

        Returns:
            PrimitiveJob: its ``job_id()`` is the stored job's id; ``reused_from`` the id
            of the stored job whose result it reused, or None.
        """
        return run_sampler(self, pubs, shots, job_name, job_tags)


class EstimatorV2(_AerEstimatorV2):
    """``qiskit_aer.primitives.EstimatorV2`` whose every job is saved to the local job store.

    Args:
        options: ``default_precision``, ``backend_options`` and ``run_options`` (``job_name``
            / ``job_tags`` there name and tag every job), as for Aer's ``EstimatorV2``.
        save_jobs: save this estimator's jobs (None: the global setting, on by default).
        reuse_results: as for ``SamplerV2`` (the seed is ``run_options["seed_simulator"]``).
    """

    def __init__(self, *, options: dict | None = None, save_jobs: bool | None = None,
                 reuse_results: bool | str | None = None):
        super().__init__(options=options)
        self.save_jobs = save_jobs
        self.reuse_results = _reuse_value(reuse_results)


    def run(
        self,
        pubs: Iterable[EstimatorPubLike],
        *,
        precision: float | None = None,
        job_name: str | None = None,
        job_tags: Iterable[str] | None = None,
    ) -> PrimitiveJob:
        """Run the pubs; the job is saved when it finishes.

        Args:
            pubs: estimator pubs (``(circuit, observables, parameter values, precision)``).
            precision: precision for pubs that give none (default: ``default_precision``).
            job_name: a name to find the job by (``jobs(job_name=...)``).
            job_tags: tags to find the job by (``jobs(job_tags=[...])``).

        Returns:
            PrimitiveJob: its ``job_id()`` is the stored job's id; ``reused_from`` the id
            of the stored job whose result it reused, or None.
        """
        return run_estimator(self, pubs, precision, job_name, job_tags)


# -- enable(): Aer's own primitives save their jobs the same way --------------------------
_grafted = Grafts()


def _aer_sampler_run(self: Any, pubs: Iterable[SamplerPubLike], *, shots: int | None = None):
    return run_sampler(self, pubs, shots)


def _aer_estimator_run(self: Any, pubs: Iterable[EstimatorPubLike], *,
                       precision: float | None = None):
    return run_estimator(self, pubs, precision)


def enable_aer_primitives() -> None:
    """Make ``qiskit_aer.primitives.SamplerV2`` / ``EstimatorV2`` save each job as one, under
    the ``PrimitiveJob``'s id (part of ``qiskit_aer_jobstore.enable()``)."""
    with _grafted.lock:
        if not _grafted:
            _aer_sampler_run.__doc__ = _AerSamplerV2.run.__doc__
            _aer_estimator_run.__doc__ = _AerEstimatorV2.run.__doc__
            _grafted.set(_AerSamplerV2, "run", _aer_sampler_run)
            _grafted.set(_AerEstimatorV2, "run", _aer_estimator_run)


def disable_aer_primitives() -> None:
    with _grafted.lock:
        _grafted.restore()


def rerun(job: Any, backend: Any = None, **overrides: Any) -> PrimitiveJob:
    """Run a stored primitive job's pubs again; see :meth:`StoredAerJob.rerun`.

    Everything is checked before the new job is submitted, so a refused rerun stores nothing.
    """
    kind = job.primitive
    if kind not in ("sampler", "estimator"):
        raise JobStoreError(f"Job {job.job_id()} is a {kind!r} primitive job: only sampler "
                            "and estimator jobs can be rerun.")
    data = job._data()
    pubs, stored = data.get("pubs"), data.get("primitive_options")
    if not pubs or not isinstance(stored, dict):
        why = ("it was read from its portable copies, which hold no pubs (retrieve it with "
               "trusted=True from a store whose key signed it)" if data.get("portable")
               else "its pubs and options were not stored")
        raise JobStoreError(f"{kind.capitalize()} job {job.job_id()} cannot be rerun: {why}.")
    options = {
        "backend_options": dict(stored.get("backend_options") or {}),
        "run_options": dict(stored.get("run_options") or {}),
    }
    if backend is None:
        backend = rebuild_backend(job)
    else:  # the given backend keeps its own options, but the job's physics come along
        carry_physics(options["run_options"], data.get("backend_options") or {})
    names = {"job_name": overrides.pop("job_name", job.name),
             "job_tags": overrides.pop("job_tags", job.tags)}
    last = data.get("run_options") or {}  # the run's own shots or precision
    if kind == "sampler":
        seed = overrides.pop("seed_simulator", stored.get("seed"))  # the sampler's seed wins
        shots = overrides.pop("shots", None)
        if shots is not None:
            if not isinstance(shots, int) or isinstance(shots, bool) or shots < 1:
                raise JobStoreError(f"shots must be a positive integer, not {shots!r}.")
            pubs = [SamplerPub(p.circuit, p.parameter_values, shots) for p in pubs]
        options["run_options"].update(overrides)
        sampler = SamplerV2.from_backend(
            backend, default_shots=stored.get("default_shots", 1024), seed=seed, options=options
        )
        return sampler.run(pubs, shots=last.get("shots") if shots is None else shots, **names)
    if "shots" in overrides:
        raise JobStoreError(
            f"Estimator job {job.job_id()} has no shots to change: Aer's EstimatorV2 computes "
            "exact expectation values. Give precision=... to rerun it with another precision."
        )
    precision = overrides.pop("precision", None)
    if precision is not None:
        if isinstance(precision, bool) or not isinstance(precision, (int, float)) \
                or precision < 0:
            raise JobStoreError(f"precision must be a number >= 0, not {precision!r}.")
        pubs = [EstimatorPub(p.circuit, p.observables, p.parameter_values, float(precision))
                for p in pubs]
    options["run_options"].update(overrides)
    options["default_precision"] = stored.get("default_precision", 0.0)
    estimator = EstimatorV2.from_backend(backend, options=options)
    if precision is None:
        precision = last.get("precision")
    return estimator.run(pubs, precision=precision, **names)
