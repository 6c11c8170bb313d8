"""The payload's circuits as QPY: loaded with plain pickle, exact, or pickled as they are."""

from __future__ import annotations

import io
import pickle
import subprocess
import sys

import qiskit_aer  # noqa: F401 - adds save_statevector to QuantumCircuit
from qiskit import QuantumCircuit, qpy
from qiskit.circuit import Parameter

from qiskit_aer_jobstore import pickling, wire

from .conftest import ghz


def _qpy(circuit: QuantumCircuit) -> bytes:
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def test_a_circuit_of_standard_gates_is_pickled_as_its_qpy():
    circuit = ghz(3)
    circuit.rz(Parameter("t"), 0)
    circuit.metadata = {"run": 3, "tags": ["a"]}
    data = pickling.dumps({"circuits": [circuit, circuit]})
    assert _qpy(circuit) in data  # once: pickle's memo shares it
    assert data.count(b"QISKIT") == 1
    loaded = pickle.loads(data)["circuits"]
    assert loaded[0] == circuit and loaded[0] is loaded[1]
    assert loaded[0].metadata == circuit.metadata and loaded[0].name == circuit.name


def test_the_payload_loads_with_plain_pickle_and_without_this_package():
    data = pickling.dumps({"circuits": [ghz(4)]})
    code = (
        "import pickle, sys; sys.modules['qiskit_aer_jobstore'] = None; "
        "print(pickle.loads(sys.stdin.buffer.read())['circuits'][0].count_ops())"
    )
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                         check=True).stdout
    assert b"('cx', 3)" in out and b"('h', 1)" in out


def test_what_qpy_would_change_is_pickled_as_it_is():
    tupled = ghz(2)
    tupled.metadata = {"pair": (1, 2)}  # JSON would give back a list
    with_save = ghz(2)
    with_save.save_statevector()  # an Aer instruction: QPY would not load it back as such
    for circuit in (tupled, with_save):
        data = pickling.dumps(circuit)
        assert _qpy(circuit) not in data
        assert pickle.loads(data) == circuit
    assert pickle.loads(pickling.dumps(tupled)).metadata == {"pair": (1, 2)}


def test_the_writer_loads_a_circuit_sent_again_once_and_reuses_its_bytes():
    circuit = ghz(5)
    frames = [wire.encode(i, ("save", [circuit])) for i in (1, 2)]
    messages = []
    for parts in frames:
        blob = b"".join(bytes(part) for part in parts)
        stream = io.BytesIO(blob)
        _, body, buffers, _ = wire.read_frame(lambda n, s=stream: s.read(n) or None)
        messages.append(wire.decode(body, buffers))
    first, second = messages[0][1][0], messages[1][1][0]
    assert first is second and first == circuit
    assert pickling.is_shared(first) and not pickling.is_shared(circuit)
    assert pickling.qpy_of(first) == _qpy(circuit)  # written as circuits.qpy as it came
