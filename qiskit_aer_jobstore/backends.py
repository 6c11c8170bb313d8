"""Drop-in store-enabled simulators, rebuilding the simulator of a stored job,
``enable()`` / ``disable()``, and ``execute``."""

from __future__ import annotations

import functools
from typing import Any

import qiskit_aer
from qiskit import transpile
from qiskit_aer.backends.aerbackend import AerBackend

from .exceptions import JobStoreError
from .grafting import Grafts
from .job import StoredAerJob
from .mixin import (
    JobStoreMixin,
    StoreMethods,
    attach_context,
    execute_and_save,
    intercept_option,
    run_or_reuse,
)


class AerSimulator(JobStoreMixin, qiskit_aer.AerSimulator):
    """``qiskit_aer.AerSimulator`` that saves every job to the local job store."""


class QasmSimulator(JobStoreMixin, qiskit_aer.QasmSimulator):
    """``qiskit_aer.QasmSimulator`` that saves every job to the local job store."""


class StatevectorSimulator(JobStoreMixin, qiskit_aer.StatevectorSimulator):
    """``qiskit_aer.StatevectorSimulator`` that saves every job to the local job store."""


class UnitarySimulator(JobStoreMixin, qiskit_aer.UnitarySimulator):
    """``qiskit_aer.UnitarySimulator`` that saves every job to the local job store."""


SIMULATORS = {cls.__name__: cls for cls in (AerSimulator, QasmSimulator, StatevectorSimulator,
                                            UnitarySimulator)}


def simulator_class(backend_class: str | None) -> type:
    """The store-enabled simulator class named by a manifest's ``backend_class`` (any module:
    ours or Aer's), or ``AerSimulator``. Only these four classes can come out: a manifest is
    read without trust, so its name must never pick any other attribute to call."""
    name = backend_class.rsplit(".", 1)[-1] if isinstance(backend_class, str) else ""
    return SIMULATORS.get(name, AerSimulator)


# Options of the run itself that the given backend of a rerun must still get: the physics.
_PHYSICS_OPTIONS = ("noise_model", "method", "seed_simulator")


def carry_physics(run_options: dict[str, Any], stored_backend_options: dict[str, Any]) -> None:
    """Give ``run_options`` the job's noise model, method and seed from its stored backend
    options, where they do not set their own (a rerun on a backend given by the user)."""
    for name in _PHYSICS_OPTIONS:
        if run_options.get(name) is None and stored_backend_options.get(name) is not None:
            run_options[name] = stored_backend_options[name]


def rebuild_backend(job: StoredAerJob) -> Any:
    """A new store-enabled simulator like the one that ran ``job``: same class, options,
    noise model and, for ``from_backend`` simulators, same configuration and target."""
    data = job._data()
    cls = simulator_class(job.manifest.get("backend_class"))
    options = {k: v for k, v in data.get("backend_options", {}).items() if k in _settable(cls)}
    setup = {k: v for k, v in (data.get("backend_setup") or {}).items() if v is not None}
    return cls(**setup, **options)


def _settable(cls: Any) -> set[str]:
    return set(cls._default_options().__dict__) - {"executor"}


# -- enable() / disable(): the same hooks grafted onto Aer's own base class --------------
_grafted = Grafts()
_STORE_ATTRS = ("job_store", "local_jobs", "remote_jobs", "jobs", "retrieve_job", "delete_job",
                "_jobstore_save_jobs", "_jobstore_reuse_results")


def _grafts() -> dict[str, Any]:
    run_circuits = AerBackend._run_circuits
    execute_job = AerBackend._execute_circuits_job
    set_option = AerBackend.set_option

    @functools.wraps(run_circuits)
    def _run_circuits(self, circuits, parameter_binds, **run_options):
        run_options = attach_context(self, run_options)
        return run_or_reuse(self, functools.partial(run_circuits, self), circuits,
                            parameter_binds, run_options)

    @functools.wraps(execute_job)
    def _execute_circuits_job(self, circuits, parameter_binds, run_options, job_id="",
                              format_result=True):
        return execute_and_save(self, functools.partial(execute_job, self), circuits,
                                parameter_binds, run_options, job_id, format_result)

    @functools.wraps(set_option)
    def _set_option(self, key, value):
        if not intercept_option(self, key, value):
            set_option(self, key, value)

    grafts = {"_run_circuits": _run_circuits, "_execute_circuits_job": _execute_circuits_job,
              "set_option": _set_option}
    for name in _STORE_ATTRS:
        grafts[name] = StoreMethods.__dict__[name]
    return grafts


def enabled() -> bool:
    """Whether Aer's own simulators are store-enabled (``enable()`` is in force)."""
    return bool(_grafted)


def enable() -> None:
    """Make Aer's own simulators store-enabled (``qiskit_aer_jobstore.enable()`` does this and
    more: primitives, qiskit-ibm-runtime's local mode). ``disable()`` undoes it exactly."""
    with _grafted.lock:
        if not _grafted:
            for name, value in _grafts().items():
                _grafted.set(AerBackend, name, value)


def disable() -> None:
    """Restore Aer's simulators exactly as they were before ``enable()``."""
    with _grafted.lock:
        _grafted.restore()


def is_store_enabled(backend: Any) -> bool:
    return isinstance(backend, JobStoreMixin) or (enabled() and isinstance(backend, AerBackend))


_TRANSPILE_OPTIONS = ("basis_gates", "coupling_map", "initial_layout", "layout_method",
                      "routing_method", "optimization_level", "seed_transpiler",
                      "scheduling_method", "translation_method", "approximation_degree")


def execute(circuits, backend, save_jobs: bool | None = True, **run_options: Any):
    """Transpile ``circuits`` for ``backend`` and run them: ``qiskit.execute`` for Qiskit 2.x.

    Args:
        circuits: a ``QuantumCircuit`` or a list of them.
        backend: a store-enabled simulator (``qiskit_aer_jobstore.AerSimulator``, or any Aer
            simulator after ``enable()``).
        save_jobs: save this job to the store (None: the backend's / global setting).
        run_options: transpiler options (``optimization_level``, ``seed_transpiler``,
            ``basis_gates``, ``coupling_map``, ``initial_layout``, ...) and run options
            (``shots``, ``seed_simulator``, ``parameter_binds``, ``job_name``, ``job_tags``,
            ...).

    Returns:
        AerJob: the running job.

    Raises:
        JobStoreError: ``save_jobs=True`` on a backend that cannot save jobs.
    """
    if save_jobs and not is_store_enabled(backend):
        raise JobStoreError(
            f"Cannot save jobs of {backend!r}: it is not store-enabled. Use "
            "qiskit_aer_jobstore.AerSimulator (or AerSimulator.from_backend(...)), or call "
            "qiskit_aer_jobstore.enable() first."
        )
    transpile_options = {k: run_options.pop(k) for k in _TRANSPILE_OPTIONS if k in run_options}
    compiled = transpile(circuits, backend, **transpile_options)
    if is_store_enabled(backend):
        run_options["save_jobs"] = save_jobs
    return backend.run(compiled, **run_options)
