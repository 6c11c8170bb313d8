"""What the portable copies (QPY + JSON + .npy) add to saving a job.

The work is done by the background writer, off the caller's path. Measured here: building the
archive in memory (members, manifest, signature, zip) with and without the portable copies;
the disk write that follows is proportional to the archive size, also printed.

Run: ``python benchmarks/portable_cost.py`` (prints a Markdown table).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time
from unittest import mock

from qiskit import QuantumCircuit


def ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    return qc


def main(repeat: int = 21) -> None:
    tmp = tempfile.mkdtemp()
    os.environ["QISKIT_AER_JOBS_DIR"] = os.path.join(tmp, "jobs")
    os.environ["QISKIT_AER_JOBS_KEY"] = os.path.join(tmp, "key")
    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore import portable, signing
    from qiskit_aer_jobstore.archive import PAYLOAD, dump_payload, write_archive

    def pickle_only(payload):  # the archive as it was before portable copies
        return {PAYLOAD: dump_payload(payload)}, {}

    key = signing.load_key()
    backend = qaj.AerSimulator(save_jobs=False)
    counts = ghz(5)
    counts.measure_all()
    state = ghz(20)
    state.save_statevector()
    cases = {
        "5-qubit GHZ, 1024 shots, counts": (counts, {"shots": 1024}),
        "20-qubit GHZ, statevector (16 MiB)": (state, {"method": "statevector"}),
    }
    print(
        "| job | archive build without portable (ms) | with portable (ms) | added (ms) | "
        "archive size without / with (KiB) |"
    )
    print("|---|---|---|---|---|")
    for label, (circuit, options) in cases.items():
        result = backend.run(circuit, **options).result()
        timings, sizes = {}, {}
        for with_portable in (False, True):
            patch = (
                contextlib.nullcontext()
                if with_portable
                else mock.patch.object(portable, "archive_members", pickle_only)
            )
            samples = []
            with patch:
                for i in range(repeat):
                    record = qaj.JobRecord(
                        job_id=f"b{i}",
                        backend_name=backend.name,
                        circuits=[circuit],
                        run_options=options,
                        result=result,
                    )
                    out = io.BytesIO()
                    start = time.perf_counter()
                    members = record.members()
                    write_archive(out, record.manifest(), members, key)
                    samples.append(time.perf_counter() - start)
            timings[with_portable] = statistics.median(samples) * 1000
            sizes[with_portable] = len(out.getvalue()) / 1024
        print(
            f"| {label} | {timings[False]:.1f} | {timings[True]:.1f} | "
            f"{timings[True] - timings[False]:+.1f} | {sizes[False]:.0f} / {sizes[True]:.0f} |"
        )


if __name__ == "__main__":
    main()
