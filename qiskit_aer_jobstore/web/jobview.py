"""What ``aer-jobs ui`` shows of one job: manifest, options, noise, circuits, results, pieces.

Untrusted jobs (not signed by the store's key) are read through their portable copies only,
and their circuits are parsed in a child process (:mod:`.isolate`); trusted jobs are read
in-process. Everything here is data: the templates escape it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from qiskit.providers import JobError

from ..diffview import HISTOGRAMS
from ..exceptions import JobStoreError
from ..manifest import PAYLOAD
from ..notebook import changed_backend_options, estimator_rows, experiments, jsonable
from ..pictures import counts_histogram_svg, overlaid_histogram_svg
from .isolate import MAX_DRAWN, describe, describe_untrusted, diff_of, drawing

# Experiments drawn as histograms on a page (their counts are all in the JSON twin).
MAX_HISTOGRAMS = 16
_CLIP = 300


def clipped(value: Any, width: int = _CLIP) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def trusted_here(source: Any, archive: str) -> bool:
    """Whether the store's key signed this archive (an unreadable one is not trusted)."""
    try:
        return bool(source.signed_here(archive))
    except (JobStoreError, OSError):
        return False


def trust_of(source: Any, job_id: str) -> tuple[bool, str]:
    """Whether a job may be read in-process (its archive, and a reuse's original's, signed
    by the store's key), and the archive holding its payload."""
    row = source.row(job_id)
    payload_archive = row["archive"]  # a reuse's payload is in its original's archive
    payload_in = json.loads(row["manifest"]).get("payload_in")
    if payload_in:
        try:
            payload_archive = source.row(payload_in)["archive"]
        except JobStoreError:
            pass
    trusted = trusted_here(source, row["archive"]) and trusted_here(source, payload_archive)
    return trusted, payload_archive


def noise_summary(noise: Any) -> dict[str, Any] | None:
    """A noise model in a few lines: basis gates, which instructions and qubits have errors."""
    if noise is None:
        return None
    if hasattr(noise, "noise_instructions"):
        return {
            "basis_gates": list(noise.basis_gates),
            "instructions with errors": list(noise.noise_instructions),
            "qubits with errors": [int(q) for q in getattr(noise, "noise_qubits", [])],
            "text": str(noise),
        }
    if isinstance(noise, dict):  # a portable copy: NoiseModel.to_dict()
        errors = noise.get("errors") if isinstance(noise.get("errors"), list) else []
        ops = sorted({str(op) for e in errors if isinstance(e, dict)
                      for op in e.get("operations", []) or []})
        return {"errors": len(errors), "instructions with errors": ops,
                "text": clipped(noise, 2000)}
    return {"text": clipped(noise, 2000)}


def _options(job: Any, trusted: bool) -> tuple[dict, dict, Any, str | None]:
    try:
        run = job.run_options()
        backend = job.backend_options()
    except (JobError, JobStoreError) as exc:
        return {}, {}, None, str(exc)
    noise = run.pop("noise_model", None)
    noise = backend.pop("noise_model", None) if noise is None else noise
    backend.pop("noise_model", None)
    if trusted:
        try:  # only what differs from the simulator's defaults, as `aer-jobs show` does
            changed = changed_backend_options(job)
            backend = {k: v for k, v in changed.items() if k != "noise_model"}
        except Exception:  # a simulator that cannot be rebuilt here: all options
            pass
    return ({k: clipped(v) for k, v in sorted(run.items())},
            {k: clipped(v) for k, v in sorted(backend.items())}, noise, None)


def _circuits(source: Any, job: Any, archive: str, trusted: bool) -> dict[str, Any]:
    try:
        if trusted:
            return describe(job.circuits())
        payload = source.read_job(archive, trusted=False)
        qpy_bytes = getattr(payload, "qpy_bytes", None)
        if qpy_bytes is None:
            return {"count": None, "circuits": [], "error": payload.get("circuits_error")}
        return describe_untrusted(qpy_bytes, source.archive_label(archive))
    except (JobError, JobStoreError) as exc:
        return {"count": None, "circuits": [], "error": str(exc)}


# Circuit drawings already made: (store, archive, circuit index) -> SVG (archives do not change
# under a name: a rewritten one is a new name or size)
_DRAWN: OrderedDict[tuple, str | None] = OrderedDict()
_DRAWN_KEPT = 256


def circuit_drawing(source: Any, job_id: str, index: int) -> str | None:
    """Circuit ``index`` of a job as SVG (None if it cannot be drawn), in a child process for
    an untrusted job; remembered for the next view.

    Raises:
        JobNotFoundError: no such job.
        JobStoreError: its circuits cannot be read.
    """
    trusted, archive = trust_of(source, job_id)
    key = (id(source), archive, source.row(job_id)["size"], index)
    if key in _DRAWN:
        _DRAWN.move_to_end(key)
        return _DRAWN[key]
    if trusted:
        found = drawing(source.get(job_id).circuits(), index)
    else:
        payload = source.read_job(archive, trusted=False)
        qpy_bytes = getattr(payload, "qpy_bytes", None)
        if qpy_bytes is None:
            raise JobStoreError(payload.get("circuits_error") or "no QPY copy of the circuits")
        found = describe_untrusted(qpy_bytes, source.archive_label(archive), svg_of=index)
    if found.get("error"):
        raise JobStoreError(found["error"])
    _DRAWN[key] = found.get("svg")
    while len(_DRAWN) > _DRAWN_KEPT:
        _DRAWN.popitem(last=False)
    return _DRAWN[key]


def _results(job: Any) -> tuple[list[dict[str, Any]], str | None]:
    if not job.in_final_state():
        return [], None
    try:
        found = experiments(job)
    except (JobError, JobStoreError) as exc:
        return [], str(exc)
    for entry in found[:MAX_HISTOGRAMS]:
        if "counts" in entry:
            entry["histogram"] = counts_histogram_svg(entry["counts"])
    for entry in found:
        if "data" in entry and "evs" in entry["data"]:
            entry["estimator"] = estimator_rows(entry)
    return found, None


def job_view(source: Any, job_id: str) -> dict[str, Any]:
    """Everything the job page shows, JSON-ready.

    Raises:
        JobNotFoundError: no such job.
    """
    job = source.get(job_id)
    manifest = job.manifest
    trusted, payload_archive = trust_of(source, job_id)
    if not trusted:
        job = source.get(job_id, trusted=False)
    final = job.in_final_state()
    has_payload = final or PAYLOAD in (manifest.get("members") or {}) or bool(
        manifest.get("payload_in"))
    run_options, backend_options, noise, options_error = (
        _options(job, trusted) if has_payload else ({}, {}, None, None))
    found, results_error = _results(job)
    circuits = (_circuits(source, job, payload_archive, trusted) if has_payload
                else {"count": None, "circuits": [], "error": None})
    pieces = job.sub_jobs()
    return {
        "job_id": job_id,
        "manifest": jsonable(manifest),
        "status": job.status().name,
        "final": final,
        "trusted": trusted,
        "location": getattr(job, "location", "local"),
        "error_message": job.error_message(),
        "reused_from": job.reused_from,
        "run_options": run_options,
        "backend_options": backend_options,
        "options_error": options_error,
        "noise_model": noise_summary(noise),
        "circuits": circuits,
        "experiments": found,
        "results_error": results_error,
        "progress": job.progress()._asdict(),
        "sub_jobs": jsonable(pieces),
        "max_drawn": MAX_DRAWN,
        "max_histograms": MAX_HISTOGRAMS,
    }


def diff_view(source: Any, a: str, b: str) -> dict[str, Any]:
    """Two jobs compared (``JobDiff.to_dict()``) with overlaid histograms of the first
    experiments with counts; compared in a child process if either job is untrusted.

    Raises:
        JobNotFoundError: either job is not in the store.
    """
    trusted = all(trust_of(source, job_id)[0] for job_id in (a, b))
    try:
        found = diff_of(source, a, b, trusted)
    except (JobError, JobStoreError) as exc:
        found = {"diff": None, "counts_pairs": [], "error": str(exc)}
    overlaid = []
    experiments_ = (found["diff"] or {}).get("experiments") or []
    for entry, (ca, cb) in zip(experiments_, found["counts_pairs"]):
        if len(overlaid) < HISTOGRAMS and (ca or cb):
            overlaid.append({"index": entry["index"], "name": entry["name"],
                             "svg": overlaid_histogram_svg(ca or {}, cb or {}, labels=("A", "B"))})
    return {"a": a, "b": b, "trusted": trusted, "diff": found["diff"], "error": found["error"],
            "overlaid": overlaid}
