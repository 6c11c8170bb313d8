"""``reuse_results``: what looking a job up costs, and what a hit saves.

Run ``python benchmarks/reuse.py`` (about a minute). Prints a Markdown section for
BENCHMARKS.md: the content key of a 5-qubit GHZ job and of a 20-qubit, 300-gate job beside
its simulation, a hit on a small job, a notebook rerun of 50 seeded 20-qubit jobs, and the
index lookup of a key among 100,000 rows. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="aer-reuse-bench-"))
    os.environ.update(QISKIT_AER_JOBS_DIR=str(folder / "store"),
                      QISKIT_AER_JOBS_KEY=str(folder / "key"),
                      QISKIT_SETTINGS=str(folder / "settings.conf"),
                      QISKIT_AER_MAX_STORE_BYTES="0")
    sys.path.insert(0, str(ROOT))
    import qiskit
    import qiskit_aer
    from qiskit import QuantumCircuit
    from run import ghz  # benchmarks/run.py's circuit, beside this script

    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore.contentkey import content_key
    from qiskit_aer_jobstore.index import IndexEntry, SQLiteIndex

    def layered(n: int, gates: int, seed: int) -> QuantumCircuit:
        qc = QuantumCircuit(n, name=f"layered{seed}")
        layer = 0
        while qc.size() < gates:
            for q in range(n):
                qc.rx(0.1 * (q + 1) * (seed + 1) + layer, q)
            for q in range(layer % 2, n - 1, 2):
                qc.cx(q, q + 1)
            layer += 1
        qc.measure_all()
        return qc

    backend = qaj.AerSimulator()
    options = dict(backend.options.__dict__)

    def key_of(circuit: QuantumCircuit) -> str:
        return content_key([circuit], None, {"shots": 1024, "seed_simulator": 7}, options,
                           "qiskit_aer_jobstore.backends.AerSimulator", "aer_simulator")

    small, big = ghz(5), layered(20, 300, 0)
    key_small = median_time(lambda: key_of(small), 500)
    key_big = median_time(lambda: key_of(big), 100)
    sim_big = median_time(lambda: backend.run(big, shots=1024, seed_simulator=7,
                                              save_jobs=False).result(), 5)

    # a hit on a small job: stored once, then served
    backend.run(small, shots=1024, seed_simulator=7).result()
    qaj.JobStore.default().flush()
    # the payload is read when result() asks for it: count its reads on this thread
    import threading

    from qiskit_aer_jobstore.core import StoreCore

    read_payload, caller_reads = StoreCore.read_payload, []

    def counted(self, archive):
        if threading.current_thread() is threading.main_thread():
            caller_reads.append(archive)
        return read_payload(self, archive)

    StoreCore.read_payload = counted
    hit = median_time(lambda: backend.run(small, shots=1024, seed_simulator=7,
                                          reuse_results=True), 50)
    reads_before_result = len(caller_reads)
    StoreCore.read_payload = read_payload
    hit_result = median_time(lambda: backend.run(small, shots=1024, seed_simulator=7,
                                                 reuse_results=True).result(), 50)
    qaj.JobStore.default().flush()

    # a notebook cell of 50 seeded 20-qubit jobs, run, then run again
    cells = [layered(20, 120, seed) for seed in range(50)]

    def cell() -> tuple[float, float]:
        """The cell's wall time as the user waits for it, then the background saves' tail."""
        start = time.perf_counter()
        for seed, circuit in enumerate(cells):
            backend.run(circuit, shots=256, seed_simulator=seed, reuse_results=True).result()
        ran = time.perf_counter() - start
        qaj.JobStore.default().flush()
        return ran, time.perf_counter() - start - ran

    first, first_tail = cell()
    again, again_tail = cell()

    # the index lookup among 100,000 rows with content keys
    index = SQLiteIndex(folder / "lookup.sqlite")
    created = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    entries = []
    for i in range(100_000):
        manifest = {"job_id": f"job-{i:06d}", "backend_name": "aer_simulator", "status": "DONE",
                    "creation_date": (created + dt.timedelta(seconds=i)).isoformat(),
                    "content_key": f"{i:064x}"}
        entries.append(IndexEntry.from_manifest(manifest, f"a{i}.zip", 5000))
    index.upsert_many(entries)
    wanted = f"{54_321:064x}"
    lookup = median_time(lambda: index.reusable(wanted), 200)

    print("## Reusing results (`benchmarks/reuse.py`)\n")
    print(f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; qiskit "
          f"{qiskit.__version__}, qiskit-aer {qiskit_aer.__version__}; medians.\n")
    print("| what | time | target |")
    print("|---|---|---|")
    print(f"| content key, 5-qubit GHZ | {ms(key_small)} | <= 0.2 ms: "
          f"{'met' if key_small <= 2e-4 else '**MISSED**'} |")
    share = key_big / sim_big
    print(f"| content key, 20-qubit 300-gate circuit (its simulation: {ms(sim_big)}) | "
          f"{ms(key_big)} ({share:.1%} of the simulation) | <= 5%: "
          f"{'met' if share <= 0.05 else '**MISSED**'} |")
    print(f"| a hit on a small job: `run()` returns (DONE) | {ms(hit)} | <= 2 ms: "
          f"{'met' if hit <= 2e-3 else '**MISSED**'} |")
    print(f"| payload reads on the caller's path in those 50 `run()` hits, before "
          f"`result()` | {reads_before_result} | 0: "
          f"{'met' if reads_before_result == 0 else '**MISSED**'} |")
    print(f"| a hit on a small job, `run().result()` | {ms(hit_result)} | |")
    speedup = first / again
    print(f"| 50 seeded 20-qubit jobs in a cell: first run {first:.2f} s, rerun {again:.2f} s "
          f"(then the background saves finish in {first_tail:.2f} s / {again_tail:.2f} s) | "
          f"x{speedup:.0f} | >= x50: {'met' if speedup >= 50 else '**MISSED**'} |")
    with_tail = (first + first_tail) / (again + again_tail)
    print(f"| the same, counting the saves' tail | x{with_tail:.0f} | |")
    print(f"| index lookup of a key among 100,000 rows | {ms(lookup)} | < 5 ms: "
          f"{'met' if lookup < 5e-3 else '**MISSED**'} |")


if __name__ == "__main__":
    main()
