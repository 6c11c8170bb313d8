"""Latency of ``backend.run(ghz5).result()`` with and without saving, in a temporary store.

Run: ``python benchmarks/result_latency.py [jobs]``. Prints the median and 90th percentile of
run-to-result time for plain Aer, for a store-enabled simulator with ``save_jobs=False``, and
with saving on (the archive is written by the background writer, off this path).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time


def _ghz(n: int):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def _measure(backend, circuit, jobs: int, **options) -> list[float]:
    times = []
    for _ in range(jobs):
        start = time.perf_counter()
        backend.run(circuit, shots=1024, **options).result()
        times.append(time.perf_counter() - start)
    return times


def main(jobs: int = 300) -> None:
    folder = tempfile.mkdtemp(prefix="aer-jobstore-bench-")
    os.environ["QISKIT_AER_JOBS_DIR"] = os.path.join(folder, "jobs")
    os.environ["QISKIT_AER_JOBS_KEY"] = os.path.join(folder, "key")
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    circuit = _ghz(5)
    cases = {
        "plain qiskit_aer": (qiskit_aer.AerSimulator(), {}),
        "store-enabled, save_jobs=False": (qaj.AerSimulator(), {"save_jobs": False}),
        "store-enabled, saving": (qaj.AerSimulator(), {}),
    }
    for backend, options in cases.values():
        _measure(backend, circuit, 20, **options)  # warm up
    qaj.JobStore.default().flush()
    for name, (backend, options) in cases.items():
        cpu = time.process_time()
        times = sorted(_measure(backend, circuit, jobs, **options))
        qaj.JobStore.default().flush()
        cpu = (time.process_time() - cpu) / jobs * 1e3  # all threads, the writer's included
        p25, median, p90 = (times[int(q * len(times))] * 1e3 for q in (0.25, 0.5, 0.9))
        print(
            f"{name:32s} p25 {p25:6.3f}  median {median:6.3f}  p90 {p90:6.3f} ms"
            f"   cpu/job {cpu:6.3f} ms   ({jobs} jobs)"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
