"""Exact comparison of live and stored values, shared by the round-trip, noise and rerun tests."""

from __future__ import annotations

from typing import Any

import numpy as np


def assert_identical(live: Any, stored: Any, where: str = "value") -> None:
    """Assert ``stored`` is ``live`` again: same types all the way down, same values exactly
    (arrays bit for bit, no tolerance)."""
    assert type(stored) is type(live), f"{where}: {type(stored)} is not {type(live)}"
    if isinstance(live, np.ndarray):
        assert live.dtype == stored.dtype and live.shape == stored.shape, where
        assert np.array_equal(live, stored, equal_nan=live.dtype.kind in "fc"), where
    elif isinstance(live, dict):
        assert list(live) == list(stored), f"{where}: keys {list(stored)} != {list(live)}"
        for key in live:
            assert_identical(live[key], stored[key], f"{where}[{key!r}]")
    elif isinstance(live, (list, tuple)):
        assert len(live) == len(stored), f"{where}: length"
        for i, (a, b) in enumerate(zip(live, stored)):
            assert_identical(a, b, f"{where}[{i}]")
    elif isinstance(live, (str, bytes, int, float, complex, bool, np.generic)) or live is None:
        assert live == stored or (live != live and stored != stored), f"{where}: {stored} != {live}"
    elif hasattr(live, "__dict__"):
        assert_identical(vars(live), vars(stored), f"{where}.__dict__")
    else:
        assert live == stored, f"{where}: {stored!r} != {live!r}"


def assert_same_result(live: Any, stored: Any) -> None:
    """A stored ``Result`` equals the live one: every experiment's data, header and metadata."""
    assert_identical(live.to_dict(), stored.to_dict(), "result")
    for i in range(len(live.results)):
        assert_identical(live.data(i), stored.data(i), f"data({i})")
        assert_identical(live.results[i].metadata, stored.results[i].metadata, f"metadata({i})")


# -- noisy jobs, shared by the noise and rerun tests ------------------------------------------
def _noise_model():
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(0.05, 1), ["h", "x", "sx"])
    model.add_all_qubit_quantum_error(depolarizing_error(0.1, 2), ["cx"])
    model.add_all_qubit_readout_error(ReadoutError([[0.95, 0.05], [0.1, 0.9]]))
    return model


def _ghz(n: int):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def noisy_job(kind: str):
    """``(backend, circuits, run_options)`` of a noisy job of one ``kind``: a noise model given
    at run time, set on the backend, noise instructions inside the circuit, or a simulator
    built with ``AerSimulator.from_backend`` of a noisy fake backend."""
    from qiskit import transpile
    from qiskit.providers.fake_provider import GenericBackendV2
    from qiskit_aer.noise import amplitude_damping_error, pauli_error

    import qiskit_aer_jobstore as qaj

    if kind == "run_option":
        return qaj.AerSimulator(), [_ghz(3)], {"noise_model": _noise_model()}
    if kind == "backend_option":
        return qaj.AerSimulator(noise_model=_noise_model()), [_ghz(3)], {}
    if kind == "in_circuit":
        from qiskit import QuantumCircuit

        qc = QuantumCircuit(2, name="noisy-inside")
        qc.h(0)
        qc.append(pauli_error([("X", 0.2), ("I", 0.8)]), [0])  # a QuantumChannelInstruction
        qc.cx(0, 1)
        qc.append(amplitude_damping_error(0.3), [1])
        qc.measure_all()
        return qaj.AerSimulator(), [qc], {}
    if kind == "from_backend":
        fake = GenericBackendV2(num_qubits=3, seed=7, noise_info=True)
        backend = qaj.AerSimulator.from_backend(fake)
        return backend, [transpile(_ghz(3), backend, seed_transpiler=1)], {}
    raise ValueError(kind)


NOISY_KINDS = ("run_option", "backend_option", "in_circuit", "from_backend")
