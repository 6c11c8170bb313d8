"""Comparisons of stored values, with no job in sight: equality of results' data, distances of
counts against their shot noise, largest differences of states and expectation values, changed
keys of options, and noise models error by error. :mod:`.diff` applies them to two jobs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .diffview import VERDICTS, clip

__all__ = [
    "NOISE_FACTOR",
    "compare_noise",
    "counts_entry",
    "dict_changes",
    "largest_difference",
    "noise_errors",
    "same_values",
    "shot_noise_tvd",
    "tvd",
    "within_stds",
    "worst",
]

# Counts whose distance is under this many times the shot-noise level are "within shot noise".
NOISE_FACTOR = 3.0
# Two numbers this close are equal (saved states and expectation values).
ATOL = 1e-9


def same_values(a: Any, b: Any) -> bool:
    """Whether two stored values hold exactly the same data: dicts, lists, arrays, Qiskit's
    ``BitArray``, states and operators (by their ``data``), numbers and strings."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    if hasattr(a, "num_bits") and hasattr(a, "array"):  # a sampler's BitArray
        return a.num_bits == getattr(b, "num_bits", None) and same_values(a.array, b.array)
    a, b = getattr(a, "data", a), getattr(b, "data", b)  # Statevector, Operator, ...
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def tvd(a: dict[str, int], b: dict[str, int]) -> float:
    """Total variation distance of two counts: half the summed |difference| of their
    probabilities (0: the same distribution, 1: disjoint)."""
    na, nb = sum(a.values()) or 1, sum(b.values()) or 1
    return 0.5 * sum(abs(a.get(k, 0) / na - b.get(k, 0) / nb) for k in a.keys() | b.keys())


def shot_noise_tvd(a: dict[str, int], b: dict[str, int]) -> float:
    """The total variation distance expected between two independent samples of one
    distribution, of ``a``'s and ``b``'s shots.

    Formula: with ``p_k`` the pooled probability of outcome ``k`` (both counts together, the
    best guess if nothing changed), each difference of frequencies is about normal with
    variance ``p_k (1 - p_k) (1/n_a + 1/n_b)``, whose absolute value has mean
    ``sqrt(2/pi)`` times its standard deviation; half their sum over the outcomes is the
    expected TVD. A TVD under :data:`NOISE_FACTOR` times this is "within shot noise".
    """
    na, nb = sum(a.values()), sum(b.values())
    if not na or not nb:
        return 0.0
    pooled = na + nb
    spread = 1 / na + 1 / nb
    return (
        0.5
        * math.sqrt(2 / math.pi)
        * sum(
            math.sqrt(p * (1 - p) * spread)
            for p in ((a.get(k, 0) + b.get(k, 0)) / pooled for k in a.keys() | b.keys())
        )
    )


def counts_entry(a: dict[str, int], b: dict[str, int]) -> dict[str, Any]:
    """Distances of two counts, their shot-noise level and the verdict."""
    from qiskit.quantum_info import hellinger_fidelity

    distance = tvd(a, b)
    noise = shot_noise_tvd(a, b)
    if a == b:
        verdict = "equal"
    elif not a or not b:
        verdict = "differs"
    else:
        verdict = "within shot noise" if distance <= NOISE_FACTOR * noise else "differs"
    fidelity = hellinger_fidelity(a, b) if a and b else None
    return {
        "tvd": distance,
        "hellinger_fidelity": None if fidelity is None else float(fidelity),
        "shot_noise_tvd": noise,
        "shots": [sum(a.values()), sum(b.values())],
        "verdict": verdict,
    }


def largest_difference(a: Any, b: Any) -> dict[str, Any]:
    """Largest |difference| of two saved values (states, arrays, numbers), and a verdict."""
    x = np.asarray(getattr(a, "data", a))
    y = np.asarray(getattr(b, "data", b))
    if x.shape != y.shape or not (
        np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number)
    ):
        same = same_values(a, b)
        return {
            "max_abs_difference": None,
            "verdict": "equal" if same else "differs",
            "note": None if same else f"shapes {x.shape} and {y.shape}",
        }
    largest = float(np.max(np.abs(x - y))) if x.size else 0.0
    return {"max_abs_difference": largest, "verdict": "equal" if largest <= ATOL else "differs"}


def within_stds(evs_a: Any, evs_b: Any, stds_a: Any, stds_b: Any) -> dict[str, Any]:
    """Expectation values that differ by no more than 3 of their combined standard errors are
    within the estimator's precision."""
    try:
        delta = np.abs(np.asarray(evs_a, float) - np.asarray(evs_b, float))
        spread = np.sqrt(np.asarray(stds_a, float) ** 2 + np.asarray(stds_b, float) ** 2)
        if np.all(delta <= ATOL):
            return {}
        if np.all(spread > 0) and np.all(delta <= 3 * spread):
            return {"verdict": "within precision"}
    except (TypeError, ValueError):  # stds missing or of another shape: the plain verdict
        pass
    return {}


def worst(verdicts: list[str]) -> str:
    return max(verdicts, key=VERDICTS.index) if verdicts else "equal"


def dict_changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Keys added (in B only), removed (in A only) and changed, values as short text."""
    return {
        "added": {k: clip(repr(b[k])) for k in sorted(b.keys() - a.keys())},
        "removed": {k: clip(repr(a[k])) for k in sorted(a.keys() - b.keys())},
        "changed": {
            k: [clip(repr(a[k])), clip(repr(b[k]))]
            for k in sorted(a.keys() & b.keys())
            if not same_values(a[k], b[k])
        },
    }


def noise_errors(model: Any) -> dict[str, tuple[dict, str]]:
    """A noise model's errors by where they act (``"cx on all qubits"``, ``"readout on
    [0]"``): each error's dict (ids dropped) and a one-line summary."""
    if model is None:
        return {}
    as_dict = model.to_dict() if hasattr(model, "to_dict") else model
    errors = as_dict.get("errors", []) if isinstance(as_dict, dict) else []
    found = {}
    for error in errors:
        error = {k: v for k, v in error.items() if k != "id"}
        qubits = error.get("gate_qubits")
        where = f"on {[list(q) for q in qubits]}" if qubits else "on all qubits"
        kind = (
            "readout" if error.get("type") == "roerror" else "/".join(error.get("operations", []))
        )
        probabilities = error.get("probabilities", [])
        if error.get("type") == "roerror":
            summary = "readout matrix " + clip(
                str(np.round(np.asarray(probabilities, float), 4).tolist()), 60
            )
        else:
            p = [float(x) for x in probabilities]
            summary = f"{len(p)} terms, error probability {1 - max(p, default=1):.4g}"
        found[f"{kind} {where}"] = (error, summary)
    return found


def compare_noise(a: Any, b: Any) -> dict[str, Any]:
    if a is None and b is None:
        return {"equal": True}
    ea, eb = noise_errors(a), noise_errors(b)
    if not ea and not eb and not same_values(a, b):  # not a NoiseModel: compared as a whole
        return {"equal": False, "a": clip(repr(a)), "b": clip(repr(b))}
    entry = {
        "equal": True,
        "added": {k: eb[k][1] for k in sorted(eb.keys() - ea.keys())},
        "removed": {k: ea[k][1] for k in sorted(ea.keys() - eb.keys())},
        "changed": {
            k: [ea[k][1], eb[k][1]]
            for k in sorted(ea.keys() & eb.keys())
            if not same_values(ea[k][0], eb[k][0])
        },
    }
    basis = [sorted(getattr(m, "basis_gates", []) or []) for m in (a, b)]
    if a is not None and b is not None and basis[0] != basis[1]:
        entry["basis_gates"] = basis
    entry["equal"] = not any(
        entry[k] for k in ("added", "removed", "changed", "basis_gates") if k in entry
    )
    return entry
