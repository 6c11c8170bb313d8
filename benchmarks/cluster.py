"""Benchmark: a sweep of 64 circuits of 20 qubits on a Dask cluster of 1 vs 2 worker processes,
and what saving each piece costs next to the piece's own run time.

Run: ``python benchmarks/cluster.py [--circuits 64] [--qubits 20] [--layers 4]``. Uses a
temporary store and key; prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time


def layered(n: int, layers: int, seed: int):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name=f"layered{seed}")
    for layer in range(layers):
        for q in range(n):
            qc.rx(0.1 * (q + 1) * (seed + 1) + layer, q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


def sweep_on(workers: int, circuits: list, shots: int) -> tuple[float, object]:
    """Wall time of the whole sweep (one circuit per piece) on ``workers`` processes."""
    from distributed import Client, LocalCluster

    import qiskit_aer_jobstore as qaj

    with (
        LocalCluster(
            processes=True, n_workers=workers, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        backend = qaj.AerSimulator(max_parallel_threads=1)  # one core per worker process
        client.run(lambda: __import__("qiskit_aer_jobstore.cluster"))  # warm the imports
        start = time.perf_counter()
        job = backend.run(circuits, shots=shots, seed_simulator=1, executor=client, max_job_size=1)
        job.result()
        wall = time.perf_counter() - start
        backend.job_store.flush()
        return wall, job


def save_costs(job) -> list[float]:
    """Seconds to save each piece as the sweep does (pickle, sign, write, fsync, rename)."""
    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore import pieces as journal

    store = qaj.JobStore.default()
    costs = []
    for piece in job._plan:
        info = job._info[piece.index]
        start = time.perf_counter()
        result = job._results[piece.index]
        journal.save_piece(store, "bench", "aer_simulator", piece.to_json(), info, result)
        costs.append(time.perf_counter() - start)
    journal.delete_pieces(store.path, "bench")
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--circuits", type=int, default=64)
    parser.add_argument("--qubits", type=int, default=20)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--shots", type=int, default=1000)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="aer-bench-")
    os.environ["QISKIT_AER_JOBS_DIR"] = os.path.join(tmp, "store")
    os.environ["QISKIT_AER_JOBS_KEY"] = os.path.join(tmp, "key")
    circuits = [layered(args.qubits, args.layers, seed) for seed in range(args.circuits)]
    one, job1 = sweep_on(1, circuits, args.shots)
    two, job2 = sweep_on(2, circuits, args.shots)
    counts_equal = all(
        a.data.counts == b.data.counts for a, b in zip(job1.result().results, job2.result().results)
    )
    run_ms = statistics.median(s["time_taken"] for s in job2.sub_jobs()) * 1e3
    busy = sum(s["time_taken"] for s in job2.sub_jobs()) / two  # workers busy at once
    save_ms = statistics.median(save_costs(job2)) * 1e3
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {os.cpu_count()} cores, load average {load}, Python {platform.python_version()}"
    )
    print(
        f"sweep: {args.circuits} circuits x {args.qubits} qubits, {args.layers} layers, "
        f"{args.shots} shots, one circuit per piece; same counts on 1 and 2 workers: "
        f"{counts_equal}\n"
    )
    print("| what | figure |")
    print("|---|---|")
    print(f"| sweep on 1 worker process | {one:.2f} s |")
    print(f"| sweep on 2 worker processes | {two:.2f} s |")
    print(f"| speed-up | {one / two:.2f}x |")
    print(f"| pieces' summed run time / wall time, 2 workers | {busy:.2f} |")
    print(f"| run time of one piece (median, on a worker) | {run_ms:.1f} ms |")
    print(f"| saving one piece (median: pickle, sign, write, fsync) | {save_ms:.2f} ms |")
    print(f"| saving / running, per piece | {save_ms / run_ms:.1%} |")


if __name__ == "__main__":
    main()
