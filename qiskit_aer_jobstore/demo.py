"""``python -m qiskit_aer_jobstore.demo``: run a Bell circuit, save it, then list and retrieve it
from a new Python process and print its counts."""

from __future__ import annotations

import subprocess
import sys

RETRIEVE = """
import sys
from qiskit_aer_jobstore import AerSimulator
backend = AerSimulator()
print("Stored jobs:")
for job in backend.jobs(limit=5):
    print(f"  {job.job_id()}  {job.creation_date():%Y-%m-%d %H:%M:%S}  {job.status().name}")
job = backend.retrieve_job(sys.argv[1])
print("Counts from the stored job:", job.result().get_counts())
"""


def main() -> int:
    from qiskit import QuantumCircuit

    from qiskit_aer_jobstore import AerSimulator, JobStore, execute

    bell = QuantumCircuit(2, name="bell")
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()

    job = execute(bell, AerSimulator(), save_jobs=True, shots=1024, seed_simulator=42,
                  job_name="demo-bell", job_tags=["demo"])
    counts = job.result().get_counts()
    JobStore.default().flush()
    print(f"Ran job {job.job_id()}: {counts}")
    print(f"Saved to {JobStore.default().path}")
    print("--- a new Python process ---", flush=True)
    return subprocess.call([sys.executable, "-c", RETRIEVE, job.job_id()])


if __name__ == "__main__":
    raise SystemExit(main())
