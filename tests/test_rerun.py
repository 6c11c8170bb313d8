"""``StoredAerJob.rerun()`` runs a stored job again, as it ran, to the same result."""

from __future__ import annotations

import re

import numpy as np
import pytest
import qiskit_aer
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobError
from qiskit.quantum_info import SparsePauliOp

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.backends import rebuild_backend
from qiskit_aer_jobstore.primitives import EstimatorV2, SamplerV2

from .conftest import ghz
from .roundtrip_helpers import NOISY_KINDS, noisy_job
from .test_primitives import _ansatz


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


# -- primitive jobs: the same pubs again, through the same primitive --------------------------
def _assert_same_data(live, again):
    """Same pubs' data exactly (metadata holds timings, so it is not compared)."""
    from qiskit.primitives import PrimitiveResult

    assert isinstance(again, PrimitiveResult) and len(again) == len(live)
    for a, b in zip(live, again):
        assert list(a.data.keys()) == list(b.data.keys())
        for name, value in a.data.items():
            other = b.data[name]
            assert np.array_equal(value, other) if isinstance(value, np.ndarray) else value == other


def test_seeded_sampler_job_reruns_its_parametrised_pubs_to_identical_bits(backend, store):
    pubs = [(_ansatz(True), [[0.1], [0.7], [2.0]]), (_ansatz(True), [1.2], 50)]
    job = SamplerV2(seed=3).run(pubs, shots=100, job_name="sweep", job_tags=["rr"])
    live = job.result()
    new = _retrieved(job).rerun()
    _assert_same_data(live, new.result())
    assert new.job_id() != job.job_id()
    store.flush()
    assert [j.job_id() for j in backend.jobs(primitive="sampler")] == [new.job_id(), job.job_id()]
    rerun = backend.retrieve_job(new.job_id())  # stored as one primitive job, named alike
    assert (rerun.name, rerun.tags, rerun.manifest["shots"]) == ("sweep", ["rr"], 100)
    _assert_same_data(live, rerun.result())
    fewer = rerun.rerun(shots=10).result()
    assert [pub.data.meas.num_shots for pub in fewer] == [10, 10]


def test_sampler_job_of_a_noisy_from_backend_simulator_reruns_with_its_noise():
    noisy, [circuit], _ = noisy_job("from_backend")
    job = SamplerV2.from_backend(noisy, seed=5).run([circuit], shots=400)
    live = job.result()
    counts = live[0].data.meas.get_counts()
    assert set(counts) - {"000", "111"}  # noise shows, so losing it would change the counts
    stored = _retrieved(job)
    _assert_same_data(live, stored.rerun().result())
    rebuilt = rebuild_backend(stored)  # the fake backend's configuration came along too
    assert rebuilt.configuration().coupling_map == noisy.configuration().coupling_map
    plain = qiskit_aer.AerSimulator()  # a given backend gets the job's noise model too
    _assert_same_data(live, stored.rerun(backend=plain).result())
    assert plain.options.noise_model is None


def test_seeded_estimator_job_reruns_to_identical_expectation_values(backend):
    obs = [SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XI", 0.5), ("IZ", 1.0)])]
    pub = (_ansatz(False), obs, [[0.2], [0.9]])
    options = {"default_precision": 0.05, "run_options": {"seed_simulator": 11}}
    job = EstimatorV2(options=options).run([pub], job_tags=["energy"])
    live = job.result()
    stored = _retrieved(job)
    again = stored.rerun()
    _assert_same_data(live, again.result())
    reseeded = stored.rerun(seed_simulator=12).result()[0].data.evs
    assert not np.array_equal(reseeded, live[0].data.evs)  # so the seed is what made it equal
    exact = stored.rerun(precision=0).result()[0].data
    assert np.array_equal(exact.evs, EstimatorV2().run([pub]).result()[0].data.evs)
    assert np.all(exact.stds == 0)
    assert backend.retrieve_job(again.job_id()).primitive == "estimator"


def test_refused_primitive_rerun_says_why_and_stores_nothing(backend, store):
    est = EstimatorV2().run([(_ansatz(False), SparsePauliOp("ZZ"), [0.3])])
    samp = SamplerV2(seed=1).run([(_ansatz(True), [0.3])], shots=20)
    est.result(), samp.result()
    store.flush()
    with pytest.raises(qaj.JobStoreError, match="no shots"):
        backend.retrieve_job(est.job_id()).rerun(shots=100)
    with pytest.raises(qaj.JobStoreError, match="positive integer"):
        backend.retrieve_job(samp.job_id()).rerun(shots=0)
    with pytest.raises(qaj.JobStoreError, match="portable copies"):
        backend.retrieve_job(samp.job_id(), trusted=False).rerun()
    store.flush()
    jobs = backend.local_jobs(limit=None)
    assert sorted(j.job_id() for j in jobs) == sorted([est.job_id(), samp.job_id()])
    assert {j.status().name for j in jobs} == {"DONE"}


def test_a_rerun_records_which_job_it_reran(store, backend):
    """``rerun_of`` on the new job's manifest, its attribute, and ``aer-jobs show``; jobs
    submitted after the rerun (outside it) carry none."""
    import json

    from click.testing import CliRunner

    from qiskit_aer_jobstore.cli import cli

    job = backend.run(ghz(2), shots=50, seed_simulator=3)
    stored = _retrieved(job)
    assert stored.rerun_of is None
    again = stored.rerun()
    again.result()
    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    sampled = SamplerV2(seed=2).run([(qc.measure_all(inplace=False), [[0.4]])], shots=30)
    estimated = EstimatorV2().run([(qc, SparsePauliOp("Z"), [0.4])])
    sampled.result(), estimated.result()
    later = backend.run(ghz(2), shots=10)
    later.result()
    store.flush()
    reruns = {}
    for original in (sampled, estimated):
        new = store.get(original.job_id()).rerun()
        new.result()
        reruns[original.job_id()] = new.job_id()
    store.flush()
    assert store.get(again.job_id()).rerun_of == job.job_id()
    assert store.get(again.job_id()).manifest["rerun_of"] == job.job_id()
    for original, new in reruns.items():
        assert store.get(new).rerun_of == original
    assert store.get(later.job_id()).rerun_of is None
    shown = CliRunner().invoke(cli, ["show", again.job_id()[:10]])
    assert shown.exit_code == 0, shown.output
    assert re.search(rf"rerun_of\s+{job.job_id()}", shown.stdout)
    as_json = CliRunner().invoke(cli, ["show", "--json", again.job_id()])
    assert json.loads(as_json.stdout)["manifest"]["rerun_of"] == job.job_id()
