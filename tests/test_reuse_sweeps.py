"""reuse_results for split jobs (max_job_size) and resume(): a piece identical to a stored job
(same circuits, options, seed and shots) is taken from it, only the others run."""

from __future__ import annotations

import pytest
from qiskit.providers import JobError, JobStatus

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.cluster import plan, runner

from .conftest import ghz, layered
from .test_cluster import assert_same_counts, reference

SEED = 41


@pytest.fixture
def runs(monkeypatch):
    """The circuits of every piece that runs (pieces taken from the store never do)."""
    ran: list[list[str]] = []
    original = runner.run_piece

    def counted(spec, task):
        ran.append([c.name for c in task.circuits])
        return original(spec, task)

    monkeypatch.setattr(runner, "run_piece", counted)
    return ran


def _circuits():
    return [ghz(3, name="a"), layered(4, 3, 1), ghz(4, name="c")]


def _piece_seed(index: int) -> int:
    return plan.int64_seed(SEED + plan.SEED_STRIDE * index)  # one experiment per circuit


def test_only_the_pieces_not_stored_run(backend, store, runs):
    circuits = _circuits()
    stored = {i: backend.run(circuits[i], shots=60, seed_simulator=_piece_seed(i))
              for i in (0, 2)}
    for job in stored.values():
        job.result()
    runs.clear()
    job = backend.run(circuits, shots=60, seed_simulator=SEED, max_job_size=1,
                      reuse_results=True)
    result = job.result()
    assert runs == [[circuits[1].name]]  # one piece ran
    assert [p.get("reused_from") for p in job.sub_jobs()] == [
        stored[0].job_id(), None, stored[2].job_id()]
    assert_same_counts(result, reference(circuits, shots=60, seed_simulator=SEED))
    store.flush()
    parent = backend.retrieve_job(job.job_id())
    assert parent.status() is JobStatus.DONE and parent.reused_from is None
    assert [p.get("reused_from") for p in parent.manifest["sweep"]["pieces"]] == [
        stored[0].job_id(), None, stored[2].job_id()]
    assert_same_counts(parent.result(), result)

    # the same split job again: served whole
    runs.clear()
    again = backend.run(circuits, shots=60, seed_simulator=SEED, max_job_size=1,
                        reuse_results=True)
    assert again.reused_from == job.job_id() and runs == []
    assert_same_counts(again.result(), result)


def test_without_reuse_every_piece_runs(backend, runs):
    circuits = _circuits()
    backend.run(circuits[0], shots=60, seed_simulator=_piece_seed(0)).result()
    runs.clear()
    backend.run(circuits, shots=60, seed_simulator=SEED, max_job_size=1).result()
    assert len(runs) == 3


def test_a_piece_with_other_options_runs(backend, runs):
    circuits = _circuits()
    backend.run(circuits[0], shots=61, seed_simulator=_piece_seed(0)).result()  # other shots
    backend.run(circuits[1], shots=60, seed_simulator=_piece_seed(0)).result()  # other seed
    runs.clear()
    job = backend.run(circuits, shots=60, seed_simulator=SEED, max_job_size=1,
                      reuse_results=True)
    job.result()
    assert len(runs) == 3 and all(p.get("reused_from") is None for p in job.sub_jobs())


def test_resume_takes_a_missing_piece_from_the_store(backend, store, runs, monkeypatch):
    circuits = _circuits()
    original = runner.run_piece

    def fail_the_middle(spec, task):
        if task.circuits[0].name == circuits[1].name:
            raise RuntimeError("worker lost")
        return original(spec, task)

    monkeypatch.setattr(runner, "run_piece", fail_the_middle)
    job = backend.run(circuits, shots=60, seed_simulator=SEED, max_job_size=1)
    with pytest.raises(JobError, match="worker lost"):
        job.result()
    monkeypatch.setattr(runner, "run_piece", original)
    store.flush()
    stored_job = backend.retrieve_job(job.job_id())
    assert stored_job.progress() == (2, 3, 1)
    middle = backend.run(circuits[1], shots=60, seed_simulator=_piece_seed(1))
    middle.result()

    ran = []

    def counted(spec, task):
        ran.append(task)
        return original(spec, task)

    monkeypatch.setattr(runner, "run_piece", counted)
    with qaj.job_context(reuse_results=True):
        resumed = stored_job.resume()
    result = resumed.result()
    assert ran == []  # the failed piece was taken from the store
    assert [p.get("reused_from") for p in resumed.sub_jobs()] == [None, middle.job_id(), None]
    assert_same_counts(result, reference(circuits, shots=60, seed_simulator=SEED))
    store.flush()
    assert backend.retrieve_job(job.job_id()).status() is JobStatus.DONE
