"""A job is in the store from submission to its end: QUEUED, RUNNING, then DONE, ERROR or
CANCELLED; a job whose process died shows as ERROR (interrupted), never as running forever."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import threading
import types
from contextlib import contextmanager
from pathlib import Path

import pytest
import qiskit_aer
from qiskit.providers import JobError, JobStatus, JobTimeoutError

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.lifecycle import interrupted_reason
from qiskit_aer_jobstore.process import process_identity

from .conftest import ghz


def _gated(base: type) -> type:
    class Gated(base):
        """Simulates only once its gate opens, so a test can look at a job while it runs."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.started = threading.Event()
            self.gate = threading.Event()

        def _execute_circuits(self, aer_circuits, noise_model, config):
            self.started.set()
            assert self.gate.wait(120), "the test never opened the gate"
            return super()._execute_circuits(aer_circuits, noise_model, config)

    return Gated


GatedSimulator = _gated(qaj.AerSimulator)
GatedAerSimulator = _gated(qiskit_aer.AerSimulator)  # Aer's own class, for enable()


class FailingSimulator(qaj.AerSimulator):
    def _execute_circuits(self, aer_circuits, noise_model, config):
        raise RuntimeError("the simulator fell over")


@pytest.fixture(params=["drop-in", "enable"])
def gated(request):
    if request.param == "enable":
        qaj.enable()  # conftest disables it again
        backend = GatedAerSimulator()
    else:
        backend = GatedSimulator()
    yield backend
    backend.gate.set()  # never leave Aer's shared executor blocked


def test_job_is_visible_from_submission_and_ends_done(gated, bell, store):
    running = gated.run(bell, shots=50, seed_simulator=1, job_name="first")
    assert gated.started.wait(60)
    queued = gated.run(bell, shots=50, job_name="second")  # waits behind the first

    listed = {j.job_id(): j for j in gated.jobs(limit=None)}
    assert listed[running.job_id()].status() is JobStatus.RUNNING
    assert listed[queued.job_id()].status() is JobStatus.QUEUED
    for job in listed.values():
        assert job.manifest["pid"] == os.getpid()
        assert job.manifest["host"] == socket.gethostname()
        assert not job.in_final_state()
    assert [j.name for j in gated.jobs(status="QUEUED")] == ["second"]

    stored = gated.retrieve_job(running.job_id())
    with pytest.raises(JobTimeoutError, match="RUNNING"):
        stored.result(timeout=0.05)
    with pytest.raises(JobError, match="stored when it ends"):
        stored.circuits()

    gated.gate.set()
    live = running.result()
    assert stored.result().get_counts() == live.get_counts()  # waits for the stored end
    assert stored.status() is JobStatus.DONE and stored.circuits() == [bell]
    queued.result()
    assert {j.status() for j in gated.jobs(limit=None)} == {JobStatus.DONE}
    assert store.count() == 2


def test_cancelled_while_queued_is_stored_as_cancelled(gated, bell):
    running = gated.run(bell)
    assert gated.started.wait(60)
    queued = gated.run(bell, job_tags=["to-cancel"])
    assert queued.cancel()
    stored = gated.retrieve_job(queued.job_id())
    assert stored.status() is JobStatus.CANCELLED
    assert stored.circuits() == [bell]
    with pytest.raises(JobError, match="CANCELLED"):
        stored.result()
    gated.gate.set()
    running.result()
    assert gated.retrieve_job(running.job_id()).status() is JobStatus.DONE
    assert gated.retrieve_job(queued.job_id()).status() is JobStatus.CANCELLED


def test_failed_simulation_is_error_with_its_text(bell):
    backend = FailingSimulator()
    job = backend.run(bell)
    with pytest.raises(RuntimeError, match="fell over"):
        job.result()
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.ERROR
    assert "RuntimeError: the simulator fell over" in stored.error_message()
    with pytest.raises(JobError, match="fell over"):
        stored.result()


def test_job_of_a_killed_process_is_error_interrupted(store):
    script = textwrap.dedent(
        """
        import threading, time
        from qiskit import QuantumCircuit
        import qiskit_aer_jobstore as qaj

        class Stuck(qaj.AerSimulator):
            def _execute_circuits(self, *args):
                threading.Event().wait()

        qc = QuantumCircuit(1); qc.x(0); qc.measure_all()
        job = Stuck().run(qc, job_name="doomed")
        store = qaj.JobStore.default()
        while True:
            store.flush()
            if store.manifest(job.job_id())["status"] == "RUNNING":
                break
            time.sleep(0.01)
        print(job.job_id(), flush=True)
        threading.Event().wait()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        job_id = proc.stdout.readline().strip()
        assert job_id, "the child process did not start its job"
        assert store.manifest(job_id)["status"] == "RUNNING"
        assert qaj.AerSimulator().jobs(backend_name=None, status="RUNNING")[0].job_id() == job_id
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()

    stored = qaj.AerSimulator().retrieve_job(job_id)
    assert stored.status() is JobStatus.ERROR
    assert "interrupted" in stored.error_message() and str(proc.pid) in stored.error_message()
    with pytest.raises(JobError, match="interrupted"):
        stored.result()
    with pytest.raises(JobError, match="only its manifest"):
        stored.rerun()
    # listing settles it in the store itself: the archive now says ERROR
    assert qaj.AerSimulator().local_jobs(status="RUNNING") == []
    assert store.manifest(job_id)["status"] == "ERROR"
    assert "interrupted" in store.manifest(job_id)["error"]
    store.reindex()
    assert store.manifest(job_id)["status"] == "ERROR"


def test_interrupted_only_for_dead_processes_of_this_host():
    me = {"status": "RUNNING", **process_identity()}
    assert interrupted_reason(me) is None
    assert interrupted_reason({**me, "host": "another-machine", "pid": 2**22 + 1}) is None
    assert interrupted_reason({**me, "status": "DONE", "pid": 2**22 + 1}) is None
    assert "interrupted" in interrupted_reason({**me, "pid": 2**22 + 1})
    if Path(f"/proc/{os.getpid()}/stat").exists():  # a reused pid: same number, new process
        assert interrupted_reason({**me, "process_start": "1"}) is not None


# psutil on Windows: not installed (a pid cannot be checked), or a stand-in that answers
NO_PSUTIL = None
PSUTIL_ALIVE = types.SimpleNamespace(pid_exists=lambda pid: True)
PSUTIL_DEAD = types.SimpleNamespace(pid_exists=lambda pid: False)


@contextmanager
def on_windows(psutil):
    """os.name is "nt" inside, for the package only (pathlib keeps its real os: it picks its
    Windows flavour by os.name), and os.kill, which sends CTRL_C_EVENT there instead of
    checking a pid, must not be called."""
    kills = []

    def kill(pid, sig):
        kills.append((pid, sig))
        raise AssertionError(f"os.kill({pid}, {sig}) was called on Windows")

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "psutil", psutil)
        mp.setattr(pathlib, "os", types.SimpleNamespace(**vars(os)))
        mp.setattr(os, "kill", kill)
        mp.setattr(os, "name", "nt")
        yield
    assert kills == []


@pytest.mark.parametrize(
    ("psutil", "stale"), [(NO_PSUTIL, False), (PSUTIL_DEAD, True)], ids=["no-psutil", "psutil"]
)
def test_check_never_calls_os_kill_on_windows(store, backend, psutil, stale):
    backend.run(ghz(2)).result()
    store.flush()
    temp = store.path / ".tmp-999999999-abcdef.part"  # a writer's temp file, written just now
    temp.write_bytes(b"half an archive")
    with on_windows(psutil):
        problems = dict(store.check())
    # without psutil the writer's pid cannot be checked: a fresh temp file is not called stale
    assert list(problems) == ([temp.name] if stale else [])


@pytest.mark.parametrize("psutil", [NO_PSUTIL, PSUTIL_ALIVE], ids=["no-psutil", "psutil"])
def test_resume_never_calls_os_kill_on_windows(store, backend, bell, psutil):
    job = backend.run([bell, bell], shots=16, max_job_size=1)
    job.result()
    store.flush()
    store.update_manifest(job.job_id(), status="RUNNING", host=socket.gethostname(),
                          pid=os.getpid())  # as if this live process still ran it
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.RUNNING
    with on_windows(psutil), pytest.raises(JobError, match="still running in process"):
        stored.resume()
