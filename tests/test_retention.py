"""Deleting and retention: prune(), the store size cap and the per-job size cap."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobError, JobStatus

import qiskit_aer_jobstore as qaj

from .conftest import ghz

NOW = dt.datetime.now(dt.timezone.utc)


def save(store, job_id, days_ago, blob=0):
    """A job created ``days_ago`` days ago whose archive holds about ``blob`` extra bytes."""
    store.save(
        qaj.JobRecord(
            job_id=job_id,
            backend_name="aer_simulator",
            parameter_binds=[{"pad": os.urandom(blob)}] if blob else None,
            creation_date=NOW - dt.timedelta(days=days_ago),
        )
    )


@pytest.fixture
def aged(store):
    for i, days in enumerate([40, 30, 20, 10, 0]):
        save(store, f"j{i}", days)
    return store


def remaining(store) -> list[str]:
    return sorted(j.job_id() for j in store.list(limit=None))


@pytest.mark.parametrize(
    "rules, deleted",
    [
        ({"older_than": dt.timedelta(days=15)}, ["j0", "j1", "j2"]),
        ({"older_than": 25 * 86400}, ["j0", "j1"]),
        ({"older_than": 0}, ["j0", "j1", "j2", "j3", "j4"]),
        ({"older_than": dt.timedelta(days=100)}, []),
        ({"keep_last": 2}, ["j0", "j1", "j2"]),
        ({"keep_last": 0}, ["j0", "j1", "j2", "j3", "j4"]),
        ({"keep_last": 10}, []),
        ({"older_than": dt.timedelta(days=35), "keep_last": 3}, ["j0", "j1"]),
    ],
)
def test_prune_by_age_and_count(aged, rules, deleted):
    assert aged.prune(**rules) == deleted
    assert remaining(aged) == sorted({"j0", "j1", "j2", "j3", "j4"} - set(deleted))
    assert not set(deleted) & {p.stem.split("_", 1)[1] for p in aged.path.glob("*.zip")}


def test_prune_by_size_removes_oldest_first(store):
    for i in range(4):
        save(store, f"j{i}", 10 - i, blob=50_000)
    total = store.size()
    assert total > 200_000
    assert store.prune(max_bytes=total - 1) == ["j0"]
    assert store.prune(max_bytes="60KB") == ["j1", "j2"]
    assert remaining(store) == ["j3"] and store.size() <= 60_000


def test_prune_dry_run_deletes_nothing(aged):
    assert aged.prune(keep_last=1, dry_run=True) == ["j0", "j1", "j2", "j3"]
    assert len(remaining(aged)) == 5


@pytest.mark.parametrize(
    "rules, message",
    [
        ({}, "at least one of older_than, keep_last or max_bytes"),
        ({"older_than": "1 day"}, "Invalid older_than '1 day'"),
        ({"older_than": -5}, "must not be negative"),
        ({"keep_last": -1}, "Invalid keep_last -1"),
        ({"keep_last": 2.5}, "Invalid keep_last"),
        ({"max_bytes": "lots"}, "Invalid size 'lots' for max_bytes"),
    ],
)
def test_prune_refuses_bad_rules(aged, rules, message):
    with pytest.raises(qaj.JobStoreError, match=message):
        aged.prune(**rules)
    assert len(remaining(aged)) == 5


def test_delete_through_the_backend(backend, store):
    job = backend.run(ghz(2))
    job.result()
    assert store.size() > 0
    assert backend.delete_job(job.job_id()) is True
    assert backend.delete_job(job.job_id()) is False
    assert backend.jobs() == [] and store.size() == 0
    with pytest.raises(qaj.JobNotFoundError):
        backend.retrieve_job(job.job_id())


def test_store_cap_removes_oldest_after_each_save(backend, store, monkeypatch):
    first = backend.run(ghz(2))
    first.result()
    one = store.size()
    monkeypatch.setenv("QISKIT_AER_MAX_STORE_BYTES", str(int(one * 2.5)))
    jobs = [first]
    with pytest.warns(qaj.JobStoreWarning, match="over max_store_bytes") as caught:
        for _ in range(4):
            jobs.append(backend.run(ghz(2)))
            jobs[-1].result()
        store.flush()
    kept = {j.job_id() for j in backend.jobs(limit=None)}
    assert kept == {jobs[-1].job_id(), jobs[-2].job_id()}
    assert store.size() <= one * 2.5
    said = " ".join(str(w.message) for w in caught)
    for gone in jobs[:3]:
        assert gone.job_id() in said


def test_store_cap_zero_means_no_cap(backend, store, monkeypatch, recwarn):
    monkeypatch.setenv("QISKIT_AER_MAX_STORE_BYTES", "0")
    for _ in range(3):
        backend.run(ghz(2)).result()
    assert len(backend.jobs()) == 3
    assert not [w for w in recwarn if issubclass(w.category, qaj.JobStoreWarning)]


def big_statevector_circuit(n=14) -> QuantumCircuit:
    qc = QuantumCircuit(n, name="big")
    qc.h(range(n))
    qc.save_statevector()
    return qc


def test_job_over_max_job_bytes_keeps_circuits_and_drops_result(backend, store, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_MAX_JOB_BYTES", "100KB")
    small = backend.run(ghz(2))
    small.result()
    with pytest.warns(qaj.JobStoreWarning, match="result dropped.*over max_job_bytes"):
        big = backend.run(big_statevector_circuit())
        live = big.result()
        store.flush()
    assert live.get_statevector() is not None  # the live result is untouched

    listed = {j.job_id(): j for j in backend.jobs()}
    stored = listed[big.job_id()]
    assert stored.result_dropped and not listed[small.job_id()].result_dropped
    assert "result dropped" in repr(stored)
    assert stored.status() is JobStatus.DONE
    assert stored.manifest["result_dropped"] is True
    assert any("max_job_bytes" in note for note in stored.manifest["notes"])
    assert stored.circuits()[0].name == "big"
    with pytest.raises(JobError, match="without its result.*max_job_bytes"):
        stored.result()
    assert backend.retrieve_job(small.job_id()).result().get_counts()
    assert store.size() < 100_000 + 50_000


def test_a_cap_setting_broken_while_running_never_costs_the_job(backend, store, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_MAX_STORE_BYTES", "lots")  # after the store was opened
    with pytest.warns(qaj.JobStoreWarning, match="was saved, but max_store_bytes.*'lots'"):
        job = backend.run(ghz(2))
        job.result()
        backend.job_store.flush()
    assert backend.retrieve_job(job.job_id()).result().get_counts()


def unfinished_sweep(backend) -> str:
    """A split job that ends ERROR with one piece saved in its journal (the other piece
    fails: its circuit has a parameter and no binds), as a sweep resume() would finish."""
    unbound = QuantumCircuit(1)
    unbound.rx(Parameter("t"), 0)
    unbound.measure_all()
    job = backend.run([ghz(2), unbound], shots=10, max_job_size=1)
    with pytest.raises(JobError, match="1 of 2 pieces failed"):
        job.result()
    return job.job_id()


def _prune(store, backend, monkeypatch):
    assert store.prune(keep_last=0)


def _cap(store, backend, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_MAX_STORE_BYTES", "1")
    with pytest.warns(qaj.JobStoreWarning, match="over max_store_bytes"):
        backend.run(ghz(2)).result()
        store.flush()


@pytest.mark.parametrize("delete", [_prune, _cap], ids=["prune", "max_store_bytes"])
def test_prune_and_store_cap_delete_the_pieces_of_split_jobs(backend, store, monkeypatch, delete):
    job_id = unfinished_sweep(backend)
    store.flush()
    assert backend.retrieve_job(job_id).status() is JobStatus.ERROR
    pieces = store.path / "pieces" / job_id
    assert list(pieces.iterdir())  # the journal of the piece that was done
    delete(store, backend, monkeypatch)
    assert job_id not in [j.job_id() for j in store.list(limit=None)]
    assert not pieces.exists()
