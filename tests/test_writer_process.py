"""The writer process: a returned result is a saved job, even when the caller is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
from qiskit.providers import JobStatus

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import handoff
from qiskit_aer_jobstore.exceptions import JobStoreWarning

from .conftest import ghz, in_new_process

RUN_THEN_WAIT = textwrap.dedent(
    """
    import sys, time
    from qiskit import QuantumCircuit
    import qiskit_aer_jobstore as qaj
    qc = QuantumCircuit(5, name="ghz5")
    qc.h(0)
    for i in range(4):
        qc.cx(i, i + 1)
    qc.measure_all()
    backend = qaj.AerSimulator()
    n = int(sys.argv[1])
    for i in range(n):
        backend.run(qc, shots=100, seed_simulator=i, job_tags=["killed"]).result()
    print("returned", flush=True)
    time.sleep(600)
    """
)

LIST_KILLED = textwrap.dedent(
    """
    import json
    import qiskit_aer_jobstore as qaj
    jobs = qaj.JobStore.default().list(limit=None, job_tags=["killed"])
    print(json.dumps(sorted(j.status().name for j in jobs)))
    """
)


def _run_and_kill(n: int) -> None:
    """Run ``n`` jobs in a new process and SIGKILL it the instant the last result returned."""
    proc = subprocess.Popen([sys.executable, "-c", RUN_THEN_WAIT, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "returned", proc.stderr.read()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL


def test_every_returned_job_survives_a_sigkill_of_the_caller():
    _run_and_kill(40)
    statuses = in_new_process("-c", LIST_KILLED)
    assert statuses == ["DONE"] * 40


def test_thread_writer_loses_jobs_a_kill_catches(monkeypatch):
    """The yardstick: the thread writer cannot promise it (so the test above can fail)."""
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER", "thread")
    _run_and_kill(40)
    statuses = in_new_process("-c", LIST_KILLED)
    assert len(statuses) < 40


def test_jobs_are_written_by_another_process(backend):
    job = backend.run(ghz(), shots=100, seed_simulator=1)
    job.result()
    qaj.JobStore.default().flush()
    proc = handoff.WRITER_PROCESS._proc
    assert proc is not None and proc.poll() is None and proc.pid != os.getpid()
    stored = backend.retrieve_job(job.job_id())
    assert stored.manifest["pid"] == os.getpid()  # the job's process, not the writer's
    assert stored.result().get_counts() == job.result().get_counts()
    assert stored.circuits()[0] == ghz()


def test_a_writer_that_dies_costs_no_job(backend):
    backend.run(ghz(), shots=10, seed_simulator=1).result()
    qaj.JobStore.default().flush()
    writer = handoff.WRITER_PROCESS._proc
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(10)
    with pytest.warns(JobStoreWarning, match="writer process"):
        ids = [backend.run(ghz(), shots=10, seed_simulator=i).result().job_id for i in range(5)]
        qaj.JobStore.default().flush()
    listed = {job.job_id() for job in backend.jobs(limit=None)}
    assert set(ids) <= listed and len(listed) == 6


def test_a_writer_that_cannot_start_costs_no_job(backend, monkeypatch):
    handoff.WRITER_PROCESS.close()
    handoff.WRITER_PROCESS.__init__()
    monkeypatch.setattr(handoff.sys, "executable", "/nonexistent/python")
    with pytest.warns(JobStoreWarning, match="could not be started"):
        job = backend.run(ghz(), shots=10, seed_simulator=1)
        counts = job.result().get_counts()
        qaj.JobStore.default().flush()
    assert backend.retrieve_job(job.job_id()).result().get_counts() == counts
    with warnings.catch_warnings():
        warnings.simplefilter("error", JobStoreWarning)  # one warning, not one per job
        backend.run(ghz(), shots=10, seed_simulator=2).result()
        qaj.JobStore.default().flush()
    monkeypatch.undo()
    handoff.WRITER_PROCESS.__init__()


def test_a_failed_save_in_the_writer_is_a_warning_in_the_caller(backend, store):
    store.key_path.write_bytes(b"short")  # only the writer reads the key: a bad key fails there
    with pytest.warns(JobStoreWarning, match="was not saved"):
        result = backend.run(ghz(), shots=10, seed_simulator=1).result()
        qaj.JobStore.default().flush()
    assert result.get_counts()


def test_the_writer_exits_when_its_caller_closes(backend):
    backend.run(ghz(), shots=10, seed_simulator=1).result()
    proc = handoff.WRITER_PROCESS._proc
    handoff.WRITER_PROCESS.close()
    assert proc.wait(30) == 0
    handoff.WRITER_PROCESS.__init__()
    job = backend.run(ghz(), shots=10, seed_simulator=2)  # a new writer starts
    job.result()
    assert backend.retrieve_job(job.job_id()).status() is JobStatus.DONE


MAIN_CLASS = textwrap.dedent(
    """
    import json
    from qiskit import QuantumCircuit
    import qiskit_aer_jobstore as qaj

    class Mine:  # defined in __main__: the writer process cannot import it
        pass

    qc = QuantumCircuit(1)
    qc.x(0)
    qc.measure_all()
    qc.metadata = {"mine": Mine()}
    job = qaj.AerSimulator().run(qc, shots=10, seed_simulator=1)
    print(json.dumps([job.job_id(), job.result().get_counts()]))
    """
)


def test_a_job_the_writer_cannot_read_is_saved_by_its_caller():
    job_id, counts = in_new_process("-c", MAIN_CLASS)
    stored = qaj.JobStore.default().get(job_id)
    assert stored.status() is JobStatus.DONE
    assert stored.manifest["circuit_names"] and stored.manifest["num_qubits"] == 1
    assert counts == {"1": 10}


def test_a_listing_waits_for_the_writer_of_a_killed_caller(store):
    """A writer still saving the jobs of a caller that died: readers wait until it is done."""
    assert store.index is not None  # the folder exists
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    folder = store.path / handoff.WRITERS_DIR
    folder.mkdir()
    (folder / str(writer.pid)).write_text(f"{dead.pid} ")
    store.list(limit=1)
    assert writer.poll() is not None  # the listing waited for it to end
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    (folder / str(live.pid)).write_text(f"{os.getpid()} ")  # its caller lives: no wait
    try:
        store.list(limit=1)
        assert live.poll() is None
    finally:
        live.kill()
        live.wait()
    store.list(limit=1)
    assert os.listdir(folder) == []  # entries of writers that are gone are cleared


def test_a_save_of_many_arrays_and_a_process_of_many_files(store, tmp_path):
    """More out-of-band buffers than one sendmsg takes (1202 parts; IOV_MAX is 1024), and a
    socket numbered over 1024 (select() refuses those): neither costs the writer process."""
    import numpy as np

    handoff.WRITER_PROCESS.close()
    handoff.WRITER_PROCESS.__init__()
    files = [open(tmp_path / f"f{i}", "w") for i in range(1100)]  # noqa: SIM115
    try:
        record = qaj.JobRecord(job_id="many-arrays", backend_name="aer_simulator",
                               parameter_binds=[{"x": np.arange(3.0) + i} for i in range(600)])
        with warnings.catch_warnings():
            warnings.simplefilter("error", JobStoreWarning)
            store.save_later(record)
            assert store.flush(timeout=120)
        assert handoff.WRITER_PROCESS._sock.fileno() > 1024
        assert handoff.WRITER_PROCESS._failed is None
    finally:
        for handle in files:
            handle.close()
    binds = store.get("many-arrays").parameter_binds()
    assert len(binds) == 600 and binds[-1]["x"].tolist() == [599.0, 600.0, 601.0]


def test_a_burst_is_written_with_its_rows_in_one_go(backend, store):
    """Saves waiting together (the writer stopped while they came) are written as one burst:
    every job listed once in its last state, the replaced archive deleted."""
    from qiskit_aer_jobstore.record import JobRecord

    backend.run(ghz(), shots=10, seed_simulator=1).result()
    store.flush()
    writer = handoff.WRITER_PROCESS._proc
    result = backend.run(ghz(), shots=10, seed_simulator=2).result()
    store.flush()
    os.kill(writer.pid, signal.SIGSTOP)
    try:
        store.save_later(JobRecord.from_backend(backend, job_id="twice", status="RUNNING",
                                                manifest_only=True))
        for i in range(20):
            store.save_later(JobRecord.from_backend(backend, job_id=f"burst-{i:02d}",
                                                    circuits=[ghz()], result=result,
                                                    job_tags=["burst"]))
        store.save_later(JobRecord.from_backend(backend, job_id="twice", circuits=[ghz()],
                                                result=result, job_tags=["burst"]))
        assert handoff.saves_pending()
    finally:
        os.kill(writer.pid, signal.SIGCONT)
    store.flush()
    jobs = store.list(limit=None, job_tags=["burst"])
    assert sorted(job.job_id() for job in jobs) == sorted(
        [f"burst-{i:02d}" for i in range(20)] + ["twice"])
    assert {job.status() for job in jobs} == {JobStatus.DONE}
    assert len(list(store.blobs.names())) == 23  # the running state's archive was replaced
    assert store.get("burst-07").result().get_counts() == result.get_counts()


def test_rows_of_a_burst_the_index_cannot_take_are_listed_later(backend, store, monkeypatch):
    """The index locked by another process for longer than the busy timeout: each job of
    the burst is saved, with a warning, and listed once the index is free."""
    import sqlite3

    from qiskit_aer_jobstore.index import sqlite as index_sqlite
    from qiskit_aer_jobstore.indexbatch import IndexBatch
    from qiskit_aer_jobstore.record import JobRecord

    monkeypatch.setattr(index_sqlite, "BUSY_TIMEOUT_S", 0.2)
    monkeypatch.setenv(handoff.NO_WRITER_ENV, "1")  # this process writes: its batch is here
    result = backend.run(ghz(), shots=10, seed_simulator=2).result()
    store.flush()
    store.index.close()  # reconnect with the short timeout
    locker = sqlite3.connect(store.path / "index.sqlite", isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        store.rows_later = batch = IndexBatch(store)
        for i in range(3):
            batch.tag = i
            store.save(JobRecord.from_backend(backend, job_id=f"late-{i}", circuits=[ghz()],
                                              result=result))
        store.rows_later = None
        texts = batch.write()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert [tag for tag, _ in texts] == [0, 1, 2]
    assert all("not added to the index" in text for _, text in texts)
    assert {job.job_id() for job in store.list(limit=None)} >= {"late-0", "late-1", "late-2"}


def _finished_jobs(backend, count: int) -> list[str]:
    return [backend.run(ghz(), shots=10, seed_simulator=i).result().job_id
            for i in range(count)]


def test_finished_jobs_wait_for_a_quiet_caller_and_a_flush_writes_them(backend, store,
                                                                      monkeypatch):
    """writer_pace = idle: while the caller is not quiet (here: never, by the test knob) the
    writer holds finished jobs; they are safe with it (the kill test) and a flush writes them."""
    from qiskit_aer_jobstore import saver

    monkeypatch.setenv(saver.QUIET_ENV, "3600")
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER_PACE", "idle")
    _finished_jobs(backend, 1)
    store.flush()
    before = set(store.blobs.names())
    ids = _finished_jobs(backend, 5)
    time.sleep(0.5)  # ample for an eager writer to write five small jobs
    assert set(store.blobs.names()) == before and handoff.saves_pending()
    store.flush()
    assert len(set(store.blobs.names()) - before) == 5
    assert {job.job_id() for job in backend.jobs(limit=None)} >= set(ids)


def test_an_eager_writer_writes_each_job_without_a_flush(backend, store, monkeypatch):
    from qiskit_aer_jobstore import saver

    monkeypatch.setenv(saver.QUIET_ENV, "3600")
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER_PACE", "eager")
    _finished_jobs(backend, 1)
    store.flush()
    before = set(store.blobs.names())
    _finished_jobs(backend, 5)
    deadline = time.monotonic() + 60
    while len(set(store.blobs.names()) - before) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(set(store.blobs.names()) - before) == 5


def test_a_broken_pace_setting_costs_a_warning_not_the_result(backend, store, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER_PACE", "sometimes")
    with pytest.warns(JobStoreWarning, match="QISKIT_AER_JOBS_WRITER_PACE.*idle, eager"):
        result = backend.run(ghz(), shots=10, seed_simulator=1).result()
        store.flush()
    assert result.get_counts()
    assert backend.jobs(limit=None) == []  # not listed as on its way for ever


def test_auto_pace_holds_only_while_the_process_is_mostly_simulating():
    """``auto``: a finished job may wait when its simulation took most of the time since the
    job before (a tight Aer loop), not when the process did work of its own in between."""
    from qiskit_aer_jobstore import wire

    writer = handoff.WriterProcess()  # not started: only its choice is tested
    writer._pace = "auto"
    assert writer._flags(True, None) == wire.WAIT  # unknown: counted as simulating
    writer._last_send = time.perf_counter() - 1.0
    assert writer._flags(True, 0.9) == wire.WAIT
    writer._last_send = time.perf_counter() - 1.0
    assert writer._flags(True, 0.05) == 0
    assert writer._flags(False, 0.9) == 0  # a running state or a piece never waits
    writer._pace = "idle"
    writer._last_send = time.perf_counter() - 1.0
    assert writer._flags(True, 0.05) == wire.WAIT
    writer._pace = "eager"
    assert writer._flags(True, 0.9) == 0


def test_what_a_job_simulated_comes_from_its_result(backend):
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer.primitives import EstimatorV2

    from qiskit_aer_jobstore.record import simulated_seconds

    result = backend.run(ghz(), shots=10, seed_simulator=1).result()
    assert simulated_seconds(result) == result.time_taken > 0
    pubs = EstimatorV2().run([(ghz(2).remove_final_measurements(inplace=False),
                               SparsePauliOp("ZZ"))] * 2).result()
    assert 0 < simulated_seconds(pubs) == sum(
        pub.metadata["simulator_metadata"]["time_taken_execute"] for pub in pubs)
    assert simulated_seconds(None) is None


def test_under_auto_a_job_after_work_of_its_own_is_written_at_once(backend, store,
                                                                    monkeypatch):
    from qiskit_aer_jobstore import saver

    monkeypatch.setenv(saver.QUIET_ENV, "3600")  # idle would hold it until a flush
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER_PACE", "auto")
    _finished_jobs(backend, 1)
    store.flush()
    before = set(store.blobs.names())
    time.sleep(0.3)  # the process's own work: far longer than the job's simulation
    _finished_jobs(backend, 1)
    deadline = time.monotonic() + 60
    while len(set(store.blobs.names()) - before) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(set(store.blobs.names()) - before) == 1
