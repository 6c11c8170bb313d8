"""Where pieces run: any ``concurrent.futures.Executor`` or a ``dask.distributed.Client``.

What is shipped to a worker is picklable and small: the piece's circuits, binds and run
options, and a :class:`SimulatorSpec` (the simulator's class and state without its C++
controller, live executor or store hooks) from which the worker builds a fresh plain Aer
simulator. Workers never touch the store: results come back to the client, which saves them
(workers need neither the store's folder nor its signing key).
"""

from __future__ import annotations

import concurrent.futures
import copy
import os
import secrets
import socket
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any

from ..exceptions import JobStoreError

# Options that steer splitting and placement: never shipped to workers nor given to Aer.
SWEEP_OPTIONS = ("executor", "max_job_size", "max_shot_size")


@dataclass
class SimulatorSpec:
    """A picklable recipe for a fresh simulator equal to the one the job was run on."""

    cls: type
    state: dict[str, Any]

    @classmethod
    def of(cls, backend: Any) -> SimulatorSpec:
        aer_cls = next(
            (c for c in type(backend).__mro__ if c.__module__.startswith("qiskit_aer.")),
            type(backend),
        )
        state = {
            key: value
            for key, value in backend.__dict__.items()
            if key not in ("_controller", "_provider") and not key.startswith("_jobstore")
        }
        options = copy.copy(backend._options)
        options.update_options(**{k: None for k in SWEEP_OPTIONS if hasattr(options, k)})
        state["_options"] = options
        return cls(aer_cls, state)

    def build(self) -> Any:
        with warnings.catch_warnings():  # QasmSimulator & co. warn of their deprecation
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            backend = self.cls()  # a fresh controller of its own
        backend.__dict__.update(self.state)
        return backend


@dataclass
class PieceTask:
    """What a worker needs to run one piece."""

    job_id: str
    circuits: list
    parameter_binds: Any
    run_options: dict[str, Any]


def worker_name() -> str:
    """The Dask worker's address, else ``host:pid:thread``."""
    dist = sys.modules.get("distributed")
    if dist is not None:
        try:
            return dist.get_worker().address
        except ValueError:
            pass
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


def run_piece(spec: SimulatorSpec, task: PieceTask) -> tuple[Any, dict[str, Any]]:
    """Run one piece on a fresh simulator (on the worker). Returns ``(Result, info)``."""
    started = time.time()
    backend = spec.build()
    result = backend._execute_circuits_job(
        list(task.circuits), task.parameter_binds, dict(task.run_options), task.job_id
    )
    return result, {
        "worker": worker_name(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "start_time": started,
        "end_time": time.time(),
    }


def is_dask_client(executor: Any) -> bool:
    dist = sys.modules.get("distributed")
    return dist is not None and isinstance(executor, dist.Client)


def check_executor(executor: Any) -> Any:
    if executor is None or isinstance(executor, concurrent.futures.Executor):
        return executor
    if is_dask_client(executor):
        return executor
    raise JobStoreError(
        f"executor must be a concurrent.futures.Executor (ThreadPoolExecutor, "
        f"ProcessPoolExecutor) or a dask.distributed.Client, not {type(executor).__name__}."
    )


def describe_executor(executor: Any) -> dict[str, Any]:
    """Where pieces ran, for the manifest: the executor's kind and address, never itself."""
    kind = f"{type(executor).__module__}.{type(executor).__qualname__}"
    if is_dask_client(executor):
        address = getattr(executor.scheduler, "address", None)
        return {"kind": kind, "address": address}
    return {
        "kind": kind,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "max_workers": getattr(executor, "_max_workers", None),
    }


class Runner:
    """Submits pieces to one executor; futures of either kind have ``result``, ``cancel``
    and ``add_done_callback``."""

    def __init__(self, executor: Any):
        self.executor = executor
        self.dask = is_dask_client(executor)
        self._token = secrets.token_hex(4)

    def submit(self, spec: Any, task: PieceTask, index: int) -> Any:
        if self.dask:
            key = f"aer-piece-{task.job_id}-{index}-{self._token}"
            return self.executor.submit(run_piece, spec, task, key=key, pure=False)
        return self.executor.submit(run_piece, spec, task)
