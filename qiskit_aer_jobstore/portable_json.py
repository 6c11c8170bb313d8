"""JSON with NumPy arrays kept aside: the codec of the portable copies.

``encode`` turns results (``Result``, ``PrimitiveResult``, quantum-info states and operators,
NumPy arrays and scalars, complex numbers, tuples, dicts with non-string keys) into plain JSON
values; every array is replaced by a reference to where its data is stored:

- an array of ``OWN_MEMBER_BYTES`` or more gets an ``.npy`` member of its own,
  ``{"__ndarray__": "arrays/<n>.npy"}`` (at most ``own_members`` of them);
- the others are packed together into one member, ``arrays/packed.npy`` (a 1-D ``uint8``
  ``.npy``: their raw bytes one after the other), each referred to as
  ``{"__ndarray__": "arrays/packed.npy", "at": byte offset, "dtype": "<c16", "shape": [...]}``
  (plus ``"order": "F"`` for a Fortran-ordered array). One member for all the small arrays
  keeps an archive's member count within what a reader accepts, however many arrays a job has.

``decode`` rebuilds them from a fixed list of types, loading arrays with
``np.load(allow_pickle=False)`` and checking every packed reference (a plain dtype, a shape of
non-negative ints, bytes inside the pack): no pickle, no imports named by the data. Anything
else is stored as ``{"__unsupported__": type name, "repr": ...}`` and comes back as that
``repr`` string.
"""

from __future__ import annotations

import enum
import io
import math
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
PACKED = ARRAY_DIR + "packed.npy"
# Arrays this large get a member of their own (the pickle shares it, see portable.py).
OWN_MEMBER_BYTES = 64 * 1024
_ALIGN = 16  # packed arrays start at multiples of this: aligned views for every dtype
_MAX_DIMS = 64
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
    """Encodes Python values to JSON values, collecting NumPy arrays for ``.npy`` members.

    Args:
        own_members: at most this many arrays get a member of their own; the others are
            packed, whatever their size (a reader refuses archives of too many members).
    """

    def __init__(self, own_members: int) -> None:
        self.arrays: dict[str, np.ndarray] = {}  # own member -> array
        self.count = 0  # distinct arrays met
        self.buffers: dict[int, Any] = {}  # id(array) -> where its bytes are stored once
        self._own_members = own_members
        self._seen: dict[int, dict] = {}  # id(array) -> reference, so one array is stored once
        self._kept: list[np.ndarray] = []  # alive while encoding: ids stay unique
        self._packed: list[tuple[int, np.ndarray]] = []  # (offset, raw bytes as uint8)
        self._packed_bytes = 0
        self.unsupported: set[str] = set()

    def array(self, value: np.ndarray) -> dict:
        if value.dtype.hasobject:  # no .npy holds objects: encoded one by one
            return {"__objarray__": [self.encode(v, 1) for v in value.tolist()]}
        reference = self._seen.get(id(value))
        if reference is None:
            reference = self._place(value)
            self._seen[id(value)] = reference
            self._kept.append(value)
            self.count += 1
        return dict(reference)

    def _place(self, value: np.ndarray) -> dict:
        """Where ``value`` is stored: its own member, or a slice of the packed one."""
        dtype = value.dtype
        packable = dtype.names is None and dtype.subdtype is None and dtype.itemsize > 0
        own = value.nbytes >= OWN_MEMBER_BYTES or not packable
        if own and len(self.arrays) < self._own_members:
            member = f"{ARRAY_DIR}{len(self.arrays)}.npy"
            self.arrays[member] = value
            self.buffers[id(value)] = member
            return {"__ndarray__": member}
        if not packable:  # a structured array beyond the budget: never seen in a result
            return self._unsupported(value)
        contiguous = value.flags.c_contiguous or value.flags.f_contiguous
        order = "F" if value.flags.f_contiguous and not value.flags.c_contiguous else "C"
        flat = value if contiguous else np.ascontiguousarray(value)
        raw = flat.reshape(-1, order=order).view(np.uint8)
        at = self._packed_bytes
        self._packed.append((at, raw))
        self._packed_bytes = -(-(at + raw.size) // _ALIGN) * _ALIGN
        if contiguous and raw.size >= OWN_MEMBER_BYTES:  # past the budget: shared from the pack
            self.buffers[id(value)] = [PACKED, at, int(raw.size)]
        reference = {"__ndarray__": PACKED, "at": at, "dtype": dtype.str,
                     "shape": [int(n) for n in value.shape]}
        if order == "F":
            reference["order"] = "F"
        return reference

    def array_members(self) -> dict[str, bytes]:
        """The collected arrays as ``.npy`` bytes (loadable with ``allow_pickle=False``)."""
        members = {name: npy_bytes(value) for name, value in self.arrays.items()}
        if self._packed:
            members[PACKED] = self._pack()
        return members

    def _pack(self) -> bytes:
        """The packed arrays as one 1-D ``uint8`` ``.npy``, copied once."""
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(
            header, {"descr": "|u1", "fortran_order": False, "shape": (self._packed_bytes,)}
        )
        parts: list[Any] = [header.getvalue()]
        end = 0
        for at, raw in self._packed:
            parts.extend((bytes(at - end), raw))
            end = at + raw.size
        parts.append(bytes(self._packed_bytes - end))
        return b"".join(parts)

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
        self._members: dict[str, np.ndarray] = {}
        self._arrays: dict[tuple, np.ndarray] = {}

    def _member(self, name: Any) -> np.ndarray:
        if not isinstance(name, str) or not name.startswith(ARRAY_DIR):
            raise ValueError(f"bad array reference {name!r}")
        if name not in self._members:
            self._members[name] = np.load(io.BytesIO(self._load_member(name)), allow_pickle=False)
        return self._members[name]

    def array(self, reference: dict) -> np.ndarray:
        """The array a reference names: a whole ``.npy`` member, or a slice of a packed one
        (a view of its bytes, after every field of the untrusted reference is checked)."""
        name = reference["__ndarray__"]
        if "at" not in reference:
            return self._member(name)
        at, descr, shape = reference["at"], reference.get("dtype"), reference.get("shape")
        order = reference.get("order", "C")
        plain = isinstance(descr, str) and len(descr) <= 64
        if not (_is_count(at) and order in ("C", "F") and plain):
            raise ValueError(f"bad packed array reference {reference!r}"[:200])
        if not isinstance(shape, list) or len(shape) > _MAX_DIMS or not all(map(_is_count, shape)):
            raise ValueError(f"bad shape {shape!r} of a packed array"[:200])
        key = (name, at, descr, tuple(shape), order)
        if key not in self._arrays:
            dtype = np.dtype(descr)
            if dtype.hasobject or dtype.names or dtype.subdtype or not dtype.itemsize:
                raise ValueError(f"packed array of dtype {descr!r}: only plain dtypes are packed")
            packed = self._member(name)
            size = math.prod(shape) * dtype.itemsize
            if packed.dtype != np.uint8 or packed.ndim != 1 or at + size > packed.size:
                raise ValueError(f"packed array at {at} is outside {name}")
            raw = packed[at : at + size]
            self._arrays[key] = raw.view(dtype).reshape(shape, order=order)
        return self._arrays[key]

    def decode(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if "__ndarray__" in obj:
            return self.array(obj)
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


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    return value
