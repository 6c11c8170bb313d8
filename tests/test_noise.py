"""Noisy jobs are stored with their noise, and come back whole."""

from __future__ import annotations

import pytest
from qiskit_aer.noise import NoiseModel

import qiskit_aer_jobstore as qaj

from .roundtrip_helpers import NOISY_KINDS, assert_identical, assert_same_result, noisy_job


def _noise_of(backend, run_options):
    return run_options.get("noise_model", backend.options.noise_model)


@pytest.mark.parametrize("kind", NOISY_KINDS)
def test_noisy_job_comes_back_with_its_noise(kind):
    backend, circuits, options = noisy_job(kind)
    job = backend.run(circuits, shots=200, seed_simulator=4, memory=True, **options)
    live = job.result()
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert_same_result(live, stored.result())
    assert stored.circuits() == circuits
    expected = _noise_of(backend, options)
    if kind == "in_circuit":
        assert expected is None and stored.noise_model() is None
        assert [i.name for i in stored.circuits()[0].data] == [i.name for i in circuits[0].data]
        assert "quantum_channel" in {i.name for i in stored.circuits()[0].data}
    else:
        assert isinstance(stored.noise_model(), NoiseModel)
        assert not stored.noise_model().is_ideal()
        assert stored.noise_model() == expected
        assert_identical(expected.to_dict(), stored.noise_model().to_dict(), "noise model")


@pytest.mark.parametrize("split", [{}, {"max_job_size": 1}], ids=["whole", "split"])
def test_from_backend_job_keeps_what_rebuilds_its_simulator(split):
    backend, circuits, _ = noisy_job("from_backend")
    job = backend.run(circuits * 2, shots=10, seed_simulator=1, **split)
    job.result()
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    # the device's name, as for qiskit-ibm-runtime's local mode (Aer's own is from(...))
    assert backend.name == "aer_simulator_from(generic_backend_3q)"
    assert stored.backend_name == "generic_backend_3q"
    assert [j.job_id() for j in backend.jobs()] == [job.job_id()]
    assert ("sweep" in stored.manifest) == bool(split)
    rebuilt = stored.backend_options()
    assert rebuilt["noise_model"] == backend.options.noise_model
    from qiskit_aer_jobstore.backends import rebuild_backend

    again = rebuild_backend(stored)
    assert again.name == backend.name
    assert again.target.operation_names == backend.target.operation_names
    assert again.configuration().coupling_map == backend.configuration().coupling_map
    assert again.configuration().basis_gates == backend.configuration().basis_gates
    assert again.target.num_qubits == backend.target.num_qubits == 3
    assert list(again.coupling_map.get_edges()) == list(backend.coupling_map.get_edges())
    assert again.options.noise_model == backend.options.noise_model
