"""``SweepJob``: a job split into pieces that run on an executor, saved piece by piece.

A coordinator thread on the client submits the missing pieces, collects each one as it lands
(saving it at once to the piece journal), and when all are in, merges them into one
``Result`` and saves the parent job ``DONE``. A piece that fails for good (its worker died
beyond the executor's retries, a broken process pool, an exception) is recorded with the
reason; the parent then ends ``ERROR`` and ``resume()`` runs only what is missing.
"""

from __future__ import annotations

import pickle
import queue
import threading
import time
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import Any

from qiskit.providers import JobError, JobStatus
from qiskit_aer.jobs import AerJob

from .. import reuse
from ..pieces import Progress
from ..record import JobRecord
from .plan import Piece, merge_results
from .runner import SWEEP_OPTIONS, PieceTask, Runner, SimulatorSpec, describe_executor


@dataclass
class SweepRecord(JobRecord):
    """A parent job's record: its payload also keeps the simulator spec, for ``resume()``."""

    simulator: Any = None

    def payload(self) -> dict[str, Any]:
        payload = super().payload()
        payload["simulator"] = self.simulator
        return payload


class SweepJob(AerJob):
    """An ``AerJob`` run as pieces on ``executor()``; ``result()`` is the merged ``Result``.

    Besides ``AerJob``'s methods: ``progress()`` and ``sub_jobs()``. Built by
    ``backend.run`` (through :func:`~qiskit_aer_jobstore.cluster.submit_sweep`) and by
    ``StoredAerJob.resume()``, not by hand.

    Args:
        backend: the store-enabled backend the job was run on.
        job_id: the parent job's id (its pieces' results are merged under it).
        circuits: all circuits of the job.
        parameter_binds: one bind dictionary per circuit, or None.
        run_options: the run options as given (executor and split sizes included).
        executor: where pieces run (None: Aer's default one-thread executor).
        plan: the pieces.
        spec: the simulator the pieces are run on.
        ctx: where and under which name and tags to save (None: not saved).
        sweep: the ``sweep`` manifest field (executor, split sizes, seed).
        done: pieces already saved, ``{index: {"info": ..., "result": ...}}``.
    """

    def __init__(
        self,
        backend: Any,
        job_id: str,
        circuits: list,
        parameter_binds: Any,
        run_options: dict[str, Any],
        executor: Any,
        plan: list[Piece],
        spec: SimulatorSpec,
        ctx: Any = None,
        sweep: dict[str, Any] | None = None,
        done: dict[int, dict[str, Any]] | None = None,
    ):
        super().__init__(
            backend,
            job_id,
            None,
            circuits=circuits,
            parameter_binds=parameter_binds,
            run_options=run_options,
            executor=executor,
        )
        self._plan = plan
        self._spec = spec
        self._ctx = ctx
        self._sweep = dict(sweep or {})
        self._info: dict[int, dict[str, Any]] = {p.index: {"status": "QUEUED"} for p in plan}
        self._results: dict[int, Any] = {}
        for index, entry in (done or {}).items():
            if entry.get("result") is not None:
                self._results[index] = entry["result"]
                self._info[index] = dict(entry["info"], status="DONE")
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    # -- AerJob API --------------------------------------------------------------------
    def submit(self) -> None:
        if self._future is not None:
            raise JobError("Aer job has already been submitted.")
        self._future = Future()
        warm_pickle_caches((self._circuits, self._parameter_binds, self._spec))
        threading.Thread(target=self._coordinate, name=f"aer-sweep-{self._job_id}").start()

    def status(self) -> JobStatus:
        if self._future is None:
            return JobStatus.INITIALIZING
        if not self._future.done():
            return JobStatus.RUNNING
        exc = self._future.exception()
        if isinstance(exc, CancelledError):
            return JobStatus.CANCELLED
        return JobStatus.ERROR if exc is not None else JobStatus.DONE

    def cancel(self) -> bool:
        """Cancel the pieces not yet finished; the job ends ``CANCELLED`` (``resume()`` can
        finish it later). False if the job had already finished."""
        if self._future is None or self._future.done():
            return False
        self._cancel.set()
        return True

    # -- sweep API ---------------------------------------------------------------------
    def progress(self) -> Any:
        """``Progress(done, total, failed)`` in pieces."""
        with self._lock:
            states = [info.get("status") for info in self._info.values()]
        return Progress(states.count("DONE"), len(self._plan), states.count("ERROR"))

    def sub_jobs(self) -> list[dict[str, Any]]:
        """Each piece: circuits ``[start, stop)``, shots, seed, status, worker, times, error."""
        with self._lock:
            return [dict(p.to_json(), **self._info[p.index]) for p in self._plan]

    # -- the coordinator (client side) -------------------------------------------------
    def _task(self, piece: Piece) -> PieceTask:
        options = {k: v for k, v in self._run_options.items() if k not in SWEEP_OPTIONS}
        options["seed_simulator"] = piece.seed
        if piece.shots is not None:
            options["shots"] = piece.shots
        binds = self._parameter_binds[piece.start : piece.stop] if self._parameter_binds else None
        return PieceTask(self._job_id, self._circuits[piece.start : piece.stop], binds, options)

    def _coordinate(self) -> None:
        future = self._future
        future.set_running_or_notify_cancel()
        start = time.time()
        error = None
        try:
            self._save("RUNNING")
            missing = self._reuse_pieces([p for p in self._plan if p.index not in self._results])
            if missing:
                self._run_pieces(missing)
        except BaseException as exc:  # coordination itself failed: report, never hang
            if not self._cancel.is_set():  # after a cancel (pool shut down, ...) it ends CANCELLED
                error = f"{type(exc).__name__}: {exc}"
        self._finish(time.time() - start, error)

    def _reuse_pieces(self, pieces: list[Piece]) -> list[Piece]:
        """With ``reuse_results``, take each piece identical to a stored job (same circuits,
        binds, options, seed and shots) from the store; the pieces left to run."""
        ctx = self._ctx
        if ctx is None or getattr(ctx, "reuse", None) is None:
            return pieces
        left = []
        for piece in pieces:
            task = self._task(piece)
            try:
                found = reuse.piece_result(ctx.store, self._backend, task.circuits,
                                           task.parameter_binds, task.run_options,
                                           self._job_id, SWEEP_OPTIONS)
            except Exception:  # noqa: BLE001 - the store never stops a run: it runs instead
                found = None
            if found is None:
                left.append(piece)
                continue
            source, result = found
            now = time.time()
            info = {"status": "DONE", "reused_from": source, "start_time": now,
                    "end_time": now, "time_taken": 0.0}
            with self._lock:
                self._results[piece.index] = result
            self._set_info(piece, info)
            self._save_piece(piece, info, result)
        return left

    def _run_pieces(self, pieces: list[Piece]) -> None:
        runner = Runner(self._executor)
        spec = self._spec  # in each task, not scattered: scattered data dies with its worker
        landed: queue.Queue = queue.Queue()
        handles = {}
        for piece in pieces:
            if self._cancel.is_set():  # cancelled while submitting: submit no more
                break
            handle = runner.submit(spec, self._task(piece), piece.index)
            handles[handle] = piece
            handle.add_done_callback(landed.put)
        pending = set(handles)
        while pending:
            if self._cancel.is_set():
                for handle in pending:
                    handle.cancel()
                for handle in pending:
                    self._set_info(handles[handle], {"status": "CANCELLED"})
                return
            try:
                handle = landed.get(timeout=0.1)
            except queue.Empty:
                continue
            if handle in pending:
                pending.discard(handle)
                self._collect(handles[handle], handle)

    def _collect(self, piece: Piece, handle: Any) -> None:
        try:
            result, info = handle.result()
        except CancelledError as exc:
            if self._cancel.is_set():
                self._set_info(piece, {"status": "CANCELLED"})
                return
            info = {"status": "ERROR", "error": f"cancelled by the executor: {exc!r}"}
            self._set_info(piece, info)
            self._save_piece(piece, info, None)
            return
        except BaseException as exc:
            info = {"status": "ERROR", "error": f"{type(exc).__name__}: {exc}"}
            self._set_info(piece, info)
            self._save_piece(piece, info, None)
            return
        info = dict(info, status="DONE", time_taken=info["end_time"] - info["start_time"])
        with self._lock:
            self._results[piece.index] = result
        self._set_info(piece, info)
        self._save_piece(piece, info, result)

    def _set_info(self, piece: Piece, info: dict[str, Any]) -> None:
        with self._lock:
            self._info[piece.index] = info

    def _finish(self, wall: float, error: str | None) -> None:
        future = self._future
        failed = {
            i: info
            for i, info in self._info.items()
            if i not in self._results and info.get("status") != "CANCELLED"
        }
        if error is None and self._cancel.is_set() and len(self._results) < len(self._plan):
            with self._lock:
                for index, info in self._info.items():
                    if index not in self._results and info.get("status") in ("QUEUED", "RUNNING"):
                        self._info[index] = {"status": "CANCELLED"}
            self._save(
                "CANCELLED",
                error="Cancelled before all pieces finished; resume() runs the missing ones.",
            )
            future.set_exception(CancelledError())
            return
        if error is None and failed:
            error = (
                f"{len(failed)} of {len(self._plan)} pieces failed: "
                + "; ".join(
                    f"piece {i}: {info.get('error') or 'not run'}"
                    for i, info in sorted(failed.items())
                )
                + ". resume() runs the failed and missing pieces again."
            )
        result = None
        if error is None:
            try:
                result = merge_results(self._plan, self._results, self._job_id, wall)
            except Exception as exc:
                error = f"Merging the pieces failed: {type(exc).__name__}: {exc}"
        if error is not None:
            self._save("ERROR", error=error)
            future.set_exception(JobError(f"Aer job {self._job_id}: {error}"))
            return
        self._save("DONE", result=result)
        future.set_result(result)

    # -- saving (on the background writer, in order) -----------------------------------
    def _save_piece(self, piece: Piece, info: dict[str, Any], result: Any) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        ctx.store.hand_over("piece", self._job_id, self._backend.name, piece.to_json(), info,
                            result, describe=f"Piece {piece.index} of Aer job {self._job_id}")

    def _save(self, status: str, result: Any = None, error: str | None = None) -> None:
        ctx = self._ctx
        if ctx is None:
            return
        backend = self._backend
        sweep = dict(self._sweep, pieces=self.sub_jobs())
        record = SweepRecord.from_backend(
            backend,
            job_id=self._job_id,
            circuits=list(self._circuits),
            parameter_binds=self._parameter_binds,
            run_options=dict(self._run_options),
            result=result,
            error=error,
            status=status,
            creation_date=ctx.creation_date,
            job_name=ctx.job_name,
            job_tags=ctx.job_tags,
            session_id=ctx.session_id,
            extra_manifest={"sweep": sweep, **(getattr(ctx, "provenance", None) or {})},
            simulator=self._spec,
        )
        ctx.store.hand_over("sweep", record, describe=f"Aer job {self._job_id}")


class _Discard:
    """A file that forgets what is written to it."""

    def write(self, data: Any) -> int:
        return len(data)


def warm_pickle_caches(obj: Any) -> None:
    """Pickle ``obj`` once, here, before two threads pickle parts of it at the same time.

    A sweep's circuits and simulator (noise model circuits included) are pickled by the
    executor (Dask's client, a process pool's feeder thread) while the store's writer pickles
    them into the parent job. Qiskit 2.6 fills a circuit's bit-locator cache on first pickling
    inside a Rust ``OnceLock`` while holding the GIL; if a garbage collection runs Python
    callbacks in the middle (Dask installs one), the other thread blocks on that lock with the
    GIL held and both hang (seen in this project's tests). Pickled once beforehand on one
    thread, every such cache is filled and the lock is never contended. Costs one pickling
    of the job's circuits and simulator, with array data passed out of band (not copied).
    """
    try:
        pickle.Pickler(_Discard(), protocol=5, buffer_callback=lambda _buffer: None).dump(obj)
    except Exception:  # what cannot be pickled fails later, where it is reported
        pass


def sweep_info(
    executor: Any, max_job_size: int | None, max_shot_size: int | None, seed: int
) -> dict[str, Any]:
    return {
        "executor": describe_executor(executor),
        "max_job_size": max_job_size,
        "max_shot_size": max_shot_size,
        "seed_simulator": seed,
    }
