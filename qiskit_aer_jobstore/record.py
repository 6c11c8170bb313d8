"""A finished job as the store sees it: what was run, how, and what came back.

``JobRecord`` is built on the caller's path (references only, no copying or pickling) and
turned into a manifest and a pickled payload later, off that path.
"""

from __future__ import annotations

import copy
import datetime as _dt
import platform
from dataclasses import dataclass, field
from typing import Any

from .manifest import device_name
from .portable import archive_members
from .process import process_identity
from .times import iso, utcnow
from .version import __version__

# Options that are handles to live machinery, never part of a stored job.
UNSTORABLE_OPTIONS = ("executor",)
# Job statuses of a job that has not ended.
ACTIVE_STATUSES = ("INITIALIZING", "QUEUED", "VALIDATING", "RUNNING")


def _versions() -> dict[str, str]:
    # here, not at the top: only saving a job needs them, and listings stay quick
    import numpy
    import qiskit
    import qiskit_aer

    return {
        "qiskit": qiskit.__version__,
        "qiskit_aer": qiskit_aer.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "qiskit_aer_jobstore": __version__,
    }


_VERSIONS: dict[str, str] | None = None


def versions() -> dict[str, str]:
    global _VERSIONS
    if _VERSIONS is None:
        _VERSIONS = _versions()
    return dict(_VERSIONS)


def storable_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options without live handles (executors), which cannot and must not be pickled."""
    kept = {}
    for key, value in options.items():
        if key in UNSTORABLE_OPTIONS:
            if value is not None:
                kept[f"{key}_kind"] = f"{type(value).__module__}.{type(value).__qualname__}"
            continue
        kept[key] = value
    return kept


def backend_setup(backend: Any) -> dict[str, Any] | None:
    """What ``AerSimulator.from_backend`` (or a custom configuration) gave a simulator beyond
    its options: configuration, properties and target. None for a plain simulator.

    Takes references only (it runs on the caller's path); they are pickled by the writer.
    """
    target = getattr(backend, "_target", None)
    properties = getattr(backend, "_properties", None)
    if target is None and properties is None:
        return None
    return {
        "configuration": getattr(backend, "_configuration", None),
        "properties": properties,
        "target": target,
    }


def experiment_of(circuits: list[Any]) -> dict[str, Any] | None:
    """What the circuits' metadata say of the experiment they belong to (qiskit-experiments'
    ``experiment_type`` and ``physical_qubits``), or None."""
    for circuit in circuits:
        meta = getattr(circuit, "metadata", None)
        if isinstance(meta, dict) and isinstance(meta.get("experiment_type"), str):
            found: dict[str, Any] = {"experiment_type": meta["experiment_type"]}
            qubits = meta.get("physical_qubits")
            if isinstance(qubits, (list, tuple)) and all(isinstance(q, int) for q in qubits):
                found["physical_qubits"] = list(qubits)
            return found
    return None


@dataclass
class JobRecord:
    """Everything the store keeps about one job."""

    job_id: str
    backend_name: str
    backend_version: str | None = None
    backend_class: str | None = None
    circuits: list[Any] = field(default_factory=list)
    parameter_binds: Any = None
    run_options: dict[str, Any] = field(default_factory=dict)
    backend_options: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    status: str = "DONE"
    creation_date: _dt.datetime = field(default_factory=utcnow)
    end_date: _dt.datetime | None = None
    job_name: str | None = None
    job_tags: list[str] = field(default_factory=list)
    session_id: str | None = None
    client: str | None = None  # the library that ran it, if not Aer or the store itself
    primitive: str | None = None
    notes: list[str] = field(default_factory=list)
    extra_manifest: dict[str, Any] = field(default_factory=dict)
    # What rebuilding the simulator needs beyond its options (see reproduce.backend_setup).
    backend_setup: dict[str, Any] | None = None
    # A job still queued or running is written as its manifest alone, replaced when it ends.
    manifest_only: bool = False
    # The digest reuse_results matches (contentkey); computed when the manifest is made
    # unless the run already needed it.
    content_key: str | None = None
    # The process that ran the job (host, pid, start), when another process writes it.
    process: dict[str, Any] | None = None

    @classmethod
    def from_backend(cls, backend: Any, **fields: Any) -> JobRecord:
        """The record of a job run on ``backend`` (the one way every job is recorded):
        the backend's name, version, class, options and setup, then ``fields``. An ended
        status gets its ``end_date`` now unless ``fields`` give one."""
        if fields.get("status", "DONE") not in ACTIVE_STATUSES:
            fields.setdefault("end_date", utcnow())
        return cls(
            backend_name=device_name(backend),
            backend_version=getattr(backend, "backend_version", None),
            backend_class=f"{type(backend).__module__}.{type(backend).__qualname__}",
            backend_options=dict(backend.options.__dict__),
            backend_setup=backend_setup(backend),
            **fields,
        )

    def manifest(self) -> dict[str, Any]:
        """The manifest fields (``members`` and ``schema_version`` are added on writing)."""
        circuits = self.circuits or []
        result = self.result
        shots = method = seed = success = time_taken = None
        experiments = getattr(result, "results", None) or []
        if experiments:
            first = experiments[0]
            shots = getattr(first, "shots", None)
            meta = getattr(first, "metadata", None) or {}
            method = meta.get("method") if isinstance(meta, dict) else None
            seed = getattr(first, "seed_simulator", None)
        if result is not None:
            success = bool(getattr(result, "success", False))
            time_taken = getattr(result, "time_taken", None)
        if shots is None:
            shots = self.run_options.get("shots", self.backend_options.get("shots"))
        if method is None:
            method = self.run_options.get("method", self.backend_options.get("method"))
        manifest = {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "job_tags": sorted(set(self.job_tags)),
            "backend_name": self.backend_name,
            "backend_version": self.backend_version,
            "backend_class": self.backend_class,
            "status": self.status,
            "error": self.error,
            "creation_date": iso(self.creation_date),
            "end_date": iso(self.end_date),
            "num_circuits": len(circuits),
            "circuit_names": [getattr(c, "name", None) for c in circuits],
            "num_qubits": max((getattr(c, "num_qubits", 0) for c in circuits), default=0),
            "shots": int(shots) if isinstance(shots, (int, float)) else None,
            "method": method,
            "seed_simulator": int(seed) if isinstance(seed, int) else None,
            "success": success,
            "time_taken": float(time_taken) if isinstance(time_taken, (int, float)) else None,
            "versions": versions(),
            **(self.process or process_identity()),  # host, pid, process_start
            "session_id": self.session_id,
            "client": self.client,
            "primitive": self.primitive,
            "notes": list(self.notes),
            "experiment": experiment_of(circuits),
        }
        manifest["content_key"] = self.key()
        manifest.update(self.extra_manifest)
        return manifest

    def key(self) -> str | None:
        """The job's content key (None for primitive jobs, for a job still queued or
        running, and if it cannot be computed: such a job is never reused)."""
        if self.content_key is None and self.primitive is None and not self.manifest_only:
            from .contentkey import content_key  # imports Qiskit: saving needs it, listing not

            try:
                self.content_key = content_key(
                    self.circuits, self.parameter_binds, self.run_options,
                    self.backend_options, self.backend_class, self.backend_name)
            except Exception:  # noqa: BLE001 - a key is an optimisation, never a failed save
                return None
        return self.content_key

    def payload(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "circuits": list(self.circuits or []),
            "parameter_binds": self.parameter_binds,
            "run_options": storable_options(self.run_options),
            "backend_options": storable_options(self.backend_options),
            "result": self.result,
            "error": self.error,
            "backend_setup": self.backend_setup,
        }

    def members(self) -> dict[str, bytes]:
        """Archive members other than the manifest and signature: the pickled payload and
        the portable copies (what they hold goes to the manifest's ``portable`` entry, so
        call this before :meth:`manifest`). None while the job is only queued or running."""
        if self.manifest_only:
            return {}
        members, info = archive_members(self.payload())
        self.extra_manifest["portable"] = info
        return members


def wire_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A save's arguments as handed to the writer process: each record names this process
    as the job's (the writer process writes its manifest); a record whose options hold live
    handles (an executor) goes as a copy without them, its content key computed first."""
    wired = []
    for arg in args:
        if isinstance(arg, JobRecord):
            if arg.process is None:
                arg.process = process_identity()
            if any(options.get(name) is not None for name in UNSTORABLE_OPTIONS
                   for options in (arg.run_options, arg.backend_options)):
                arg.key()  # from the live options, as a lookup computes it
                arg = copy.copy(arg)
                arg.run_options = storable_options(arg.run_options)
                arg.backend_options = storable_options(arg.backend_options)
        wired.append(arg)
    return tuple(wired)


def simulated_seconds(result: Any) -> float | None:
    """How long the simulator ran for ``result``: a ``Result``'s ``time_taken``, the sum of a
    ``PrimitiveResult``'s pubs' ``time_taken_execute`` (Aer's primitives); None if unknown."""
    taken = getattr(result, "time_taken", None)
    if isinstance(taken, (int, float)):
        return float(taken)
    total = None
    try:
        for pub in result:
            meta = getattr(pub, "metadata", None) or {}
            value = (meta.get("simulator_metadata") or {}).get("time_taken_execute")
            if isinstance(value, (int, float)):
                total = (total or 0.0) + value
    except TypeError:  # not iterable: no result, or another kind
        return None
    return total
