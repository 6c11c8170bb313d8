"""Running jobs on an executor, split into pieces: Aer's documented ``executor``,
``max_job_size`` and ``max_shot_size`` options, honoured by the store-enabled backends.

- ``executor``: a ``concurrent.futures.Executor`` (thread or process pool) or a
  ``dask.distributed.Client``; pieces run there and ``job.executor()`` returns it.
- ``max_job_size=N``: sub-jobs of at most ``N`` circuits; ``max_shot_size=S``: each
  circuit's shots in parts of at most ``S``.

Without any of the three, a job runs exactly as Aer runs it. With any of them it becomes a
:class:`SweepJob`: one stored job whose pieces are saved as they land, which
``StoredAerJob.resume()`` can finish after a crash. See :mod:`.plan` for the seeds.
"""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any, NamedTuple

from qiskit.providers import JobError, JobStatus

from ..exceptions import JobStoreError
from . import journal
from .plan import (
    experiments_per_circuit,
    has_save_instructions,
    make_plan,
    positive_int_or_none,
    random_seed,
)
from .runner import SWEEP_OPTIONS, SimulatorSpec, check_executor
from .sweep import SweepJob, sweep_info

__all__ = ["Progress", "SweepJob", "progress", "resume", "submit_sweep", "wants_sweep"]


class Progress(NamedTuple):
    """Pieces of a job: finished, in all, failed."""

    done: int
    total: int
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.done}/{self.total} done" + (f", {self.failed} failed" if self.failed else "")


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
        ctx: the ``mixin.SaveContext`` saying where to save the job (None: not saved).
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


def _stored_pieces(stored: Any) -> list[dict[str, Any]]:
    sweep = stored.manifest.get("sweep")
    return list(sweep.get("pieces") or []) if isinstance(sweep, dict) else []


def sub_jobs(stored: Any) -> list[dict[str, Any]]:
    """A stored job's pieces as last saved, updated with the pieces saved since."""
    pieces = _stored_pieces(stored)
    if stored.status() is not JobStatus.DONE and pieces:
        saved = journal.read_pieces(stored._store, stored.job_id(), results=False)
        for entry in pieces:
            if entry["index"] in saved:
                entry.update(saved[entry["index"]]["info"])
    return pieces


def progress(stored: Any) -> Progress:
    """``Progress(done, total, failed)`` of a stored job (a job not split is one piece)."""
    pieces = sub_jobs(stored)
    if not pieces:
        status = stored.status()
        return Progress(int(status is JobStatus.DONE), 1, int(status is JobStatus.ERROR))
    states = [p.get("status") for p in pieces]
    return Progress(states.count("DONE"), len(pieces), states.count("ERROR"))


def resume(stored: Any, executor: Any = None) -> SweepJob:
    """Run the pieces of a stored job that are not saved yet; see ``StoredAerJob.resume``."""
    from ..mixin import SaveContext
    from .plan import Piece

    executor = check_executor(executor)
    if stored.status() is JobStatus.DONE:
        job = SweepJob(stored.backend(), stored.job_id(), [], None, {}, executor, [], None)
        job._future = _done_future(stored.result())
        return job
    pieces = _stored_pieces(stored)
    if not pieces:
        raise JobError(
            f"Aer job {stored.job_id()} was not run in pieces (no executor=, max_job_size= "
            "or max_shot_size=), so there is nothing to resume; run its circuits again instead."
        )
    _refuse_if_still_running(stored)
    data = stored._data()
    store = stored._store
    plan = [Piece.from_json(p) for p in pieces]
    done = journal.read_pieces(store, stored.job_id())
    spec = data.get("simulator") or SimulatorSpec.of(stored.backend())
    sweep = {k: v for k, v in stored.manifest["sweep"].items() if k != "pieces"}
    if executor is not None:
        sweep["executor"] = sweep_info(executor, None, None, 0)["executor"]
    ctx = SaveContext(store, stored.name, stored.tags, stored.creation_date())
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
    if manifest.get("host") != socket.gethostname() or not isinstance(pid, int):
        return
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    except PermissionError:
        pass
    raise JobError(
        f"Aer job {stored.job_id()} is still running in process {pid} on this host: wait for "
        "it (progress() follows it), or end that process and then resume()."
    )


def _done_future(result: Any) -> Any:
    from concurrent.futures import Future

    future: Future = Future()
    future.set_running_or_notify_cancel()
    future.set_result(result)
    return future
