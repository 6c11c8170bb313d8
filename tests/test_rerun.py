"""``StoredAerJob.rerun()`` runs a stored job again, as it ran, to the same result."""

from __future__ import annotations

import pytest
import qiskit_aer
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobError

import qiskit_aer_jobstore as qaj

from .conftest import ghz
from .roundtrip_helpers import NOISY_KINDS, noisy_job


def _retrieved(job):
    job.result()
    return qaj.AerSimulator().retrieve_job(job.job_id())


@pytest.mark.parametrize("kind", ["ideal", *NOISY_KINDS])
def test_seeded_job_reruns_to_identical_counts_and_memory(kind):
    if kind == "ideal":
        backend, circuits, options = qaj.AerSimulator(), [ghz(4), ghz(2)], {}
    else:
        backend, circuits, options = noisy_job(kind)
    job = backend.run(
        circuits, shots=300, seed_simulator=1234, memory=True, job_tags=["rr"], **options
    )
    live = job.result()
    stored = _retrieved(job)
    new = stored.rerun()
    again = new.result()
    assert new.job_id() != job.job_id()
    assert again.backend_name == live.backend_name
    for i in range(len(circuits)):
        assert again.get_counts(i) == live.get_counts(i)
        assert again.get_memory(i) == live.get_memory(i)
    rerun = qaj.AerSimulator().retrieve_job(new.job_id())  # the rerun is stored like any job
    assert rerun.tags == ["rr"]
    assert rerun.noise_model() == stored.noise_model()


def test_unseeded_job_reruns_with_the_seed_aer_drew(backend):
    live = backend.run([ghz(3), ghz(3)], shots=500).result()
    job = backend.jobs(limit=1)[0]
    again = job.rerun().result()
    assert again.get_counts() == live.get_counts()


def test_rerun_keeps_binds_and_run_options_and_takes_overrides(backend):
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    qc.measure_all()
    job = backend.run(
        qc,
        parameter_binds=[{theta: [0.3, 1.2, 2.5]}],
        shots=64,
        seed_simulator=9,
        method="density_matrix",
        job_name="sweep",
    )
    live = job.result()
    stored = _retrieved(job)
    again = stored.rerun().result()
    assert again.get_counts() == live.get_counts()
    assert {r.metadata["method"] for r in again.results} == {"density_matrix"}
    more = stored.rerun(shots=10).result()
    assert [sum(c.values()) for c in more.get_counts()] == [10, 10, 10]
    assert [j.name for j in backend.jobs(limit=3)] == ["sweep"] * 3


def test_rerun_on_a_given_backend_brings_the_noise_along():
    backend, circuits, _ = noisy_job("from_backend")
    live = backend.run(circuits, shots=200, seed_simulator=5).result()
    stored = backend.jobs(limit=1)[0]
    plain = qiskit_aer.AerSimulator()  # not store-enabled: nothing of ours reaches it
    assert plain.options.noise_model is None
    assert stored.rerun(backend=plain).result().get_counts() == live.get_counts()
    assert plain.options.noise_model is None


def test_rerun_of_a_job_that_never_stored_circuits_says_why(store):
    from .test_lifecycle import GatedSimulator

    gated = GatedSimulator()
    try:
        running = gated.run(ghz(2))
        assert gated.started.wait(60)
        with pytest.raises(JobError, match="RUNNING"):
            gated.retrieve_job(running.job_id()).rerun()
    finally:
        gated.gate.set()
    running.result()
