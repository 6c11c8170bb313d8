"""Store-enabled ``SamplerV2`` and ``EstimatorV2``: Aer's primitives, each job saved as one.

>>> from qiskit_aer_jobstore.primitives import SamplerV2
>>> job = SamplerV2(seed=7).run([circuit], shots=1000, job_tags=["paper"])
>>> AerSimulator().retrieve_job(job.job_id()).result()   # the PrimitiveResult, any session

A primitive job is stored under its own ``job_id()`` with its pubs, options and
``PrimitiveResult``, and listed with ``primitive="sampler"`` or ``"estimator"``. The backend
jobs it runs underneath are not saved (they would list the same work twice).
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

from . import settings
from .backends import carry_physics, rebuild_backend
from .exceptions import JobStoreError, JobStoreWarning
from .record import JobRecord
from .stages import saving_suppressed
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
        return manifest

    def payload(self) -> dict[str, Any]:
        payload = super().payload()
        payload["pubs"] = list(self.pubs)
        payload["primitive_options"] = self.primitive_options
        return payload


@dataclass
class _Pending:
    """What ``run`` decided about saving one primitive job, carried to its thread."""

    store: JobStore | None
    job_name: str | None
    job_tags: list[str]
    run_options: dict[str, Any]
    job_id: str = ""
    creation_date: Any = field(default_factory=utcnow)


class _StoredPrimitive:
    """What the store-enabled Sampler and Estimator share."""

    _primitive = ""
    save_jobs: bool | None = None

    def _submit(
        self,
        pubs: list[Any],
        run_options: dict[str, Any],
        job_name: str | None,
        job_tags: Iterable[str] | None,
    ) -> PrimitiveJob:
        if job_name is not None and not isinstance(job_name, str):
            raise JobStoreError(f"job_name must be a string, not {type(job_name).__name__}.")
        tags = [job_tags] if isinstance(job_tags, str) else list(job_tags or [])
        if not all(isinstance(t, str) for t in tags):
            raise JobStoreError(f"job_tags must be a list of strings, got {job_tags!r}.")
        save = settings.save_jobs_default() if self.save_jobs is None else bool(self.save_jobs)
        pending = _Pending(JobStore.default() if save else None, job_name, tags, run_options)
        job = PrimitiveJob(self._run_and_save, pubs, pending)
        pending.job_id = job.job_id()
        job._submit()
        return job

    def _run_and_save(self, pubs: list[Any], pending: _Pending) -> PrimitiveResult:
        with saving_suppressed():
            try:
                result = self._run(pubs)
            except Exception as exc:
                self._save(pubs, pending, None, f"{type(exc).__name__}: {exc}")
                raise
        self._save(pubs, pending, result)
        return result

    def _save(
        self,
        pubs: list[Any],
        pending: _Pending,
        result: PrimitiveResult | None,
        error: str | None = None,
    ) -> None:
        if pending.store is None:
            return
        try:
            options = dataclasses.asdict(self.options)
            options.update(self._extra_options())
            record = PrimitiveRecord.from_backend(
                self._backend,
                job_id=pending.job_id,
                circuits=[pub.circuit for pub in pubs],
                run_options=pending.run_options,
                result=result,
                error=error,
                status="ERROR" if error is not None else "DONE",
                creation_date=pending.creation_date,
                job_name=pending.job_name,
                job_tags=pending.job_tags,
                primitive=self._primitive,
                pubs=list(pubs),
                primitive_options=options,
            )
            pending.store.save_later(record)
        except Exception as exc:  # never lose a live result to the store
            warnings.warn(
                f"{self._primitive} job {pending.job_id} was not saved: {exc}",
                JobStoreWarning,
                stacklevel=2,
            )

    def _extra_options(self) -> dict[str, Any]:
        return {}


class SamplerV2(_StoredPrimitive, _AerSamplerV2):
    """``qiskit_aer.primitives.SamplerV2`` whose every job is saved to the local job store.

    Args:
        default_shots: shots for pubs that give none.
        seed: the simulator seed (None: random).
        options: ``backend_options`` and ``run_options``, as for Aer's ``SamplerV2``.
        save_jobs: save this sampler's jobs (None: the global setting, on by default).
    """

    _primitive = "sampler"

    def __init__(
        self,
        *,
        default_shots: int = 1024,
        seed: int | None = None,
        options: dict | None = None,
        save_jobs: bool | None = None,
    ):
        super().__init__(default_shots=default_shots, seed=seed, options=options)
        self.save_jobs = save_jobs

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
            PrimitiveJob: its ``job_id()`` is the stored job's id.
        """
        if shots is None:
            shots = self._default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        self._validate_pubs(coerced)
        run_options = {**self.options.run_options, "shots": shots}
        if self._seed is not None:
            run_options["seed_simulator"] = self._seed
        return self._submit(coerced, run_options, job_name, job_tags)

    def _extra_options(self) -> dict[str, Any]:
        return {"default_shots": self._default_shots, "seed": self._seed}


class EstimatorV2(_StoredPrimitive, _AerEstimatorV2):
    """``qiskit_aer.primitives.EstimatorV2`` whose every job is saved to the local job store.

    Args:
        options: ``default_precision``, ``backend_options`` and ``run_options``, as for Aer's
            ``EstimatorV2``.
        save_jobs: save this estimator's jobs (None: the global setting, on by default).
    """

    _primitive = "estimator"

    def __init__(self, *, options: dict | None = None, save_jobs: bool | None = None):
        super().__init__(options=options)
        self.save_jobs = save_jobs

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
            PrimitiveJob: its ``job_id()`` is the stored job's id.
        """
        if precision is None:
            precision = self._options.default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        self._validate_pubs(coerced)
        run_options = {**self.options.run_options, "precision": precision}
        return self._submit(coerced, run_options, job_name, job_tags)


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
