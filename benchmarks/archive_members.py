"""What a job's arrays cost an archive: schema 1 (a member per array) against 2 (packed).

Real results (Aer, not saved) are turned into archives in memory (portable copies, pickle,
manifest, signature, zip) and read back from those bytes, trusted (the pickle) and untrusted
(the portable copies). Both layouts are written by this code, version 1's by restoring its
rules (every array a member of its own, the pickle sharing only arrays of 64 KiB or more), and
timed interleaved in one process so that the machine's load falls on both alike. The reader's
member limit is lifted for the version 1 archives: beyond it they could not be read at all.
Prints a Markdown table of medians. Not a test: nothing here asserts a time.

Run: ``python benchmarks/archive_members.py``.
"""

from __future__ import annotations

import io
import os
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from typing import Any

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp


def _ms(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _states(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(1, name=f"states{n}")
    for i in range(n):
        qc.rx(0.001 * (i + 1), 0)
        qc.save_statevector(label=f"s{i}")
    return qc


def _cases() -> dict[str, tuple[list[QuantumCircuit], Any]]:
    from qiskit_aer.primitives import EstimatorV2

    import qiskit_aer_jobstore as qaj

    sim = qaj.AerSimulator(save_jobs=False)
    ghz = QuantumCircuit(5, name="ghz5")
    ghz.h(0)
    for i in range(4):
        ghz.cx(i, i + 1)
    ghz.measure_all()
    theta = Parameter("theta")
    ansatz = QuantumCircuit(2, name="ansatz")
    ansatz.ry(theta, 0)
    ansatz.cx(0, 1)
    obs = [SparsePauliOp("ZZ"), SparsePauliOp("XI")]

    def estimate(pubs: int) -> Any:
        return EstimatorV2().run([(ansatz, obs, [0.01 * i]) for i in range(pubs)]).result()

    return {
        "5-qubit GHZ, 1024 shots, counts": ([ghz], sim.run(ghz, shots=1024).result()),
        "estimator, 3 pubs x 2 observables": ([ansatz], estimate(3)),
        "200 saved 1-qubit statevectors": ([_states(200)], sim.run(_states(200)).result()),
        "1,100 saved 1-qubit statevectors": ([_states(1100)], sim.run(_states(1100)).result()),
        "estimator, 550 pubs x 2 observables": ([ansatz], estimate(550)),
    }


def main() -> None:
    tmp = tempfile.mkdtemp()
    os.environ["QISKIT_AER_JOBS_DIR"] = os.path.join(tmp, "jobs")
    os.environ["QISKIT_AER_JOBS_KEY"] = os.path.join(tmp, "key")
    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore import archive, manifest, portable, portable_json, signing

    key = signing.load_key()
    manifest.MAX_MEMBERS = 10**6  # version 1 archives of over 1,019 arrays: read all the same
    packed = portable_json.Encoder

    class OneMemberEach(packed):
        """Version 1's rules: a member per array, the pickle sharing only large ones."""

        def _place(self, value: Any) -> dict:
            reference = super()._place(value)
            if value.nbytes < 64 * 1024:
                self.buffers.pop(id(value), None)
            return reference

    def use(version: int) -> None:
        portable_json.OWN_MEMBER_BYTES = 0 if version == 1 else 64 * 1024
        portable_json.Encoder = OneMemberEach if version == 1 else packed
        portable.OWN_ARRAY_MEMBERS = 10**6 if version == 1 else manifest.MAX_MEMBERS - 64
        portable.FORMAT = version

    def write(record: Any) -> bytes:
        members, out = record.members(), io.BytesIO()
        archive.write_archive(out, record.manifest(), members, key)
        return out.getvalue()

    def read(data: bytes, trusted: bool) -> None:
        with archive.ArchiveReader(io.BytesIO(data), "job") as reader:
            portable.read_job(reader, key, trusted)["result"]

    print("| job | schema | members | KiB | write (ms) | read trusted (ms) | "
          "read untrusted (ms) |")
    print("|---|---|---|---|---|---|---|")
    for label, (circuits, result) in _cases().items():
        record = qaj.JobRecord(job_id="bench", backend_name="aer_simulator",
                               circuits=circuits, result=result)
        data, times = {}, {1: [], 2: []}
        for version in (1, 2):
            use(version)
            data[version] = write(record)
        for _ in range(9 if len(data[1]) > 50_000 else 31):
            for version in (1, 2):
                use(version)
                times[version].append((_ms(lambda r=record: write(r)),
                                       _ms(lambda d=data[version]: read(d, True)),
                                       _ms(lambda d=data[version]: read(d, False))))
        for version in (1, 2):
            with zipfile.ZipFile(io.BytesIO(data[version])) as zf:
                members = len(zf.namelist())
            cells = [f"{statistics.median(column):.2f}" for column in zip(*times[version])]
            print(f"| {label} | {version} | {members} | {len(data[version]) / 1024:.0f} | "
                  + " | ".join(cells) + " |")
    use(2)


if __name__ == "__main__":
    main()
