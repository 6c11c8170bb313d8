"""Store-enabled SamplerV2 / EstimatorV2: one stored job per primitive job."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.primitives import PrimitiveResult
from qiskit.quantum_info import SparsePauliOp

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.primitives import EstimatorV2, SamplerV2

THETA = Parameter("theta")


def _ansatz(measure: bool) -> QuantumCircuit:
    qc = QuantumCircuit(2, name="ansatz")
    qc.ry(THETA, 0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    return qc


def assert_same_primitive_result(live: PrimitiveResult, stored: PrimitiveResult) -> None:
    assert type(stored) is type(live) and len(stored) == len(live)
    assert stored.metadata == live.metadata
    for a, b in zip(live, stored):
        assert type(b) is type(a) and b.metadata == a.metadata
        assert list(b.data.keys()) == list(a.data.keys()) and b.data.shape == a.data.shape
        for name, value in a.data.items():
            other = b.data[name]
            assert type(other) is type(value)
            if isinstance(value, (np.ndarray, np.generic)):  # a 0-d pub gives numpy scalars
                assert other.dtype == value.dtype and np.array_equal(other, value)
            else:  # BitArray
                assert other.num_bits == value.num_bits and other == value


def _sampler_job():
    pubs = [(_ansatz(True), [[0.1], [0.7]]), (_ansatz(True), [1.2], 50)]
    return SamplerV2(seed=3).run(pubs, shots=100, job_name="sweep", job_tags=["prim"])


def _estimator_job():
    obs = [SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XI", 0.5), ("IZ", 1.0)])]
    pub = (_ansatz(False), obs, [[0.2], [0.9]])
    return EstimatorV2().run([pub], job_name="energy", job_tags=["prim"])


@pytest.mark.parametrize(
    "make_job, kind", [(_sampler_job, "sampler"), (_estimator_job, "estimator")]
)
@pytest.mark.parametrize("trusted", [True, False])
def test_primitive_job_is_stored_once_and_comes_back_equal(make_job, kind, trusted, backend):
    qaj.enable()  # the backend jobs underneath are store-enabled too: still stored once
    job = make_job()
    live = job.result()
    jobs = backend.local_jobs(limit=None)
    assert [j.job_id() for j in jobs] == [job.job_id()]
    assert jobs[0].primitive == kind
    assert [j.job_id() for j in backend.jobs(primitive=kind)] == [job.job_id()]
    stored = backend.retrieve_job(job.job_id(), trusted=trusted)
    assert stored.trusted is trusted
    assert_same_primitive_result(live, stored.result())
    assert stored.circuits()[0].name == "ansatz"
    assert stored.status().name == "DONE" and stored.manifest["success"] is True
    assert stored.name in ("sweep", "energy") and stored.tags == ["prim"]


def test_pubs_and_options_are_stored(backend):
    job = _sampler_job()
    job.result()
    stored = backend.retrieve_job(job.job_id())
    payload = qaj.JobStore.default().load(job.job_id())
    assert [pub.shots for pub in payload["pubs"]] == [100, 50]
    assert payload["primitive_options"]["seed"] == 3
    assert stored.run_options()["shots"] == 100 and stored.manifest["shots"] == 100


def test_estimator_manifest_has_no_shots(backend):
    _estimator_job().result()
    assert backend.local_jobs()[0].manifest["shots"] is None


def test_save_jobs_false_stores_nothing(backend):
    SamplerV2(save_jobs=False).run([_ansatz(True).assign_parameters([0.3])]).result()
    assert backend.local_jobs() == []


def test_failed_primitive_job_is_stored_with_its_error(backend):
    bad = QuantumCircuit(40)  # too wide for a statevector on any test machine
    bad.h(range(40))
    bad.measure_all()
    job = SamplerV2(options={"backend_options": {"method": "statevector"}}).run([bad], shots=1)
    with pytest.raises(Exception):  # noqa: B017 - Aer's own error type
        job.result()
    qaj.JobStore.default().flush()
    stored = backend.local_jobs()[0]
    assert stored.job_id() == job.job_id() and stored.status().name == "ERROR"
    assert stored.error_message()
