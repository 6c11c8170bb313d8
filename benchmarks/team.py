"""Team index at scale: 1,000,000 jobs in PostgreSQL, ``remote_jobs(limit=10)`` and a filtered
query (tags + date range + backend) each under 50 ms, with EXPLAIN showing index use.

Run: ``python benchmarks/team.py [--rows 1000000] [--url postgresql://...]``. Without ``--url``
it starts a private PostgreSQL 16 with ``pgserver`` in a temporary folder. Rows are seeded with
COPY through the same schema the team store creates; the queries go through
``TeamStore.list()``, the code ``backend.remote_jobs()`` runs (listing reads the index only, so
no S3 server is needed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

BACKENDS = [
    "aer_simulator",
    "aer_simulator_statevector",
    "aer_simulator_mps",
    "qasm_simulator",
    "fake_sherbrooke",
]
TAGS = [f"tag{i}" for i in range(1000)]
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc).timestamp()
YEAR = 365 * 86400


def seed(index, rows: int) -> None:
    from qiskit_aer_jobstore.index.query import COLUMNS

    rng = random.Random(1)
    cols = ", ".join(COLUMNS)

    def fill(conn):
        with conn.cursor() as cur:
            with cur.copy(f"COPY jobs ({cols}) FROM STDIN") as copy:
                for i in range(rows):
                    created = START + rng.random() * YEAR
                    stamp = dt.datetime.fromtimestamp(created, dt.timezone.utc)
                    job_id = f"{i:08x}-bench"
                    backend = rng.choice(BACKENDS)
                    manifest = json.dumps(
                        {
                            "job_id": job_id,
                            "backend_name": backend,
                            "status": "DONE",
                            "creation_date": stamp.isoformat(),
                            "job_tags": [],
                            "num_qubits": 5,
                            "shots": 1024,
                            "method": "automatic",
                            "schema_version": 1,
                        }
                    )
                    copy.write_row(
                        (
                            job_id,
                            f"{stamp:%Y%m%dT%H%M%S%fZ}_{job_id}.zip",
                            backend,
                            "DONE",
                            None,
                            created,
                            created + 1,
                            "automatic",
                            rng.randint(1, 30),
                            1024,
                            1,
                            None,
                            20000,
                            "0" * 64,
                            manifest,
                        )
                    )
            with cur.copy("COPY job_tags (tag, job_id) FROM STDIN") as copy:
                for i in range(rows):
                    for tag in set(rng.sample(TAGS, 2)):
                        copy.write_row((tag, f"{i:08x}-bench"))

    index._run(fill)
    index._run(lambda conn: conn.execute("ANALYZE"))


def timed(fn, repeat: int = 30) -> tuple[float, float]:
    fn()  # warm the cache, as a team index in use is
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a pgserver one)")
    args = parser.parse_args()

    from qiskit_aer_jobstore.index.query import JobFilter
    from qiskit_aer_jobstore.team import TeamStore

    server = None
    url = args.url
    if url is None:
        import pgserver

        root = Path(tempfile.mkdtemp(prefix="aer-bench-pg-"))
        server = pgserver.get_server(root / "pgdata", cleanup_mode="delete")
        url = server.get_uri()
    store = TeamStore(url, "s3://unused/bench")
    try:
        start = time.perf_counter()
        if store.index.count() == 0:
            seed(store.index, args.rows)
        seeded = time.perf_counter() - start
        total = store.index.count()
        filters = {
            "backend_name": "aer_simulator",
            "job_tags": ["tag42"],
            "created_after": dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc),
            "created_before": dt.datetime(2025, 9, 1, tzinfo=dt.timezone.utc),
            "limit": 10,
        }
        latest = timed(lambda: store.list(limit=10))
        filtered = timed(lambda: store.list(**filters))
        assert len(store.list(limit=10)) == 10 and store.list(**filters)
        print(f"rows: {total:,} (seeded in {seeded:.0f} s)")
        print(f"remote_jobs(limit=10): median {latest[0]:.2f} ms, max {latest[1]:.2f} ms")
        print(f"tags + date range + backend: median {filtered[0]:.2f} ms, max {filtered[1]:.2f} ms")
        for name, flt in (("latest", JobFilter(limit=10)), ("filtered", JobFilter(**filters))):
            print(f"\nEXPLAIN ANALYZE ({name}):\n{store.index.explain(flt)}")
    finally:
        store.close()
        if server is not None:
            server.cleanup()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
