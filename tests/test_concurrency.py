"""Many processes and threads at once, and processes killed in the middle of a save."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.blobs import TEMP_PREFIX

from .conftest import ghz

PROCESSES = 4
JOBS_EACH = 50

SAVER = textwrap.dedent(
    """
    import pathlib, sys, time
    from qiskit import QuantumCircuit
    import qiskit_aer_jobstore as qaj

    tag, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    backend = qaj.AerSimulator()
    qc = QuantumCircuit(3, name=tag)
    qc.h(0); qc.cx(0, 1); qc.cx(1, 2); qc.measure_all()
    (folder / f"ready-{tag}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    for i in range(int(sys.argv[3])):
        job = backend.run(qc, shots=16, job_tags=[tag], job_name=f"{tag}-{i}")
        job.result()
        print(job.job_id(), flush=True)
    """
)

BIG_SAVER = textwrap.dedent(
    """
    import os, sys
    import qiskit_aer_jobstore as qaj

    store = qaj.JobStore()
    for i in range(1000):
        print(f"saving {i}", flush=True)
        store.save(qaj.JobRecord(job_id=f"{sys.argv[1]}-{i}", backend_name="aer_simulator",
                                 parameter_binds=[{"blob": os.urandom(8 * 1024**2)}]))
    """
)


def _wait_for(predicate, timeout=120.0):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting for the worker processes"
        time.sleep(0.02)


def test_processes_and_threads_at_once_lose_nothing(store, backend, tmp_path):
    victims = []
    for _ in range(20):
        job = backend.run(ghz(2), job_tags=["victim"])
        job.result()
        victims.append(job.job_id())
    store.flush()
    sync = tmp_path / "sync"
    sync.mkdir()
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", SAVER, f"p{n}", str(sync), str(JOBS_EACH)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    errors: list[BaseException] = []
    done = threading.Event()

    def loop(step, more=lambda: False):
        def run():
            try:
                while not done.is_set() or more():
                    step()
            except BaseException as exc:  # reported by the test thread
                errors.append(exc)

        return threading.Thread(target=run)

    def listing():
        jobs = store.list(limit=None)
        # A job of a live process may be listed while it runs (lifecycle), never as failed
        # or interrupted: the dead-process check must not misfire on busy workers.
        states = {j.job_id(): j.status().name for j in jobs}
        assert set(states.values()) <= {"QUEUED", "RUNNING", "DONE"}, states
        store.count(job_tags=["p0", "p1"])

    def retrieving():
        jobs = store.list(limit=50, job_tags=["p0", "p1", "p2", "p3"])
        if jobs:
            job = random.choice(jobs)
            assert store.get(job.job_id()).result().get_counts()

    def deleting():
        if victims:
            assert store.delete(victims.pop())
        time.sleep(0.01)

    threads = [loop(listing), loop(listing), loop(retrieving), loop(deleting, lambda: victims)]
    _wait_for(lambda: len(list(sync.glob("ready-*"))) == PROCESSES)
    for thread in threads:
        thread.start()
    (sync / "go").touch()
    outputs = [w.communicate(timeout=600) for w in workers]
    done.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for worker, (_, err) in zip(workers, outputs):
        assert worker.returncode == 0, err
    saved = {line for out, _ in outputs for line in out.split()}
    assert len(saved) == PROCESSES * JOBS_EACH

    assert not victims
    listed = {j.job_id(): j.status().name for j in store.list(limit=None)}
    assert listed == dict.fromkeys(saved, "DONE")
    for n in range(PROCESSES):
        assert len(store.list(limit=None, job_tags=[f"p{n}"])) == JOBS_EACH
    for job_id in saved:
        assert sum(store.get(job_id).result().get_counts().values()) == 16
    assert store.reindex() == []
    assert {j.job_id() for j in store.list(limit=None)} == saved


def test_sigkill_during_saves_leaves_a_readable_store(store):
    for round_ in range(4):
        worker = subprocess.Popen(
            [sys.executable, "-c", BIG_SAVER, f"r{round_}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert worker.stdout is not None
        for line in worker.stdout:  # let a save or two finish, then kill during the next
            if line.startswith("saving 2"):
                break
        time.sleep(random.uniform(0.0, 0.3))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert worker.returncode == -signal.SIGKILL

        fresh = qaj.JobStore(store.path, store.key_path)  # as a new process would see it
        listed = fresh.list(limit=None)
        archives = list(store.path.glob("*.zip"))
        assert len(listed) == len(archives) >= 2 * (round_ + 1)
        for job in listed:  # every listed job is whole: it verifies and unpickles
            assert len(job.parameter_binds()[0]["blob"]) == 8 * 1024**2

    temps = list(store.path.glob(f"{TEMP_PREFIX}*"))
    listed = {os.path.basename(j.archive_path) for j in store.list(limit=None)}
    assert not {t.name for t in temps} & listed
    for temp in temps:  # left by the killed writers; make them look stale
        os.utime(temp, (time.time() - 7200, time.time() - 7200))
    assert store.reindex() == []
    assert not list(store.path.glob(f"{TEMP_PREFIX}*"))
    assert len(store.list(limit=None)) == len(list(store.path.glob("*.zip")))


@pytest.mark.parametrize("age, removed", [(10, False), (7200, True)])
def test_reindex_cleans_only_stale_temp_files(store, age, removed):
    store.blobs.ensure()
    temp = store.path / f"{TEMP_PREFIX}1234-abcdef.part"
    temp.write_bytes(b"half an archive")
    os.utime(temp, (time.time() - age, time.time() - age))
    assert store.list() == []
    store.reindex()
    assert temp.exists() is not removed


def test_a_new_index_waits_for_another_process_making_it(tmp_path):
    """Opening a new index file while another process holds it in a write transaction (as it
    does while it creates the tables) waits, as the busy timeout promises: SQLite refuses the
    switch to WAL at once then, which made a save's index row a warning."""
    from qiskit_aer_jobstore.index import SQLiteIndex

    path = tmp_path / "index.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys, time
            conn = sqlite3.connect({str(path)!r}, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE making (a)")
            print("holding", flush=True)
            sys.stdin.readline()
            conn.execute("COMMIT")
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        threading.Timer(0.5, lambda: (holder.stdin.write("\n"), holder.stdin.flush())).start()
        index = SQLiteIndex(path)
        assert index.count() == 0  # opened once the other process committed, no error
    finally:
        holder.wait(30)
