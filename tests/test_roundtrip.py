"""Every Aer result type, for every simulation method, and circuits of every kind, come back
from the store exactly as the live job gave them.

Which save instruction each method supports is not written here: it is read from Aer itself
(``AerSimulator(method=m).configuration().custom_instructions``), so the table follows the
installed Aer (``tensor_network`` appears when Aer has it, i.e. on GPU builds).
"""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import qiskit_aer
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import CASE_DEFAULT, Parameter
from qiskit.circuit.classical import expr
from qiskit.circuit.library import UnitaryGate
from qiskit.quantum_info import Kraus, SparsePauliOp, random_unitary

import qiskit_aer_jobstore as qaj

from .roundtrip_helpers import assert_identical, assert_same_result

OBSERVABLE = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5)])

# save type -> (Aer instruction name, how to add it to a circuit)
SAVE_TYPES = {
    "save_statevector": ("save_statevector", lambda qc: qc.save_statevector()),
    "save_statevector_dict": ("save_statevector_dict", lambda qc: qc.save_statevector_dict()),
    "save_density_matrix": ("save_density_matrix", lambda qc: qc.save_density_matrix()),
    "save_unitary": ("save_unitary", lambda qc: qc.save_unitary()),
    "save_superop": ("save_superop", lambda qc: qc.save_superop()),
    "save_stabilizer": ("save_stabilizer", lambda qc: qc.save_stabilizer()),
    "save_clifford": ("save_clifford", lambda qc: qc.save_clifford()),
    "save_matrix_product_state": (
        "save_matrix_product_state",
        lambda qc: qc.save_matrix_product_state(),
    ),
    "save_probabilities": ("save_probabilities", lambda qc: qc.save_probabilities()),
    "save_probabilities_dict": (
        "save_probabilities_dict",
        lambda qc: qc.save_probabilities_dict(),
    ),
    "save_amplitudes": ("save_amplitudes", lambda qc: qc.save_amplitudes([0, 3])),
    "save_amplitudes_squared": (
        "save_amplitudes_sq",
        lambda qc: qc.save_amplitudes_squared([0, 3]),
    ),
    "save_expectation_value": (
        "save_expval",
        lambda qc: qc.save_expectation_value(OBSERVABLE, [0, 1]),
    ),
    "save_expectation_value_variance": (
        "save_expval_var",
        lambda qc: qc.save_expectation_value_variance(OBSERVABLE, [0, 1]),
    ),
    "save_state": ("save_state", lambda qc: qc.save_state()),
}
# Aer's documentation: the unitary and superop methods "do not support measurement".
NO_MEASUREMENT = {"unitary", "superop"}
MEASURED = ("counts", "memory", "metadata")


def support_table() -> list[tuple[str, str]]:
    """(method, save type) pairs the installed Aer supports, as Aer declares them."""
    pairs = []
    for method in qiskit_aer.AerSimulator().available_methods():
        declared = set(qiskit_aer.AerSimulator(method=method).configuration().custom_instructions)
        pairs += [(method, save) for save, (instr, _) in SAVE_TYPES.items() if instr in declared]
        if method not in NO_MEASUREMENT:
            pairs += [(method, kind) for kind in MEASURED]
    return pairs


SUPPORTED = support_table()


def circuit_for(save: str) -> QuantumCircuit:
    """A Clifford circuit (every method can run it) ending in ``save``."""
    qc = QuantumCircuit(2, name=f"rt-{save}")
    qc.h(0)
    qc.cx(0, 1)
    qc.s(1)
    if save in SAVE_TYPES:
        SAVE_TYPES[save][1](qc)
    else:
        qc.measure_all()
        qc.metadata = {"experiment": save, "angles": [0.25, 0.5], "nested": {"k": None}}
    return qc


def test_the_table_covers_every_method_and_save_type():
    methods = {m for m, _ in SUPPORTED}
    assert methods == set(qiskit_aer.AerSimulator().available_methods())
    assert {s for _, s in SUPPORTED} == set(SAVE_TYPES) | set(MEASURED)
    assert {
        "statevector",
        "density_matrix",
        "stabilizer",
        "extended_stabilizer",
        "matrix_product_state",
        "unitary",
        "superop",
        "automatic",
    } <= methods


@pytest.mark.parametrize("method, save", SUPPORTED, ids=[f"{m}-{s}" for m, s in SUPPORTED])
def test_result_round_trips_exactly(method, save):
    backend = qaj.AerSimulator(method=method)
    options = {"memory": True} if save == "memory" else {}
    job = backend.run(circuit_for(save), shots=16, seed_simulator=11, **options)
    live = job.result()
    assert live.success, live.status
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert_same_result(live, stored.result())
    if save in MEASURED:
        assert stored.result().get_counts() == live.get_counts()
    if save == "memory":
        assert stored.result().get_memory() == live.get_memory()
    if save == "metadata":
        assert stored.result().results[0].header["metadata"] == circuit_for(save).metadata


def test_multi_experiment_job_keeps_order_and_metadata():
    circuits = [circuit_for(save) for save in ("save_statevector", "counts", "save_state")]
    job = qaj.AerSimulator().run(circuits, shots=8, seed_simulator=2)
    live = job.result()
    stored = qaj.AerSimulator().retrieve_job(job.job_id()).result()
    assert_same_result(live, stored)
    assert [r.header["name"] for r in stored.results] == [c.name for c in circuits]


# -- circuits of every kind: they come back equal, and run again to the same result ----------
def _if_else() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)) as else_:
        qc.x(1)
    with else_:
        qc.h(1)
    qc.measure(1, 1)
    return qc


def _while_loop() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    with qc.while_loop((qc.clbits[0], 1)):
        qc.h(0)
        qc.measure(0, 0)
    return qc


def _for_loop() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    with qc.for_loop(range(3)) as i:
        qc.rx(i * 0.4, 0)
    qc.measure(0, 0)
    return qc


def _switch_with_default() -> QuantumCircuit:
    creg = ClassicalRegister(2, "c")
    qc = QuantumCircuit(QuantumRegister(2, "q"), creg)
    qc.h([0, 1])
    qc.measure([0, 1], [0, 1])
    with qc.switch(creg) as case:
        with case(0):
            qc.x(0)
        with case(1, 2):
            qc.x(1)
        with case(case.DEFAULT):
            qc.z(0)
    qc.measure([0, 1], [0, 1])
    return qc


def _classical_expr() -> QuantumCircuit:
    creg = ClassicalRegister(2, "c")
    qc = QuantumCircuit(QuantumRegister(3, "q"), creg, ClassicalRegister(1, "out"))
    qc.h([0, 1])
    qc.measure([0, 1], [0, 1])
    # Expressions over registers and bits (Aer 0.18 cannot run standalone `add_var` variables).
    condition = expr.logic_or(
        expr.logic_and(expr.equal(expr.bit_and(creg, 1), 1), expr.lift(qc.clbits[1])),
        expr.logic_and(expr.less(creg, 1), expr.logic_not(qc.clbits[0])),
    )
    with qc.if_test(condition):
        qc.x(2)
    qc.measure(2, 2)
    return qc


def _initialize() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.initialize([0.6, 0.8j, 0, 0])
    qc.measure_all()
    return qc


def _set_statevector() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.set_statevector(np.array([0, 0.6, 0, 0.8j]))
    qc.save_statevector()
    qc.measure_all()
    return qc


def _unitary_and_kraus() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.append(UnitaryGate(random_unitary(4, seed=1)), [0, 1])
    kraus = Kraus([np.sqrt(0.9) * np.eye(2), np.sqrt(0.1) * np.array([[0, 1], [1, 0]])])
    qc.append(kraus, [0])
    qc.measure_all()
    return qc


def _aer_saves() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.save_statevector(label="sv", pershot=True)
    qc.save_expectation_value(OBSERVABLE, [0, 1], label="ev")
    qc.save_probabilities_dict([0], label="p0")
    qc.measure_all()
    return qc


KINDS = {
    "if_else": (_if_else, None),
    "while_loop": (_while_loop, None),
    "for_loop": (_for_loop, None),
    "switch_default": (_switch_with_default, None),
    "classical_expr": (_classical_expr, None),
    "initialize": (_initialize, None),
    "set_statevector": (_set_statevector, None),
    "unitary_kraus": (_unitary_and_kraus, None),
    "aer_saves": (_aer_saves, None),
}


def _parameterised() -> tuple[QuantumCircuit, list]:
    theta, phi = Parameter("theta"), Parameter("phi")
    qc = QuantumCircuit(2)
    qc.rx(theta, 0)
    qc.ry(phi, 1)
    qc.cx(0, 1)
    qc.measure_all()
    return qc, [{theta: [0.1, 0.7, 1.3], phi: [0.2, 0.4, 0.6]}]


@pytest.mark.parametrize("kind", [*KINDS, "parameters"])
def test_circuit_kind_comes_back_and_runs_again(kind):
    if kind == "parameters":
        circuit, binds = _parameterised()
    else:
        circuit, binds = KINDS[kind][0](), None
    backend = qaj.AerSimulator()
    job = backend.run(circuit, parameter_binds=binds, shots=32, seed_simulator=5)
    live = job.result()
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert stored.circuits() == [circuit]
    assert_same_result(live, stored.result())
    again = (
        qaj.AerSimulator()
        .run(
            stored.circuits(),
            parameter_binds=stored.parameter_binds(),
            shots=32,
            seed_simulator=5,
            save_jobs=False,
        )
        .result()
    )
    assert again.get_counts() == live.get_counts()


def test_switch_with_default_payload_loads_with_plain_pickle(store):
    job = qaj.AerSimulator().run(_switch_with_default(), shots=8, seed_simulator=1)
    job.result()
    store.flush()
    archive = store.get(job.job_id()).archive_path
    with zipfile.ZipFile(archive) as zf:
        payload = pickle.loads(zf.read("payload.pkl"))  # this test's own archive: trusted
    switch = next(i.operation for i in payload["circuits"][0].data if i.name == "switch_case")
    assert any(CASE_DEFAULT in values for values, _ in switch.cases_specifier())


def test_identical_helper_catches_differences():
    with pytest.raises(AssertionError):
        assert_identical(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-15]))
    with pytest.raises(AssertionError):
        assert_identical({"a": 1}, {"a": 1.0})
