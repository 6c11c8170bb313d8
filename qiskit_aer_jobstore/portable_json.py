"""JSON with NumPy arrays kept aside: the codec of the portable copies.

``encode`` turns results (``Result``, ``PrimitiveResult``, quantum-info states and operators,
NumPy arrays and scalars, complex numbers, tuples, dicts with non-string keys) into plain JSON
values; every array is replaced by ``{"__ndarray__": "arrays/<n>.npy"}`` and kept in
``Encoder.arrays`` to be written as an ``.npy`` member. ``decode`` rebuilds them from a fixed list
of types, loading arrays with ``np.load(allow_pickle=False)``: no pickle, no imports named by the
data. Anything else is stored as ``{"__unsupported__": type name, "repr": ...}`` and comes back as
that ``repr`` string.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Callable
from typing import Any

import numpy as np
from qiskit import quantum_info as qi
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    PrimitiveResult,
    PubResult,
    SamplerPubResult,
)
from qiskit.result import Counts, ProbDistribution, QuasiDistribution, Result
from qiskit.result.models import MeasLevel, MeasReturnType
from qiskit_aer.backends import compatibility as aer_qi

ARRAY_DIR = "arrays/"
_MAX_DEPTH = 64
_REPR_CHARS = 2000


def _dims(dims: Any) -> list[int]:
    return [int(d) for d in dims]


def _state(enc: Encoder, obj: Any) -> dict:
    return {"data": enc.array(obj.data), "dims": _dims(obj.dims())}


def _operator(enc: Encoder, obj: Any) -> dict:
    return {
        "data": enc.array(obj.data),
        "input_dims": _dims(obj.input_dims()),
        "output_dims": _dims(obj.output_dims()),
    }


def _new_state(cls: type) -> Callable[[dict], Any]:
    return lambda d: cls(d["data"], dims=tuple(d["dims"]))


def _new_operator(cls: type) -> Callable[[dict], Any]:
    return lambda d: cls(
        d["data"], input_dims=tuple(d["input_dims"]), output_dims=tuple(d["output_dims"])
    )


def _data_bin(enc: Encoder, obj: DataBin) -> dict:
    return {
        "shape": [int(s) for s in obj.shape],
        "fields": {name: enc.encode(value) for name, value in obj.items()},
    }


def _pub_result(enc: Encoder, obj: Any) -> dict:
    return {"data": enc.encode(obj.data), "metadata": enc.encode(obj.metadata)}


def _result_from_dict(d: dict) -> Result:
    """``Result.from_dict``, with each experiment's ``meas_level`` / ``meas_return`` back as
    the enums the live result holds (JSON keeps only their values)."""
    result = Result.from_dict(d["dict"])
    for experiment in result.results:
        for name, kind in (("meas_level", MeasLevel), ("meas_return", MeasReturnType)):
            value = getattr(experiment, name, None)
            if value is not None and not isinstance(value, kind):
                try:
                    setattr(experiment, name, kind(value))
                except ValueError:
                    pass  # kept as stored: Result.from_dict accepted it
    return result


# tag -> (class, encode fields, rebuild from decoded fields). Exact classes are matched first,
# then subclasses by isinstance in this order (so Aer's subclasses keep their own tag).
_TYPES: dict[str, tuple[type, Callable[[Encoder, Any], dict], Callable[[dict], Any]]] = {
    "Result": (
        Result,
        lambda enc, r: {"dict": enc.encode(r.to_dict())},
        _result_from_dict,
    ),
    "PrimitiveResult": (
        PrimitiveResult,
        lambda enc, r: {
            "pub_results": [enc.encode(p) for p in r],
            "metadata": enc.encode(r.metadata),
        },
        lambda d: PrimitiveResult(d["pub_results"], metadata=d["metadata"]),
    ),
    "SamplerPubResult": (
        SamplerPubResult,
        _pub_result,
        lambda d: SamplerPubResult(d["data"], d["metadata"]),
    ),
    "PubResult": (PubResult, _pub_result, lambda d: PubResult(d["data"], d["metadata"])),
    "DataBin": (DataBin, _data_bin, lambda d: DataBin(**d["fields"], shape=tuple(d["shape"]))),
    "BitArray": (
        BitArray,
        lambda enc, b: {"array": enc.array(b.array), "num_bits": int(b.num_bits)},
        lambda d: BitArray(d["array"], d["num_bits"]),
    ),
    "ProbDistribution": (
        ProbDistribution,
        lambda enc, p: {"data": enc.encode(dict(p)), "shots": p.shots},
        lambda d: ProbDistribution(d["data"], shots=d["shots"]),
    ),
    "QuasiDistribution": (
        QuasiDistribution,
        lambda enc, q: {
            "data": enc.encode(dict(q)),
            "shots": q.shots,
            "stddev_upper_bound": q.stddev_upper_bound,
        },
        lambda d: QuasiDistribution(
            d["data"], shots=d["shots"], stddev_upper_bound=d["stddev_upper_bound"]
        ),
    ),
    "Counts": (
        Counts,
        lambda enc, c: {
            "data": enc.encode(c.hex_raw or dict(c)),
            "time_taken": c.time_taken,
            "creg_sizes": enc.encode(c.creg_sizes),
            "memory_slots": c.memory_slots,
        },
        lambda d: Counts(
            d["data"],
            time_taken=d["time_taken"],
            creg_sizes=d["creg_sizes"],
            memory_slots=d["memory_slots"],
        ),
    ),
    "Clifford": (
        qi.Clifford,
        lambda enc, c: {"tableau": enc.array(c.tableau)},
        lambda d: qi.Clifford(d["tableau"]),
    ),
}


def _quantum_info_types(prefix: str, module: Any) -> dict:
    """States and operators of ``module`` (Qiskit's, or Aer's subclasses of them)."""
    types: dict[str, tuple] = {}
    for name in ("Statevector", "DensityMatrix"):
        cls = getattr(module, name)
        types[prefix + name] = (cls, _state, _new_state(cls))
    for name in ("Operator", "SuperOp"):
        cls = getattr(module, name)
        types[prefix + name] = (cls, _operator, _new_operator(cls))
    cls = module.StabilizerState
    types[prefix + "StabilizerState"] = (
        cls,
        lambda enc, s: {"clifford": enc.encode(s.clifford)},
        lambda d, cls=cls: cls(d["clifford"]),
    )
    return types


# Aer's subclasses first, so that isinstance matching finds them before Qiskit's classes.
_TYPES = {**_quantum_info_types("aer.", aer_qi), **_quantum_info_types("", qi), **_TYPES}
_BY_CLASS = {cls: tag for tag, (cls, _, _) in _TYPES.items()}


class Encoder:
    """Encodes Python values to JSON values, collecting NumPy arrays for ``.npy`` members."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._seen: dict[int, str] = {}  # id(array) -> member, so a shared array is stored once
        self.unsupported: set[str] = set()

    def array(self, value: np.ndarray) -> dict:
        member = self._seen.get(id(value))
        if member is None:
            member = f"{ARRAY_DIR}{len(self.arrays)}.npy"
            self._seen[id(value)] = member
            self.arrays[member] = value
        return {"__ndarray__": member}

    def array_members(self) -> dict[str, bytes]:
        """The collected arrays as ``.npy`` bytes (loadable with ``allow_pickle=False``)."""
        return {name: npy_bytes(value) for name, value in self.arrays.items()}

    def encode(self, obj: Any, depth: int = 0) -> Any:
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, (int, float)) and type(obj) in (int, float):
            return obj
        if depth > _MAX_DEPTH:
            return self._unsupported(obj)
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                return {"__objarray__": [self.encode(v, depth + 1) for v in obj.tolist()]}
            return self.array(obj)
        if isinstance(obj, np.generic):
            value = obj.item()
            if isinstance(value, complex):
                value = [value.real, value.imag]
            elif not isinstance(value, (bool, int, float, str)):
                return self._unsupported(obj)
            return {"__scalar__": obj.dtype.str, "value": value}
        if isinstance(obj, complex):
            return {"__complex__": [obj.real, obj.imag]}
        if isinstance(obj, enum.Enum) and isinstance(obj.value, (int, str)):
            return obj.value
        if isinstance(obj, (int, float)):  # other subclasses: keep the number
            return int(obj) if isinstance(obj, int) else float(obj)
        tag = _BY_CLASS.get(type(obj))
        if tag is not None:
            return {"__type__": tag, **_TYPES[tag][1](self, obj)}
        if isinstance(obj, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in obj):
                return {k: self.encode(v, depth + 1) for k, v in obj.items()}
            return {
                "__dict__": [
                    [self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in obj.items()
                ]
            }
        if isinstance(obj, list):
            return [self.encode(v, depth + 1) for v in obj]
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, depth + 1) for v in obj]}
        tag = next((t for t, (cls, _, _) in _TYPES.items() if isinstance(obj, cls)), None)
        if tag is not None:
            fields = _TYPES[tag][1](self, obj)
            return {"__type__": tag, **fields}
        return self._unsupported(obj)

    def _unsupported(self, obj: Any) -> dict:
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        self.unsupported.add(name)
        try:
            text = repr(obj)
        except Exception:  # a broken __repr__ must not stop the save
            text = f"<{name}>"
        return {"__unsupported__": name, "repr": text[:_REPR_CHARS]}


def npy_bytes(value: np.ndarray) -> bytes:
    """``value`` in ``.npy`` format, with one copy of its data (``np.save`` makes two)."""
    if value.dtype.hasobject:
        raise ValueError("object arrays are not stored as .npy")
    if not (value.flags.c_contiguous or value.flags.f_contiguous):
        value = np.ascontiguousarray(value)
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, np.lib.format.header_data_from_array_1_0(value))
    order = "F" if value.flags.f_contiguous and not value.flags.c_contiguous else "C"
    raw = value.reshape(-1, order=order).view(np.uint8) if value.size else b""
    return b"".join((header.getvalue(), raw))


class Decoder:
    """Rebuilds values written by :class:`Encoder`.

    Args:
        load_member: returns the bytes of an archive member (already checked against the
            manifest's SHA-256).
    """

    def __init__(self, load_member: Callable[[str], bytes]):
        self._load_member = load_member
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or not name.startswith(ARRAY_DIR):
            raise ValueError(f"bad array reference {name!r}")
        if name not in self._arrays:
            self._arrays[name] = np.load(io.BytesIO(self._load_member(name)), allow_pickle=False)
        return self._arrays[name]

    def decode(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if "__ndarray__" in obj:
            return self.array(obj["__ndarray__"])
        if "__scalar__" in obj:
            value = obj["value"]
            value = complex(*value) if isinstance(value, list) else value
            return np.dtype(obj["__scalar__"]).type(value)
        if "__complex__" in obj:
            return complex(*obj["__complex__"])
        if "__tuple__" in obj:
            return tuple(self.decode(v) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {_hashable(self.decode(k)): self.decode(v) for k, v in obj["__dict__"]}
        if "__objarray__" in obj:
            return np.array(self.decode(obj["__objarray__"]), dtype=object)
        if "__unsupported__" in obj:
            return obj.get("repr")
        if "__type__" in obj:
            entry = _TYPES.get(obj["__type__"])
            if entry is None:
                raise ValueError(f"unknown type {obj['__type__']!r}")
            fields = {k: self.decode(v) for k, v in obj.items() if k != "__type__"}
            return entry[2](fields)
        return {k: self.decode(v) for k, v in obj.items()}


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
