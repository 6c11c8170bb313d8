"""Jobs run on executors and split into pieces: Dask cluster, thread and process pools."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest
from distributed import get_task_stream
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobError, JobStatus
from qiskit_aer import AerSimulator as PlainAerSimulator
from qiskit_aer.jobs import AerJob

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.cluster import SweepJob

from .conftest import ghz, layered


def reference(circuits, **options):
    """The same job run unsplit by plain Aer."""
    return PlainAerSimulator().run(circuits, **options).result()


def assert_same_counts(result, expected):
    assert len(result.results) == len(expected.results)
    for got, want in zip(result.results, expected.results):
        assert got.data.counts == want.data.counts
        assert got.seed_simulator == want.seed_simulator
        assert got.shots == want.shots
        assert got.header == want.header


def wait_until(condition, what: str, limit: float = 120.0):
    """Poll ``condition`` (a bounded wait for an event, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def saved_status(backend, job_id):
    """The stored job's status, or None while it is not saved yet."""
    try:
        return backend.retrieve_job(job_id).status()
    except qaj.JobNotFoundError:
        return None


@pytest.fixture
def sweep() -> list[QuantumCircuit]:
    return [layered(12, 10, seed) for seed in range(8)]


def test_dask_split_runs_on_both_workers_and_equals_unsplit_run(dask_client, backend, sweep):
    with get_task_stream(dask_client) as stream:
        job = backend.run(
            sweep,
            shots=200,
            seed_simulator=1234,
            executor=dask_client,
            max_job_size=2,
            job_name="sweep",
        )
        result = job.result()
    assert isinstance(job, SweepJob) and isinstance(job, AerJob)
    assert job.executor() is dask_client and job.status() is JobStatus.DONE
    assert_same_counts(result, reference(sweep, shots=200, seed_simulator=1234))
    assert result.job_id == job.job_id()

    pieces = [t for t in stream.data if t["key"].startswith(f"aer-piece-{job.job_id()}")]
    workers = set(dask_client.scheduler_info()["workers"])
    assert len(pieces) == 4
    assert {t["worker"] for t in pieces} == workers  # both worker processes ran pieces

    listed = backend.jobs()
    assert [j.job_id() for j in listed] == [job.job_id()]  # one job, not one per piece
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.DONE and stored.progress() == (4, 4, 0)
    assert_same_counts(stored.result(), result)
    sweep_info = stored.manifest["sweep"]
    assert sweep_info["executor"]["address"] == dask_client.scheduler.address
    assert sweep_info["max_job_size"] == 2
    subs = stored.sub_jobs()
    assert [(s["start"], s["stop"], s["status"]) for s in subs] == [
        (0, 2, "DONE"),
        (2, 4, "DONE"),
        (4, 6, "DONE"),
        (6, 8, "DONE"),
    ]
    assert {s["worker"] for s in subs} <= workers
    assert [s["seed"] for s in subs] == [result.results[i].seed_simulator for i in (0, 2, 4, 6)]
    assert "executor" not in stored.run_options()
    assert stored.run_options()["executor_kind"] == "distributed.client.Client"
    assert not os.path.exists(os.path.join(backend.job_store.path, "pieces", job.job_id()))


@pytest.fixture(params=["thread", "process", "dask"])
def executor(request):
    if request.param == "thread":
        with ThreadPoolExecutor(max_workers=2) as pool:
            yield pool
    elif request.param == "process":
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
            yield pool
    else:
        yield request.getfixturevalue("dask_client")


def test_executor_runs_the_job_and_it_is_stored_the_same_way(executor, backend, bell):
    circuits = [bell, ghz(3), ghz(4)]
    job = backend.run(circuits, shots=300, seed_simulator=7, executor=executor, job_tags=["x"])
    assert job.executor() is executor
    result = job.result()
    assert_same_counts(result, reference(circuits, shots=300, seed_simulator=7))
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.DONE and stored.tags == ["x"]
    assert_same_counts(stored.result(), result)
    assert stored.progress() == (1, 1, 0)
    assert stored.manifest["sweep"]["executor"]["kind"].endswith(type(executor).__name__)


def test_executor_as_backend_option(backend, bell):
    with ThreadPoolExecutor(max_workers=1) as pool:
        backend.set_options(executor=pool, max_job_size=1)
        job = backend.run([bell, ghz(3)], shots=100, seed_simulator=3)
        assert job.executor() is pool
        assert_same_counts(job.result(), reference([bell, ghz(3)], shots=100, seed_simulator=3))
    assert "executor" not in backend.retrieve_job(job.job_id()).backend_options()


def test_without_executor_the_job_is_aers_own(backend, bell):
    job = backend.run(bell, shots=10)
    assert type(job) is AerJob
    assert job.result().results[0].shots == 10


def test_circuit_split_keeps_saved_states(backend):
    circuits = []
    for n in (2, 3, 4):
        qc = QuantumCircuit(n)
        qc.h(0)
        for q in range(n - 1):
            qc.cx(q, q + 1)
        qc.save_statevector()
        circuits.append(qc)
    result = backend.run(circuits, max_job_size=2, method="statevector").result()
    expected = reference(circuits, method="statevector")
    for i in range(3):
        assert result.get_statevector(i) == expected.get_statevector(i)


def test_noisy_simulator_from_a_backend_splits_on_dask(dask_client):
    from qiskit import transpile
    from qiskit.providers.fake_provider import GenericBackendV2

    device = GenericBackendV2(num_qubits=5, seed=3)
    backend = qaj.AerSimulator.from_backend(device)
    circuits = transpile([ghz(3), ghz(5), ghz(4)], backend, seed_transpiler=1)
    job = backend.run(circuits, shots=500, seed_simulator=17, executor=dask_client, max_job_size=1)
    expected = (
        PlainAerSimulator.from_backend(device).run(circuits, shots=500, seed_simulator=17).result()
    )
    assert_same_counts(job.result(), expected)
    assert len(expected.get_counts(1)) > 2  # the noise model went to the workers too


def test_split_with_parameter_binds_equals_unsplit(backend):
    theta = Parameter("t")
    qc = QuantumCircuit(2)
    qc.rx(theta, 0)
    qc.cx(0, 1)
    qc.measure_all()
    circuits = [qc, ghz(3), qc]
    binds = [{theta: [0.1, 0.5, 1.0]}, {}, {theta: [2.0, 3.0]}]
    job = backend.run(circuits, parameter_binds=binds, shots=100, seed_simulator=99, max_job_size=1)
    assert_same_counts(
        job.result(), reference(circuits, parameter_binds=binds, shots=100, seed_simulator=99)
    )


def test_shot_split_sums_counts_and_is_reproducible(dask_client, backend):
    circuits = [ghz(3), ghz(4)]
    runs = [
        backend.run(
            circuits,
            shots=1000,
            seed_simulator=5,
            memory=True,
            max_shot_size=300,
            max_job_size=1,
            executor=dask_client,
        ).result()
        for _ in range(2)
    ]
    first, second = runs
    for i in range(2):
        assert first.results[i].shots == 1000
        assert sum(first.get_counts(i).values()) == 1000
        assert len(first.get_memory(i)) == 1000
        assert first.get_counts(i) == second.get_counts(i)
        assert first.get_memory(i) == second.get_memory(i)
    assert set(first.get_counts(0)) == {"000", "111"}
    stored = backend.jobs(limit=None)
    assert len(stored) == 2 and all(j.progress() == (8, 8, 0) for j in stored)
    assert sorted(s["shots"] for s in stored[0].sub_jobs()) == [100, 100] + [300] * 6


def test_no_seed_still_resumes_the_same_seeds(backend):
    job = backend.run([ghz(3)] * 3, shots=50, max_job_size=1)
    result = job.result()
    seed = backend.retrieve_job(job.job_id()).manifest["sweep"]["seed_simulator"]
    assert_same_counts(result, reference([ghz(3)] * 3, shots=50, seed_simulator=seed))


def test_worker_killed_during_sweep_is_retried_by_dask(dask_client, backend):
    circuits = [layered(18, 16, seed) for seed in range(6)]
    pids = dask_client.run(os.getpid)
    job = backend.run(
        circuits,
        shots=50,
        seed_simulator=21,
        executor=dask_client,
        max_job_size=1,
        max_parallel_threads=1,
    )
    victim = {}

    def a_piece_is_running():
        for worker, keys in dask_client.processing().items():
            running = [k for k in keys if str(k).startswith(f"aer-piece-{job.job_id()}")]
            if running and worker in pids:
                victim.update(worker=worker, key=running[0])
                return True
        return False

    wait_until(a_piece_is_running, "a piece to run on a worker")
    os.kill(pids[victim["worker"]], signal.SIGKILL)
    result = job.result(timeout=300)
    assert_same_counts(result, reference(circuits, shots=50, seed_simulator=21))
    index = int(str(victim["key"]).split("-")[-2])
    piece = job.sub_jobs()[index]
    assert piece["status"] == "DONE" and piece["worker"] != victim["worker"]  # ran again
    assert backend.retrieve_job(job.job_id()).status() is JobStatus.DONE
    dask_client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker


def test_broken_pool_fails_the_piece_then_resume_finishes(backend):
    circuits = [layered(16, 16, seed) for seed in range(6)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        worker_pid = pool.submit(os.getpid).result()
        job = backend.run(circuits, shots=40, seed_simulator=8, executor=pool, max_job_size=1)
        wait_until(lambda: job.progress().done >= 1, "a first piece")
        os.kill(worker_pid, signal.SIGKILL)
        with pytest.raises(JobError, match="pieces failed: .*BrokenProcessPool"):
            job.result(timeout=300)
    assert job.status() is JobStatus.ERROR
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.ERROR and "resume()" in stored.error_message()
    done, total, failed = stored.progress()
    assert done >= 1 and failed >= 1 and done + failed == total == 6
    with ThreadPoolExecutor(max_workers=2) as pool:
        resumed = stored.resume(executor=pool)
        result = resumed.result()
    assert_same_counts(result, reference(circuits, shots=40, seed_simulator=8))
    again = backend.retrieve_job(job.job_id())
    assert again.status() is JobStatus.DONE and again.progress() == (6, 6, 0)
    assert_same_counts(again.result(), result)


CLIENT_SCRIPT = textwrap.dedent("""
    import sys, time
    from concurrent.futures import ThreadPoolExecutor
    from distributed import Client
    import qiskit_aer_jobstore as qaj
    from tests.conftest import layered

    # a thread pool runs Aer in this process, holding the GIL: the pieces are saved all the same
    client = ThreadPoolExecutor(max_workers=1) if sys.argv[1] == "threads" else Client(sys.argv[1])
    qaj.AerSimulator().run(layered(2, 1, 0), shots=1).result()
    qaj.JobStore.default().flush()  # the writer process is up before the sweep starts
    circuits = [layered(int(sys.argv[2]), 24, seed) for seed in range(12)]
    job = qaj.AerSimulator().run(circuits, shots=30, seed_simulator=77, executor=client,
                                 max_job_size=1, max_parallel_threads=1, job_name="killed")
    print(job.job_id(), flush=True)
    job.result()
    print("finished", flush=True)
""")


@pytest.mark.parametrize("executor_kind", ["dask", "threads"])
def test_client_killed_halfway_then_resume(executor_kind, request, backend, store, tmp_path):
    dask_client = request.getfixturevalue("dask_client")
    width = 19 if executor_kind == "threads" else 16  # one thread: slower pieces, time to look
    script = tmp_path / "client.py"
    script.write_text(CLIENT_SCRIPT)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [os.path.dirname(os.path.dirname(__file__)), os.environ.get("PYTHONPATH", "")]
        ),
    )
    child = subprocess.Popen(
        [sys.executable, str(script),
         "threads" if executor_kind == "threads" else dask_client.scheduler.address, str(width)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        job_id = child.stdout.readline().strip()
        assert job_id, "the client printed no job id"

        def three_pieces_saved():
            try:
                return store.get(job_id).progress().done >= 3
            except qaj.JobNotFoundError:
                return False

        wait_until(three_pieces_saved, "three saved pieces")
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    stored = store.get(job_id)
    done, total, _ = stored.progress()
    assert stored.status() is not JobStatus.DONE and 3 <= done < total == 12
    assert stored.name == "killed"

    resumed = stored.resume(executor=dask_client)
    result = resumed.result()
    circuits = [layered(width, 24, seed) for seed in range(12)]
    assert_same_counts(result, reference(circuits, shots=30, seed_simulator=77))
    final = store.get(job_id)
    assert final.status() is JobStatus.DONE and final.progress() == (12, 12, 0)
    assert_same_counts(final.result(), result)
    assert [j.job_id() for j in backend.jobs(job_name="killed")] == [job_id]


def test_cancel_cancels_pending_pieces_and_resume_finishes(backend):
    circuits = [layered(14, 10, seed) for seed in range(10)]
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = backend.run(circuits, shots=20, seed_simulator=4, executor=pool, max_job_size=1)
        wait_until(lambda: job.progress().done >= 1, "a first piece")
        assert job.cancel()
        wait_until(lambda: job.status() is JobStatus.CANCELLED, "the job to end")
    assert not job.cancel()
    states = [s["status"] for s in job.sub_jobs()]
    assert "CANCELLED" in states and states.count("DONE") < 10
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.CANCELLED
    result = stored.resume().result()
    assert_same_counts(result, reference(circuits, shots=20, seed_simulator=4))
    assert backend.retrieve_job(job.job_id()).status() is JobStatus.DONE


def test_enable_makes_aers_own_simulator_honour_executor(bell):
    qaj.enable()
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = PlainAerSimulator().run([bell, bell], shots=64, executor=pool, max_job_size=1)
        assert job.executor() is pool
        assert sum(job.result().get_counts(1).values()) == 64
    assert qaj.AerSimulator().retrieve_job(job.job_id()).progress() == (2, 2, 0)


def test_resume_of_a_done_job_gives_its_result(backend, bell):
    split = backend.run([bell, bell], shots=32, max_job_size=1)
    plain = backend.run(bell, shots=32)
    for job in (split, plain):
        stored = backend.retrieve_job(job.job_id())
        assert stored.resume().result().get_counts() == job.result().get_counts()


def test_resume_refuses_a_job_not_split_and_a_sweep_still_running(backend):
    theta = Parameter("t")
    unbound = QuantumCircuit(1)
    unbound.rx(theta, 0)
    unbound.measure_all()
    failed = backend.run(unbound)  # Aer raises: parameters without parameter_binds
    with pytest.raises(Exception, match="parameter_binds"):
        failed.result()
    with pytest.raises(JobError, match="not run in pieces"):
        backend.retrieve_job(failed.job_id()).resume()

    circuits = [layered(14, 10, seed) for seed in range(6)]
    release = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(release.wait, 120)  # the pool is busy: the sweep stays running meanwhile
        job = backend.run(circuits, shots=20, executor=pool, max_job_size=1)
        try:
            wait_until(lambda: saved_status(backend, job.job_id()) is JobStatus.RUNNING,
                       "the running job to be saved")
            with pytest.raises(JobError, match="still running in process"):
                backend.retrieve_job(job.job_id()).resume()
        finally:
            release.set()
        job.result()


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_job_size": 0}, "max_job_size must be a positive integer"),
        ({"max_shot_size": "10"}, "max_shot_size must be a positive integer"),
        ({"executor": object()}, "executor must be a concurrent.futures.Executor"),
    ],
)
def test_bad_options_are_refused(backend, bell, options, message):
    with pytest.raises(qaj.JobStoreError, match=message):
        backend.run(bell, **options)


def test_shot_split_refuses_save_instructions(backend):
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.save_statevector()
    with pytest.raises(qaj.JobStoreError, match="save instructions"):
        backend.run(qc, shots=100, max_shot_size=10)


def test_delete_removes_saved_pieces(backend, bell):
    job = backend.run([bell] * 3, shots=16, max_job_size=1)
    job.result()
    pieces = os.path.join(backend.job_store.path, "pieces", job.job_id())
    os.makedirs(pieces, exist_ok=True)
    assert backend.delete_job(job.job_id())
    assert not os.path.exists(pieces)
