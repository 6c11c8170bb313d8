"""Running a stored job again: ``rerun`` rebuilds the simulator that ran it and runs the
stored circuits (or a primitive job's pubs) with the stored options and seed.

``RUNNER`` is what ``StoredAerJob.rerun()``, ``backend()`` and ``resume()`` call: the model
below asks for a ``job.Runner``, and this module, at the top of the execution layer,
provides it when the package is imported.
"""

from __future__ import annotations

from typing import Any

from qiskit.providers import JobError

from . import cluster, context, runtime
from .backends import carry_physics, is_store_enabled, rebuild_backend, simulator_class
from .compare import same_values
from .exceptions import JobStoreError
from .job import StoredAerJob, provide_runner
from .primitives import rerun as rerun_primitive


def rerun(job: StoredAerJob, backend: Any = None, **run_options: Any) -> Any:
    """Run ``job``'s circuits again; see :meth:`StoredAerJob.rerun`. The new job's manifest
    records ``rerun_of``: ``job``'s id."""
    with context.rerunning(job.job_id()):
        return _rerun(job, backend, **run_options)


def _rerun(job: StoredAerJob, backend: Any = None, **run_options: Any) -> Any:
    if job.manifest.get("client") == runtime.CLIENT:
        return runtime.rerun(job, backend, **run_options)
    if job.primitive:
        return rerun_primitive(job, backend, **run_options)
    data = job._data()
    circuits = data.get("circuits")
    if not circuits:
        raise JobStoreError(
            f"Aer job {job.job_id()} has no stored circuits to run again (status "
            f"{job.status().name})."
        )
    stored_backend_options = data.get("backend_options", {})
    options = dict(data.get("run_options", {}))
    options.pop("parameterizations", None)
    if backend is None:
        backend = rebuild_backend(job)
    else:  # the given backend keeps its own options, but the job's physics come along
        carry_physics(options, stored_backend_options)
    if (
        options.get("seed_simulator") is None
        and stored_backend_options.get("seed_simulator") is None
    ):
        seed = job.manifest.get("seed_simulator")  # the seed Aer drew for an unseeded job
        if seed is not None:
            options["seed_simulator"] = seed
    if is_store_enabled(backend):
        if job.name is not None:
            options.setdefault("job_name", job.name)
        if job.tags:
            options.setdefault("job_tags", job.tags)
    options.update(run_options)
    return backend.run(list(circuits), parameter_binds=data.get("parameter_binds"), **options)


def same_result(stored: Any, new: Any) -> bool:
    """Whether two results hold exactly the same data: a backend job's experiments (counts,
    memory, saved states), a sampler job's bitstrings, an estimator job's evs and stds.
    Times, seeds drawn and other metadata are not compared."""
    if hasattr(stored, "results") and hasattr(new, "results"):
        return len(stored.results) == len(new.results) and all(
            same_values(a.data.to_dict(), b.data.to_dict())
            for a, b in zip(stored.results, new.results)
        )
    try:
        old_pubs, new_pubs = list(stored), list(new)
    except TypeError:
        return False
    return len(old_pubs) == len(new_pubs) and all(
        same_values(_fields(a.data), _fields(b.data)) for a, b in zip(old_pubs, new_pubs)
    )


def _fields(data: Any) -> dict[str, Any]:
    return {key: getattr(data, key) for key in data.keys()} if hasattr(data, "keys") else {}


class _Runner:
    """The ``job.Runner`` of the store-enabled simulators."""

    @staticmethod
    def simulator(job: StoredAerJob) -> Any:
        device = job.manifest.get("runtime")
        if isinstance(device, dict):  # qiskit-ibm-runtime's local mode ran it on this fake
            fake = runtime.fake_backend(device.get("backend"))
            if fake is not None:
                return fake
        try:
            return rebuild_backend(job)
        except (JobError, JobStoreError):  # nothing but its manifest is stored (yet)
            return simulator_class(job.manifest.get("backend_class"))()

    rerun = staticmethod(rerun)
    resume = staticmethod(cluster.resume)


RUNNER = _Runner()
provide_runner(RUNNER)
