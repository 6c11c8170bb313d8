"""Circuits of untrusted jobs, parsed in a child process that may die.

A crafted ``circuits.qpy`` can make Qiskit's QPY reader allocate without bound and abort the
process (SECURITY.md), so ``aer-jobs ui`` never parses an untrusted job's QPY itself: it hands
the bytes to ``python -m qiskit_aer_jobstore.web.isolate``, with a memory limit and a timeout,
and shows what comes back (or that nothing did). Trusted jobs' circuits are drawn in-process
with the same :func:`describe`.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

from ..pictures import circuit_svg, circuit_text

# What one page draws: more circuits are counted, not drawn.
MAX_DRAWN = 8
TIMEOUT_S = 60.0
MEMORY_LIMIT = 4 << 30  # bytes of address space the child may map


def describe(circuits: list[Any], limit: int = MAX_DRAWN) -> dict[str, Any]:
    """The first ``limit`` circuits as JSON-ready dicts (name, qubits, depth, gate counts,
    metadata, a text drawing), and how many there are. The SVG drawings (Qiskit's matplotlib
    drawer: about a second each) are made one at a time by :func:`drawing`."""
    from ..notebook import jsonable

    drawn = []
    for circuit in circuits[:limit]:
        drawn.append({
            "name": circuit.name,
            "num_qubits": circuit.num_qubits,
            "num_clbits": circuit.num_clbits,
            "depth": circuit.depth(),
            "ops": {str(k): int(v) for k, v in circuit.count_ops().items()},
            "parameters": [p.name for p in circuit.parameters],
            "metadata": jsonable(circuit.metadata or {}),
            "text": circuit_text(circuit),
        })
    return {"count": len(circuits), "circuits": drawn, "error": None}


def _limit_memory() -> None:
    """In the child, once Qiskit is imported: cap its address space, so a crafted length
    makes the reader fail there instead of taking the machine's memory."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ImportError, ValueError, OSError):
        pass  # no limit on this platform: the timeout and the process boundary remain


def drawing(circuits: list[Any], index: int) -> dict[str, Any]:
    """``{"svg": circuit ``index`` drawn as SVG (None if it cannot be), "error": None}``."""
    if not 0 <= index < len(circuits):
        return {"svg": None, "error": f"there is no circuit {index}"}
    return {"svg": circuit_svg(circuits[index]), "error": None}


def describe_untrusted(
    qpy_bytes: bytes, label: str, limit: int = MAX_DRAWN, svg_of: int | None = None
) -> dict[str, Any]:
    """:func:`describe` of the circuits in ``qpy_bytes`` (or, given ``svg_of``, their
    :func:`drawing`), parsed in a child process.

    Never raises for what the bytes hold: a child that fails, dies or hangs gives
    ``{"count": None, "circuits": [], "error": "<what happened>"}``.
    """
    what = [str(limit)] if svg_of is None else ["svg", str(svg_of)]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "qiskit_aer_jobstore.web.isolate", *what],
            input=qpy_bytes, capture_output=True, timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return _failed(f"{label}: reading the QPY copy of the circuits took over {TIMEOUT_S:g} s; "
                       "it was stopped.")
    except OSError as exc:
        return _failed(f"{label}: the circuits could not be read in a child process ({exc}).")
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        said = [ln for ln in lines if "Warning" not in ln and not ln.startswith("note:")]
        how = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exited with code {proc.returncode}")
        return _failed(f"{label}: the process reading the QPY copy of the circuits {how}"
                       f"{f' ({said[0][:200]})' if said else ''}; this server is unharmed.")
    try:
        found = json.loads(proc.stdout)
    except ValueError:
        return _failed(f"{label}: the process reading the circuits answered no JSON.")
    if not isinstance(found, dict):
        return _failed(f"{label}: the process reading the circuits answered {type(found)}.")
    if found.get("error"):
        found["error"] = f"{label}: {found['error']}"
    return found


def _failed(message: str) -> dict[str, Any]:
    return {"count": None, "circuits": [], "error": message}


def diff_of(source: Any, a: str, b: str, trusted: bool) -> dict[str, Any]:
    """Two jobs of ``source`` compared (``diff_jobs``) as ``{"diff": JobDiff.to_dict(),
    "counts_pairs": [[counts A, counts B], ...]}``. Untrusted ones are read from their
    portable copies, the whole comparison in a child process (it parses their QPY)."""
    from ..diff import diff_jobs

    if trusted:
        found = diff_jobs(source.get(a), source.get(b))
        return {"diff": found.to_dict(), "counts_pairs": found.counts_pairs, "error": None}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "qiskit_aer_jobstore.web.isolate", "diff", a, b],
            input=json.dumps(_where(source)).encode(), capture_output=True, timeout=TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"diff": None, "counts_pairs": [], "error": f"comparing took over {TIMEOUT_S:g} s"}
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        return {"diff": None, "counts_pairs": [], "error": (
            f"the process comparing the jobs ended with code {proc.returncode}"
            f"{f' ({lines[-1][:300]})' if lines else ''}; this server is unharmed.")}
    return json.loads(proc.stdout)


def _where(source: Any) -> dict[str, Any]:
    path = getattr(source, "path", None)
    if path is None:  # the team store: the child opens the configured one
        return {"location": "remote"}
    return {"location": "local", "path": str(path), "key": str(source.key_path)}


def _diff_main(a: str, b: str) -> int:
    """The child comparing two jobs, untrusted ones from their portable copies only."""
    from ..diff import diff_jobs
    from ..store import JobStore
    from ..team import require_remote

    where = json.loads(sys.stdin.buffer.read())
    _limit_memory()
    source = (JobStore(where["path"], where["key"]) if where["location"] == "local"
              else require_remote())
    jobs = [source.get(job_id, trusted=False) for job_id in (a, b)]
    found = diff_jobs(*jobs)
    sys.stdout.write(json.dumps({"diff": found.to_dict(), "counts_pairs": found.counts_pairs,
                                 "error": None}, default=str))
    return 0


def _main() -> int:
    """The child: QPY bytes on stdin, :func:`describe` as JSON on stdout (or, with ``diff A
    B``, the store's location on stdin and :func:`diff_of` on stdout)."""
    from qiskit import qpy

    if sys.argv[1:2] == ["diff"]:
        return _diff_main(sys.argv[2], sys.argv[3])
    _limit_memory()
    svg_of = int(sys.argv[2]) if sys.argv[1:2] == ["svg"] else None
    limit = int(sys.argv[1]) if svg_of is None and len(sys.argv) > 1 else MAX_DRAWN
    data = sys.stdin.buffer.read()
    try:
        circuits = list(qpy.load(io.BytesIO(data)))
    except Exception as exc:  # damaged or newer QPY: say so, the page shows the rest
        found = _failed(f"the QPY copy of the circuits cannot be loaded with the installed "
                        f"Qiskit ({type(exc).__name__}: {exc}).")
    else:
        found = describe(circuits, limit) if svg_of is None else drawing(circuits, svg_of)
    sys.stdout.write(json.dumps(found, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
