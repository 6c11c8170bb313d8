"""A job's content key: a digest of everything that can change its result.

Two jobs with the same key ran the same circuits (structure, parameters, names, metadata),
with the same parameter binds, the same effective options (run options over backend options,
noise model included), on the same simulator class and device, with the same Qiskit and Aer
versions and the same seed. ``reuse_results`` serves a job from a stored one with its key
(as joblib.Memory and DVC's run-cache key results by everything that made them).

Nothing here is trusted to be equal unless it is written the same way: floats by
``float.hex``, arrays by their dtype, shape and bytes, noise models by their ``to_dict()``
JSON with sorted keys, other objects by ``repr`` (a repr holding a memory address differs in
every process, so such a job is simply never reused).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy
import qiskit
import qiskit_aer
from qiskit.circuit import ControlFlowOp, Gate, Instruction, ParameterExpression, QuantumCircuit

from . import pickling

# Our own options and live handles: none of them changes what a simulation returns.
IGNORED_OPTIONS = frozenset(
    {"save_jobs", "reuse_results", "job_name", "job_tags", "executor", "parameterizations"}
)
# Classes whose instances are defined by a definition, not by their class and parameters.
_DEFINED_BY_BODY = (Gate, Instruction)
# Qiskit's own names for unnamed circuits count up per process: such a name is no name.
AUTO_NAME = re.compile(r"circuit-\d+\Z")
# id(shared circuit) -> (the circuit, its parts), oldest first
_PARTS: dict[int, tuple[QuantumCircuit, list[str]]] = {}
# A bit in a condition or expression: written as its index (a loose bit's uid is per process).
_BIT_REPR = re.compile(r"<Clbit [^>]*>")


def effective_options(run_options: Mapping[str, Any],
                      backend_options: Mapping[str, Any]) -> dict[str, Any]:
    """The options a job ran with: backend options, overridden by run options (as Aer does)."""
    merged = {k: v for k, v in backend_options.items() if k not in IGNORED_OPTIONS}
    merged.update((k, v) for k, v in run_options.items() if k not in IGNORED_OPTIONS)
    return merged


def is_seeded(options: Mapping[str, Any]) -> bool:
    """Whether effective ``options`` fix the simulator's seed."""
    return options.get("seed_simulator") is not None


def content_key(
    circuits: Any,
    parameter_binds: Any,
    run_options: Mapping[str, Any],
    backend_options: Mapping[str, Any],
    backend_class: str | None,
    backend_name: str | None,
    primitive: str | None = None,
) -> str:
    """The hex digest of a job's content (see the module docstring). For a primitive job,
    ``primitive`` is its kind and ``parameter_binds`` the :func:`pubs_content` of its pubs."""
    parts: list[str] = [
        "v1", str(backend_class), str(backend_name), qiskit.__version__, qiskit_aer.__version__,
    ]
    if primitive is not None:
        parts.append(f"primitive:{primitive}")
    if isinstance(circuits, QuantumCircuit):
        circuits = [circuits]
    for circuit in circuits or []:
        parts.append("<unnamed>" if AUTO_NAME.match(circuit.name) else repr(circuit.name))
        _shared_circuit(circuit, parts)
    parts.append("binds")
    _value(parameter_binds, parts)
    parts.append("options")
    options = effective_options(run_options, backend_options)
    for name in sorted(options):
        parts.append(name)
        _value(options[name], parts)
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "backslashreplace"),
                           digest_size=20).hexdigest()


def pubs_content(kind: str, pubs: Any) -> list[Any]:
    """What a primitive job's pubs hold beyond their circuits, for :func:`content_key`: each
    pub's parameter values (shape, names and arrays) and shots (sampler), or precision and
    observables (estimator)."""
    content: list[Any] = []
    for pub in pubs:
        values = pub.parameter_values
        item: list[Any] = [list(values.shape), dict(values.data)]
        if kind == "sampler":
            item.append(pub.shots)
        else:
            observables = pub.observables
            item += [float(pub.precision), list(observables.shape), list(observables.ravel())]
        content.append(item)
    return content


def _shared_circuit(circuit: QuantumCircuit, parts: list[str]) -> None:
    """:func:`_circuit`, its parts kept for a circuit loaded once for many jobs (the writer
    process's, see ``pickling.circuit_from_qpy``: never changed, so never stale)."""
    if not pickling.is_shared(circuit):
        _circuit(circuit, parts)
        return
    known = _PARTS.get(id(circuit))
    if known is None or known[0] is not circuit:
        mine: list[str] = []
        _circuit(circuit, mine)
        known = _PARTS[id(circuit)] = (circuit, mine)
        while len(_PARTS) > pickling.SHARED_KEPT:
            del _PARTS[next(iter(_PARTS))]
    parts += known[1]


def _circuit(circuit: QuantumCircuit, parts: list[str]) -> None:
    parts.append("circuit")  # its name: in content_key for a job's circuits, not for bodies
    parts.append(float(circuit.global_phase).hex() if not isinstance(
        circuit.global_phase, ParameterExpression) else str(circuit.global_phase))
    for register in (*circuit.qregs, *circuit.cregs):
        parts.append(f"{type(register).__name__}:{register.name}:{register.size}")
    parts.append(f"{circuit.num_qubits}:{circuit.num_clbits}")
    for var in (*circuit.iter_input_vars(), *circuit.iter_captured_vars(),
                *circuit.iter_declared_vars()):
        parts.append(repr(var))
    if circuit.metadata:
        parts.append(json.dumps(circuit.metadata, sort_keys=True, default=repr))
    qubits = {bit: i for i, bit in enumerate(circuit.qubits)}
    clbits = {bit: i for i, bit in enumerate(circuit.clbits)}
    for instruction in circuit.data:
        op = instruction.operation
        parts.append(op.name)
        parts.append(",".join(str(qubits[q]) for q in instruction.qubits))
        parts.append(",".join(str(clbits[c]) for c in instruction.clbits))
        if not instruction.is_standard_gate():
            _operation(op, parts, clbits)
        for param in instruction.params:
            _value(param, parts)


def _operation(op: Any, parts: list[str], clbits: dict[Any, int]) -> None:
    """What defines an operation beyond its name and parameters."""
    parts.append(f"{type(op).__module__}.{type(op).__qualname__}")
    for attribute in ("ctrl_state", "num_ctrl_qubits"):
        value = getattr(op, attribute, None)
        if value is not None:
            _value(value, parts)
    if isinstance(op, ControlFlowOp):
        names = {repr(bit): f"clbit{i}" for bit, i in clbits.items()}
        for attribute in ("condition", "target"):
            value = getattr(op, attribute, None)
            if value is not None:
                parts.append(_BIT_REPR.sub(lambda m: names.get(m.group(0), "?"), repr(value)))
        if hasattr(op, "cases_specifier"):  # switch: the labels of each case
            parts.append(repr([labels for labels, _ in op.cases_specifier()]))
        for block in op.blocks:
            _circuit(block, parts)
    elif hasattr(op, "to_dict") and callable(op.to_dict):  # Aer's QuantumError, ...
        parts.append(json.dumps(op.to_dict(), sort_keys=True, default=repr))
    elif type(op) in _DEFINED_BY_BODY and op.definition is not None:
        _circuit(op.definition, parts)  # circuit.to_gate(): the name alone says nothing


def _value(value: Any, parts: list[str]) -> None:
    """Append a canonical text of ``value``."""
    if value is None or isinstance(value, (bool, str)):
        parts.append(repr(value))
    elif isinstance(value, int):
        parts.append(f"i{value}")
    elif isinstance(value, float):
        parts.append(value.hex())
    elif isinstance(value, complex):
        parts.append(f"c{value.real.hex()},{value.imag.hex()}")
    elif isinstance(value, numpy.ndarray):
        parts.append(f"a{value.dtype.str}{value.shape}")
        parts.append(hashlib.blake2b(numpy.ascontiguousarray(value).tobytes()).hexdigest())
    elif isinstance(value, numpy.generic):
        _value(value.item(), parts)
    elif isinstance(value, QuantumCircuit):
        _circuit(value, parts)
    elif isinstance(value, ParameterExpression):
        parts.append(f"p{value}")
    elif isinstance(value, Mapping):
        items = sorted(((_text(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        parts.append(f"d{len(items)}")
        for key, item in items:
            parts.append(key)
            _value(item, parts)
    elif isinstance(value, (list, tuple)):
        parts.append(f"l{len(value)}")
        for item in value:
            _value(item, parts)
    elif hasattr(value, "to_dict") and callable(value.to_dict):  # NoiseModel and kin
        parts.append(type(value).__qualname__)
        parts.append(json.dumps(_to_dict(value), sort_keys=True, default=repr))
    else:
        parts.append(f"{type(value).__qualname__}:{value!r}")


def _to_dict(value: Any) -> Any:
    try:
        return value.to_dict(serializable=True)
    except TypeError:
        return value.to_dict()


def _text(key: Any) -> str:
    """A mapping key as text (a ``Parameter`` by its name: its uuid differs per process)."""
    parts: list[str] = []
    _value(key, parts)
    return "".join(parts)
