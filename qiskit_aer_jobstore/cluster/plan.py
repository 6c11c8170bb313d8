"""Splitting a job into pieces (``max_job_size``, ``max_shot_size``), their seeds, and merging
the pieces' results back into one ``Result`` as if the job had run in one piece.

Seeds: Aer's controller seeds experiment ``i`` of a job (circuits times parameter binds, in
order) with ``seed_simulator + 2113 * i`` (modulo 2**64; checked against Aer 0.18's
``result.results[i].seed_simulator``). A piece whose first experiment is ``j`` therefore gets
``seed_simulator + 2113 * j`` and reproduces the unsplit run's counts. Shot part ``k`` (k >= 1)
of a shot-split circuit is shifted by ``k`` times the job's experiment count, so no two
pieces share a seed and the same seed with the same split gives the same result.
"""

from __future__ import annotations

import copy
import secrets
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from qiskit.result import Result
from qiskit.result.models import ExperimentResultData

from ..exceptions import JobStoreError

SEED_STRIDE = 2113  # Aer: experiment i runs with seed_simulator + 2113 * i
_U64 = 2**64


def int64_seed(value: int) -> int:
    """``value`` modulo 2**64 as the signed 64-bit int Aer accepts for ``seed_simulator``."""
    value %= _U64
    return value - _U64 if value >= 2**63 else value


def random_seed() -> int:
    """A seed for a job given none: fixed at submission so that resumed pieces match."""
    return secrets.randbits(32)


@dataclass(frozen=True)
class Piece:
    """One sub-job: circuits ``[start, stop)``, shot part ``part`` with ``shots`` shots (None:
    the job's shots), run with ``seed_simulator=seed``."""

    index: int
    start: int
    stop: int
    first_experiment: int
    part: int
    shots: int | None
    seed: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Piece:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def positive_int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JobStoreError(f"{name} must be a positive integer or None, not {value!r}.")
    return value


def experiments_per_circuit(circuits: list, parameter_binds: Any) -> list[int]:
    """How many experiments (results) each circuit gives: one per parameter bind."""
    if not parameter_binds:
        return [1] * len(circuits)
    if len(parameter_binds) != len(circuits):
        raise JobStoreError(
            f"parameter_binds has {len(parameter_binds)} entries for {len(circuits)} circuits: "
            "give one dictionary per circuit."
        )
    counts = []
    for binds in parameter_binds:
        values = next(iter(binds.values()), None) if binds else None
        counts.append(len(values) if values is not None else 1)
    return counts


def has_save_instructions(circuits: list) -> bool:
    return any(inst.operation.name.startswith("save_") for circ in circuits for inst in circ.data)


def make_plan(
    experiments: list[int],
    shots: int,
    seed: int,
    max_job_size: int | None,
    max_shot_size: int | None,
) -> list[Piece]:
    """The pieces of a job, circuit chunk by circuit chunk, shot part by shot part."""
    n = len(experiments)
    size = max_job_size or max(n, 1)
    if max_shot_size and shots > max_shot_size:
        parts = [max_shot_size] * (shots // max_shot_size)
        if shots % max_shot_size:
            parts.append(shots % max_shot_size)
    else:
        parts = [None]
    total = sum(experiments)
    offsets = [0]
    for count in experiments:
        offsets.append(offsets[-1] + count)
    pieces = []
    for start in range(0, n, size):
        stop = min(start + size, n)
        for part, part_shots in enumerate(parts):
            first = offsets[start]
            pieces.append(
                Piece(
                    index=len(pieces),
                    start=start,
                    stop=stop,
                    first_experiment=first,
                    part=part,
                    shots=part_shots,
                    seed=int64_seed(seed + SEED_STRIDE * (first + part * total)),
                )
            )
    return pieces


def _merge_shots(parts: list) -> Any:
    """One experiment's results from its shot parts: counts summed, memory concatenated."""
    first = parts[0]
    if len(parts) == 1:
        return first
    counts: Counter = Counter()
    memory: list = []
    has_counts = has_memory = False
    for exp in parts:
        data = exp.data
        if getattr(data, "counts", None) is not None:
            has_counts = True
            counts.update(data.counts)
        if getattr(data, "memory", None) is not None:
            has_memory = True
            memory.extend(data.memory)
    merged = copy.copy(first)
    merged.shots = sum(exp.shots for exp in parts)
    merged.success = all(exp.success for exp in parts)
    merged.data = ExperimentResultData(
        counts=dict(counts) if has_counts else None, memory=memory if has_memory else None
    )
    meta = dict(first._metadata)
    if "time_taken" in meta:
        meta["time_taken"] = sum(getattr(exp, "time_taken", 0) or 0 for exp in parts)
    if isinstance(meta.get("metadata"), dict):
        meta["metadata"] = dict(meta["metadata"])
    merged._metadata = meta
    return merged


def merge_results(
    plan: list[Piece], results: dict[int, Result], job_id: str, time_taken: float
) -> Result:
    """The pieces' results as one ``Result``, in the order of the unsplit job."""
    chunks: dict[tuple[int, int], list[Piece]] = {}
    for piece in plan:
        chunks.setdefault((piece.start, piece.stop), []).append(piece)
    experiments = []
    for key in sorted(chunks):
        parts = [results[p.index] for p in sorted(chunks[key], key=lambda p: p.part)]
        for exps in zip(*(r.results for r in parts)):
            experiments.append(_merge_shots(list(exps)))
    ordered = [results[p.index] for p in plan]
    first = ordered[0]
    merged = copy.copy(first)
    merged.job_id = job_id
    merged.results = experiments
    merged.success = all(r.success for r in ordered)
    merged.status = next((r.status for r in ordered if not r.success), first.status)
    merged._metadata = dict(first._metadata, time_taken=time_taken)
    return merged
