"""Comparing two stored jobs: ``StoredAerJob.diff(other)`` and ``aer-jobs diff A B``.

What ran (circuits, parameter binds, options, noise model, versions) is compared field by
field; what came out is compared per experiment: counts by their total variation distance and
Hellinger fidelity, set against the distance two samples of one distribution would show at
those shots (so shot noise is not mistaken for a change), saved states and expectation values
by their largest absolute difference.

Both jobs are read through the ``StoredAerJob`` API only: an untrusted job through its
portable copies, never unpickled. The result is a :class:`JobDiff`; its rendering for people
is in :mod:`.diffview`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.providers import JobError

from .compare import (
    compare_noise,
    counts_entry,
    dict_changes,
    largest_difference,
    same_values,
    shot_noise_tvd,
    tvd,
    within_stds,
    worst,
)
from .diffview import JobDiff, clip
from .exceptions import JobArchiveError, JobStoreError

if TYPE_CHECKING:
    from .job import StoredAerJob

__all__ = ["JobDiff", "diff_jobs", "read_experiments", "same_values", "shot_noise_tvd", "tvd"]

_FACTS = (
    "backend_name",
    "backend_class",
    "status",
    "primitive",
    "method",
    "shots",
    "seed_simulator",
    "num_circuits",
    "num_qubits",
)
_MAX_INSTRUCTIONS = 5  # changed instructions listed per circuit


def _backend_experiments(result: Any) -> list[dict[str, Any]]:
    """A ``Result``'s experiments: name, counts (if it measured) and its other saved data."""
    found = []
    for i, experiment in enumerate(getattr(result, "results", [])):
        head = getattr(experiment, "header", None) or {}
        head = head if isinstance(head, dict) else getattr(head, "to_dict", dict)()
        saved = experiment.data.to_dict() if hasattr(experiment.data, "to_dict") else {}
        saved = {k: v for k, v in saved.items() if k not in ("counts", "memory")}
        counts = None
        if getattr(experiment.data, "counts", None) is not None and head.get("memory_slots") != 0:
            counts = dict(result.get_counts(i))
        found.append(
            {
                "name": head.get("name") or f"experiment {i}",
                "counts": counts,
                "registers": {},
                "data": saved,
            }
        )
    return found


def _primitive_experiments(result: Any) -> list[dict[str, Any]]:
    """A ``PrimitiveResult``'s pubs: a sampler pub's counts (joined and per register), an
    estimator pub's ``evs`` and ``stds``."""
    found = []
    for i, pub in enumerate(result):
        data = pub.data
        fields = {k: getattr(data, k) for k in (data.keys() if hasattr(data, "keys") else [])}
        registers = {k: dict(v.get_counts()) for k, v in fields.items() if hasattr(v, "get_counts")}
        counts = None
        if registers:
            joined = pub.join_data() if hasattr(pub, "join_data") else None
            counts = (
                dict(joined.get_counts()) if joined is not None else next(iter(registers.values()))
            )
        rest = {k: v for k, v in fields.items() if k not in registers}
        found.append(
            {
                "name": f"pub {i}",
                "counts": counts,
                "registers": registers if len(registers) > 1 else {},
                "data": rest,
            }
        )
    return found


def read_experiments(job: StoredAerJob) -> list[dict[str, Any]]:
    """A finished job's experiments (a backend job's circuits, a primitive job's pubs), each
    ``{"name", "counts", "registers", "data"}``: counts None when it measured nothing,
    ``registers`` a sampler pub's counts per register (when it has several), ``data`` what
    else it saved (states, ``evs``, ``stds``...) as stored.

    Raises:
        JobError: the job has no result (still running, failed, result dropped).
    """
    result = job.result()
    if hasattr(result, "results"):
        return _backend_experiments(result)
    return _primitive_experiments(result)


def _compare_experiment(
    i: int, a: dict[str, Any] | None, b: dict[str, Any] | None, stds: tuple[Any, Any]
) -> dict[str, Any]:
    named = a or b or {}
    entry: dict[str, Any] = {
        "index": i,
        "name": named.get("name"),
        "tvd": None,
        "hellinger_fidelity": None,
        "shot_noise_tvd": None,
    }
    if a is None or b is None:
        entry["verdict"] = "only in A" if b is None else "only in B"
        return entry
    if a["name"] != b["name"]:
        entry["name"] = f"{a['name']} / {b['name']}"
    verdicts = []
    if a["counts"] is not None or b["counts"] is not None:
        entry.update(counts_entry(a["counts"] or {}, b["counts"] or {}))
        verdicts.append(entry["verdict"])
    registers = {}
    for name in a["registers"].keys() | b["registers"].keys():
        registers[name] = counts_entry(a["registers"].get(name, {}), b["registers"].get(name, {}))
    if registers:
        entry["registers"] = dict(sorted(registers.items()))
    data = {}
    for key in sorted(a["data"].keys() | b["data"].keys()):
        if key not in a["data"] or key not in b["data"]:
            data[key] = {
                "max_abs_difference": None,
                "verdict": "only in A" if key in a["data"] else "only in B",
            }
        else:
            data[key] = largest_difference(a["data"][key], b["data"][key])
    if "evs" in data and data["evs"]["max_abs_difference"] is not None:
        data["evs"].update(within_stds(a["data"]["evs"], b["data"]["evs"], *stds))
    if data:
        entry["data"] = data
        verdicts += [d["verdict"] for d in data.values()]
        differences = [
            d["max_abs_difference"] for d in data.values() if d["max_abs_difference"] is not None
        ]
        entry["max_abs_difference"] = max(differences) if differences else None
    entry["verdict"] = worst(verdicts)
    return entry


def _compare_results(a: StoredAerJob, b: StoredAerJob) -> tuple[list[dict], list, dict]:
    """The experiments compared, their counts pairs (for pictures) and why a side has none."""
    sides, errors = [], {}
    for label, job in (("a", a), ("b", b)):
        try:
            sides.append(read_experiments(job))
        except (JobError, JobArchiveError, JobStoreError) as exc:
            sides.append(None)
            errors[label] = str(exc)
    if None in sides:
        return [], [], errors
    ea, eb = sides
    entries, pairs = [], []
    for i in range(max(len(ea), len(eb))):
        x = ea[i] if i < len(ea) else None
        y = eb[i] if i < len(eb) else None
        stds = ((x or {}).get("data", {}).get("stds"), (y or {}).get("data", {}).get("stds"))
        entries.append(_compare_experiment(i, x, y, stds))
        pairs.append(((x or {}).get("counts"), (y or {}).get("counts")))
    return entries, pairs, errors


def _param_key(p: Any) -> Any:
    # parameters by name: the same circuit built twice has new Parameter objects
    if isinstance(p, (int, float, complex, np.number)):
        return complex(p)
    return str(p) if hasattr(p, "parameters") else p


def _instruction_key(circuit: Any, instruction: Any) -> tuple:
    """What makes an instruction itself: gate, parameters (by name), qubits and clbits."""
    op = instruction.operation
    return (
        op.name,
        [_param_key(p) for p in getattr(op, "params", [])],
        [circuit.find_bit(q).index for q in instruction.qubits],
        [circuit.find_bit(c).index for c in instruction.clbits],
    )


def _instruction_text(circuit: Any, instruction: Any) -> str:
    op = instruction.operation
    params = ", ".join(
        f"{float(p):.6g}" if isinstance(p, (int, float, np.number)) else clip(str(p), 40)
        for p in getattr(op, "params", [])
    )
    where = ", ".join(str(circuit.find_bit(q).index) for q in instruction.qubits)
    return f"{op.name}({params}) q[{where}]" if params else f"{op.name} q[{where}]"


def _circuit_changes(a: Any, b: Any) -> dict[str, Any]:
    """What differs between two circuits (nothing: equal): size, depth, gate counts,
    parameters (by name), metadata, global phase, and the first instructions that changed."""
    changes: dict[str, Any] = {}
    for what, read in (
        ("num_qubits", lambda c: c.num_qubits),
        ("num_clbits", lambda c: c.num_clbits),
        ("depth", lambda c: c.depth()),
        ("name", lambda c: c.name),
    ):
        if read(a) != read(b):
            changes[what] = [read(a), read(b)]
    ops_a, ops_b = dict(a.count_ops()), dict(b.count_ops())
    gates = {
        k: [ops_a.get(k, 0), ops_b.get(k, 0)]
        for k in sorted(ops_a.keys() | ops_b.keys())
        if ops_a.get(k, 0) != ops_b.get(k, 0)
    }
    if gates:
        changes["gate_counts"] = gates
    pa, pb = {p.name for p in a.parameters}, {p.name for p in b.parameters}
    if pa != pb:
        changes["parameters"] = {"added": sorted(pb - pa), "removed": sorted(pa - pb)}
    if not same_values(a.metadata, b.metadata):
        changes["metadata"] = [clip(repr(a.metadata)), clip(repr(b.metadata))]
    if str(a.global_phase) != str(b.global_phase):  # a phase may be a parameter expression
        changes["global_phase"] = [str(a.global_phase), str(b.global_phase)]
    changed = [
        (i, x, y)
        for i, (x, y) in enumerate(zip(a.data, b.data))
        if not same_values(_instruction_key(a, x), _instruction_key(b, y))
    ]
    if changed:
        changes["instructions"] = [
            {"index": i, "a": _instruction_text(a, x), "b": _instruction_text(b, y)}
            for i, x, y in changed[:_MAX_INSTRUCTIONS]
        ]
        changes["instructions_changed"] = len(changed) + abs(len(a.data) - len(b.data))
    elif len(a.data) != len(b.data):
        changes["instructions_changed"] = abs(len(a.data) - len(b.data))
    return changes


def _compare_circuits(a: StoredAerJob, b: StoredAerJob) -> tuple[list[dict], str | None]:
    try:
        ca, cb = a.circuits(), b.circuits()
    except (JobError, JobArchiveError, JobStoreError) as exc:
        return [], str(exc)
    entries = []
    for i in range(max(len(ca), len(cb))):
        x = ca[i] if i < len(ca) else None
        y = cb[i] if i < len(cb) else None
        name = getattr(x if x is not None else y, "name", None)
        if x is None or y is None:
            entries.append(
                {
                    "index": i,
                    "name": name,
                    "equal": False,
                    "changes": {"only_in": "A" if y is None else "B"},
                }
            )
            continue
        changes = _circuit_changes(x, y)
        entries.append({"index": i, "name": name, "equal": not changes, "changes": changes})
    return entries, None


def _options(job: StoredAerJob) -> dict[str, dict[str, Any]]:
    run = job.run_options()
    backend = job.backend_options()
    run.pop("noise_model", None)
    backend.pop("noise_model", None)
    found = {"run_options": run, "backend_options": backend}
    primitive = job._data().get("primitive_options") if job.primitive else None
    if isinstance(primitive, dict):
        found["primitive_options"] = primitive
    return found


def diff_jobs(a: StoredAerJob, b: StoredAerJob) -> JobDiff:
    """Compare two stored jobs: what ran and what came out (see :class:`JobDiff`).

    Raises:
        JobError: a job's circuits and options are not stored yet (it is still running).
    """
    ma, mb = a.manifest, b.manifest
    circuits, circuits_error = _compare_circuits(a, b)
    oa, ob = _options(a), _options(b)
    options = {k: dict_changes(oa.get(k, {}), ob.get(k, {})) for k in oa.keys() | ob.keys()}
    binds_equal = same_values(a.parameter_binds(), b.parameter_binds())
    experiments, pairs, errors = _compare_results(a, b)
    return JobDiff(
        a=a.job_id(),
        b=b.job_id(),
        jobs={side: {f: m.get(f) for f in _FACTS} for side, m in (("a", ma), ("b", mb))},
        circuits=circuits,
        circuits_error=circuits_error,
        parameter_binds={"equal": binds_equal}
        if binds_equal
        else {
            "equal": False,
            "a": clip(repr(a.parameter_binds())),
            "b": clip(repr(b.parameter_binds())),
        },
        options=dict(sorted(options.items())),
        noise_model=compare_noise(a.noise_model(), b.noise_model()),
        versions=dict_changes(ma.get("versions") or {}, mb.get("versions") or {}),
        experiments=experiments,
        results_error=errors,
        counts_pairs=pairs,
    )
