"""The store's pickler: plain pickle, with fixes for Qiskit objects that do not round-trip.

Qiskit's ``CASE_DEFAULT`` (the default case of a ``switch``) is a singleton compared by
identity. Plain pickle rebuilds it as a new object, and loading the circuit then fails with
``ValueError: invalid case specifier``. Pickled here by reference to the module-level singleton,
it loads back as itself, with any unpickler and without this package installed.

Circuits made only of standard gates, measurements, resets, barriers and delays (metadata
JSON can hold as it is) are pickled as a call of ``qiskit.qpy.load`` on their QPY bytes:
Qiskit writes QPY about three times faster than it pickles a circuit, and the bytes a circuit
came in (from the caller, see ``wire``) are reused rather than written again. Such a pickle
still loads with plain ``pickle.loads``, with Qiskit and without this package.
"""

from __future__ import annotations

import copyreg
import functools
import io
import json
import operator
import pickle
import threading
from collections import OrderedDict
from typing import Any

PROTOCOL = 5
# QPY bytes -> the circuit loaded from them, most recent last (a loop sends one circuit over
# and over: it is loaded once); and id(circuit) -> (circuit, its bytes) for those circuits.
_LOADED: OrderedDict[bytes, Any] = OrderedDict()
_SOURCE: dict[int, tuple[Any, bytes]] = {}
SHARED_KEPT = 64
_lock = threading.Lock()
_SAFE: frozenset[str] | None = None
_circuit_type: Any = None


def _by_name(name: str):
    """A reducer pickling a module-level singleton as a reference to its global name."""
    return lambda obj: name


def reducers() -> dict[type, Any]:
    """type -> reducer, for objects whose plain pickle does not load back as the same thing."""
    # Qiskit here, not at the top: only writing a job needs it, and listings stay quick
    from qiskit.circuit.controlflow.switch_case import CASE_DEFAULT

    return {type(CASE_DEFAULT): _by_name("CASE_DEFAULT")}


def _safe_names() -> frozenset[str]:
    global _SAFE
    if _SAFE is None:
        from qiskit.circuit.library import get_standard_gate_name_mapping

        _SAFE = frozenset(get_standard_gate_name_mapping()) | {
            "measure", "barrier", "reset", "delay"}
    return _SAFE


def circuit_type() -> Any:
    global _circuit_type
    if _circuit_type is None:
        from qiskit import QuantumCircuit

        _circuit_type = QuantumCircuit
    return _circuit_type


def qpy_of(circuit: Any) -> bytes | None:
    """QPY bytes that load back as ``circuit`` (those it came in, else written now), or None
    if QPY cannot hold it exactly (an instruction outside the standard set, metadata JSON
    would change, anything QPY refuses): then it is pickled as it is."""
    known = _source(circuit)
    if known is not None:
        return known
    try:
        if not _safe_names().issuperset(circuit.count_ops()):
            return None
        metadata = circuit.metadata
        if metadata and json.loads(json.dumps(metadata)) != metadata:
            return None  # a tuple or a non-str key would come back changed
        from qiskit import qpy

        buffer = io.BytesIO()
        qpy.dump(circuit, buffer)
    except Exception:  # noqa: BLE001 - whatever QPY cannot write, pickle writes
        return None
    return buffer.getvalue()


def circuit_from_qpy(data: bytes) -> Any:
    """The circuit in QPY ``data`` (one circuit), loaded once for the same bytes: callers
    must not change it. Remembered as coming from ``data`` (see :func:`qpy_of`)."""
    with _lock:
        circuit = _LOADED.get(data)
        if circuit is not None:
            _LOADED.move_to_end(data)
            return circuit
    from qiskit import qpy

    circuit = qpy.load(io.BytesIO(data))[0]
    with _lock:
        _LOADED[data] = circuit
        _SOURCE[id(circuit)] = (circuit, data)
        while len(_LOADED) > SHARED_KEPT:
            _, old = _LOADED.popitem(last=False)
            _SOURCE.pop(id(old), None)
    return circuit


def is_shared(circuit: Any) -> bool:
    """Whether ``circuit`` is one :func:`circuit_from_qpy` hands out (so never changed)."""
    return _source(circuit) is not None


def _source(circuit: Any) -> bytes | None:
    """The QPY bytes ``circuit`` was loaded from by :func:`circuit_from_qpy`, if it was."""
    known = _SOURCE.get(id(circuit))
    return known[1] if known is not None and known[0] is circuit else None


class _QpyFile:
    """Pickles as ``qiskit.qpy.load(io.BytesIO(data))``: a list holding the circuit."""

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self) -> Any:
        from qiskit import qpy

        return qpy.load, (io.BytesIO(self.data),)


@functools.cache
def store_pickler() -> type[pickle.Pickler]:
    """``pickle.Pickler`` with :func:`reducers` added to the standard dispatch table, and
    circuits as QPY where QPY holds them exactly."""
    circuit_class = circuit_type()

    class StorePickler(pickle.Pickler):
        dispatch_table = {**copyreg.dispatch_table, **reducers()}

        def reducer_override(self, obj: Any) -> Any:
            if type(obj) is not circuit_class:
                return NotImplemented
            data = qpy_of(obj)
            if data is None:
                return NotImplemented
            return operator.getitem, (_QpyFile(data), 0)

    return StorePickler


def dumps(obj: Any, buffer_callback: Any = None) -> bytes:
    """Pickle ``obj`` (protocol 5) so that it loads back equal with plain ``pickle.loads``.

    Args:
        obj: what to pickle.
        buffer_callback: as in ``pickle.dumps``: receives out-of-band buffers.
    """
    buffer = io.BytesIO()
    store_pickler()(buffer, protocol=PROTOCOL, buffer_callback=buffer_callback).dump(obj)
    return buffer.getvalue()
