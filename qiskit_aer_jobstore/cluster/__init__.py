"""Running jobs on an executor, split into pieces: Aer's documented ``executor``,
``max_job_size`` and ``max_shot_size`` options, honoured by the store-enabled backends.

- ``executor``: a ``concurrent.futures.Executor`` (thread or process pool) or a
  ``dask.distributed.Client``; pieces run there and ``job.executor()`` returns it.
- ``max_job_size=N``: sub-jobs of at most ``N`` circuits; ``max_shot_size=S``: each
  circuit's shots in parts of at most ``S``.

Without any of the three, a job runs exactly as Aer runs it. With any of them it becomes a
:class:`SweepJob`: one stored job whose pieces are saved as they land, which
``StoredAerJob.resume()`` can finish after a crash. See :mod:`.plan` for the seeds; the
pieces are saved by :mod:`qiskit_aer_jobstore.pieces`.
"""

from __future__ import annotations

import uuid
from concurrent.futures import Future
from typing import Any

from qiskit.providers import JobError, JobStatus

from .. import pieces as journal
from .. import reuse
from ..exceptions import JobStoreError
from ..pieces import Progress
from ..process import is_this_host, process_alive
from ..stages import SaveContext
from .plan import (
    Piece,
    experiments_per_circuit,
    has_save_instructions,
    make_plan,
    positive_int_or_none,
    random_seed,
)
from .runner import SWEEP_OPTIONS, SimulatorSpec, check_executor
from .sweep import SweepJob, sweep_info

__all__ = ["Progress", "SweepJob", "resume", "submit_sweep", "wants_sweep"]


def _option(backend: Any, run_options: dict[str, Any], name: str) -> Any:
    if run_options.get(name) is not None:
        return run_options[name]
    return getattr(backend.options, name, None)


def wants_sweep(backend: Any, run_options: dict[str, Any]) -> bool:
    """Whether the job asks for an executor or a split (else Aer runs it as usual)."""
    return any(_option(backend, run_options, name) is not None for name in SWEEP_OPTIONS)


def submit_sweep(
    backend: Any,
    circuits: list,
    parameter_binds: Any,
    run_options: dict[str, Any],
    ctx: Any = None,
) -> SweepJob:
    """Plan the pieces of a job and start running them; returns the submitted SweepJob.

    Args:
        backend: the simulator the job was run on.
        circuits: the job's circuits.
        parameter_binds: one bind dictionary per circuit, or None.
        run_options: the run options (ours taken out), executor and split sizes included.
        ctx: the ``stages.SaveContext`` saying where to save the job (None: not saved).
    """
    run_options = dict(run_options)
    executor = check_executor(_option(backend, run_options, "executor"))
    max_job_size = positive_int_or_none(
        _option(backend, run_options, "max_job_size"), "max_job_size"
    )
    max_shot_size = positive_int_or_none(
        _option(backend, run_options, "max_shot_size"), "max_shot_size"
    )
    circuits = list(circuits)
    if not circuits:
        raise JobStoreError("No circuits to run.")
    experiments = experiments_per_circuit(circuits, parameter_binds)
    shots = int(_option(backend, run_options, "shots") or 1024)
    if max_shot_size and shots > max_shot_size and has_save_instructions(circuits):
        raise JobStoreError(
            "max_shot_size cannot split circuits with save instructions (save_statevector, "
            "save_expectation_value, ...): their results cannot be summed over shot parts. "
            "Use max_job_size only."
        )
    seed = _option(backend, run_options, "seed_simulator")
    seed = random_seed() if seed is None else int(seed)
    plan = make_plan(experiments, shots, seed, max_job_size, max_shot_size)
    job = SweepJob(
        backend,
        str(uuid.uuid4()),
        circuits,
        parameter_binds,
        run_options,
        executor,
        plan,
        SimulatorSpec.of(backend),
        ctx,
        sweep_info(executor, max_job_size, max_shot_size, seed),
    )
    job.submit()
    return job


def resume(stored: Any, executor: Any = None) -> SweepJob:
    """Run the pieces of a stored job that are not saved yet; see ``StoredAerJob.resume``."""
    executor = check_executor(executor)
    if stored.status() is JobStatus.DONE:
        job = SweepJob(stored.backend(), stored.job_id(), [], None, {}, executor, [], None)
        job._future = _done_future(stored.result())
        return job
    sweep = stored.manifest.get("sweep")
    pieces = list(sweep.get("pieces") or []) if isinstance(sweep, dict) else []
    if not pieces:
        raise JobError(
            f"Aer job {stored.job_id()} was not run in pieces (no executor=, max_job_size= "
            "or max_shot_size=), so there is nothing to resume; run its circuits again instead."
        )
    _refuse_if_still_running(stored)
    data = stored._data()
    store = stored.store
    plan = [Piece.from_json(p) for p in pieces]
    done = journal.read_pieces(store, stored.job_id())
    spec = data.get("simulator") or SimulatorSpec.of(stored.backend())
    sweep = {k: v for k, v in stored.manifest["sweep"].items() if k != "pieces"}
    if executor is not None:
        sweep["executor"] = sweep_info(executor, None, None, 0)["executor"]
    ctx = SaveContext(store, stored.name, stored.tags, stored.creation_date(),
                      session_id=stored.session_id, reuse=reuse.mode(stored.backend(), None))
    run_options = {k: v for k, v in data["run_options"].items() if k != "executor_kind"}
    job = SweepJob(
        stored.backend(),
        stored.job_id(),
        data["circuits"],
        data["parameter_binds"],
        run_options,
        executor,
        plan,
        spec,
        ctx,
        sweep,
        done,
    )
    job.submit()
    return job


def _refuse_if_still_running(stored: Any) -> None:
    """Resuming a sweep that a live process on this host is still running would run it twice."""
    manifest = stored.manifest
    if manifest.get("status") not in ("QUEUED", "RUNNING"):
        return
    pid = manifest.get("pid")
    if not is_this_host(manifest.get("host")) or not process_alive(pid):
        return
    raise JobError(
        f"Aer job {stored.job_id()} is still running in process {pid} on this host: wait for "
        "it (progress() follows it), or end that process and then resume()."
    )


def _done_future(result: Any) -> Any:
    future: Future = Future()
    future.set_running_or_notify_cancel()
    future.set_result(result)
    return future
