"""Running a stored job again: what a job keeps so that its simulator can be rebuilt, and
``rerun``, which rebuilds it and runs the stored circuits with the stored options and seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .exceptions import JobStoreError

if TYPE_CHECKING:
    from .job import StoredAerJob

# Options of the run itself that the given backend of a rerun must still get: the physics.
_PHYSICS_OPTIONS = ("noise_model", "method", "seed_simulator")


def carry_physics(run_options: dict[str, Any], stored_backend_options: dict[str, Any]) -> None:
    """Give ``run_options`` the job's noise model, method and seed from its stored backend
    options, where they do not set their own (a rerun on a backend given by the user)."""
    for name in _PHYSICS_OPTIONS:
        if run_options.get(name) is None and stored_backend_options.get(name) is not None:
            run_options[name] = stored_backend_options[name]


def backend_setup(backend: Any) -> dict[str, Any] | None:
    """What ``AerSimulator.from_backend`` (or a custom configuration) gave a simulator beyond
    its options: configuration, properties and target. None for a plain simulator.

    Takes references only (it runs on the caller's path); they are pickled by the writer.
    """
    target = getattr(backend, "_target", None)
    properties = getattr(backend, "_properties", None)
    if target is None and properties is None:
        return None
    return {
        "configuration": getattr(backend, "_configuration", None),
        "properties": properties,
        "target": target,
    }


def rebuild_backend(job: StoredAerJob) -> Any:
    """A new store-enabled simulator like the one that ran ``job``: same class, options,
    noise model and, for ``from_backend`` simulators, same configuration and target."""
    from . import backends

    data = job._data()
    cls = backends.simulator_class(job.manifest.get("backend_class"))
    options = {k: v for k, v in data.get("backend_options", {}).items() if k in _settable(cls)}
    setup = {k: v for k, v in (data.get("backend_setup") or {}).items() if v is not None}
    return cls(**setup, **options)


def _settable(cls: Any) -> set[str]:
    return set(cls._default_options().__dict__) - {"executor"}


def rerun(job: StoredAerJob, backend: Any = None, **run_options: Any) -> Any:
    """Run ``job``'s circuits again; see :meth:`StoredAerJob.rerun`."""
    from .backends import is_store_enabled

    if job.primitive:
        from .primitives import rerun as rerun_primitive

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
