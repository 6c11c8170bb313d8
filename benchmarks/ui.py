"""``aer-jobs ui``: server time of its pages on a store of 100,000 jobs.

Run ``python benchmarks/ui.py`` (a few minutes: it seeds 100,000 small signed archives, the
manifests of ended jobs, written straight into a scratch store, and a few real Aer jobs for
the job and diff pages). Times are of the app answering through Starlette's test client, in
this process (server time: no network, no browser). Writes its section of BENCHMARKS.md.
Speed is measured here, never asserted in tests.

Options: ``--jobs N`` (default 100000), ``--store DIR`` (reuse a seeded folder), ``--repeat N``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SEED_START, TAGS, configure, ghz, machine, timed, write_section  # noqa: E402

PAGE = 50


def seed(store, total: int) -> float:
    """``total`` ended jobs as small signed archives (manifest only) and their index rows,
    written in batches: what the table pages through."""
    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore.archive import write_archive
    from qiskit_aer_jobstore.index import IndexEntry
    from qiskit_aer_jobstore.manifest import archive_name

    have = store.count()
    if have >= total:
        return 0.0
    start, key, year = time.perf_counter(), store.key, 365 * 86400
    store.blobs.root.mkdir(parents=True, exist_ok=True)
    batch = []
    for i in range(have, total):
        created = SEED_START + dt.timedelta(seconds=year * i / total)
        record = qaj.JobRecord(
            job_id=f"seed-{i:07d}", backend_name="aer_simulator", status="DONE",
            creation_date=created, end_date=created, job_name=f"sweep-{i % 100}",
            job_tags=[TAGS[i % len(TAGS)], TAGS[(i * 7 + 3) % len(TAGS)]],
            run_options={"shots": 1024 * (1 + i % 4)}, manifest_only=True,
        )
        manifest = record.manifest()
        manifest.update(num_qubits=5 + i % 3, num_circuits=1 + i % 2, method="stabilizer")
        name = archive_name(created, record.job_id)
        path = store.blobs.root / name
        with open(path, "wb") as out:
            written = write_archive(out, manifest, {}, key)
        batch.append(IndexEntry.from_manifest(written, name, path.stat().st_size))
        if len(batch) == 5000:
            store.index.upsert_many(batch)
            batch = []
    store.index.upsert_many(batch)
    store.refresh()  # the folder diff finds nothing new: the rows are there
    return time.perf_counter() - start


def median(fn, repeat: int) -> tuple[float, float]:
    """Median and 90th percentile of what ``fn`` returns (seconds)."""
    times = sorted(fn() for _ in range(repeat))
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def server_time(response) -> float:
    """The app's own time for a response (its Server-Timing header), in seconds."""
    response.raise_for_status()
    return float(response.headers["server-timing"].split("dur=")[1]) / 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--store", type=Path)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    folder = args.store or Path(tempfile.mkdtemp(prefix="aer-ui-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    configure(folder, durability="normal")
    sys.path.insert(0, str(ROOT))
    from starlette.testclient import TestClient

    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore.index import JobFilter
    from qiskit_aer_jobstore.web import create_app

    store = qaj.JobStore.default()
    seed_s = seed(store, args.jobs)
    backend = qaj.AerSimulator()
    small = [backend.run(ghz(5), shots=1024, seed_simulator=s, job_name="small") for s in (1, 2)]
    for job in small:
        job.result()
    store.flush()
    total = store.count()
    app = TestClient(create_app(store), base_url="http://127.0.0.1")
    deep = min(PAGE * 499, total - PAGE - 1)  # page 500 (or the last full one of a small store)
    row = store.index.query(JobFilter(limit=1, skip=deep))[0]  # the row before that page
    page500 = f"{row['created']!r}|{row['job_id']}"
    ok = app.get("/", params={"after": page500})
    assert ok.status_code == 200 and "seed-" in ok.text

    def get(url: str, **params):
        return lambda: server_time(app.get(url, params=params))

    rows = {
        "table, page 1 (HTML)": get("/"),
        "table, page 1 (JSON)": get("/api/jobs"),
        "table, page 500 (keyset cursor)": get("/", after=page500),
        "table, tag filter (t3)": get("/", job_tags="t3"),
        "table, tag + date range": get("/", job_tags="t3", created_after="2025-04-11",
                                       created_before="2025-07-20"),
        "table, status + backend, page 500": get("/", status="DONE", backend_name="aer_simulator",
                                                 after=page500),
        "table, sorted by shots (no index)": get("/", sort="shots"),
        "small job's page (first view)": None,
        "small job's page": get(f"/jobs/{small[0].job_id()}"),
        "small job's page (JSON)": get(f"/api/jobs/{small[0].job_id()}"),
        "diff of two small jobs": get(f"/diff/{small[0].job_id()}/{small[1].job_id()}"),
        "its circuit drawn as SVG (first request)": None,
        "its circuit drawn as SVG (again: remembered)": get(
            f"/jobs/{small[1].job_id()}/circuits/0.svg"),
    }
    first = get(f"/jobs/{small[1].job_id()}")()
    drawn_first = get(f"/jobs/{small[1].job_id()}/circuits/0.svg")()
    figures = {}
    for label, fn in rows.items():
        once = drawn_first if "SVG" in label else first
        figures[label] = (once, once) if fn is None else median(fn, args.repeat)
    offset = median(lambda: timed(lambda: store.index.query(
        JobFilter(limit=PAGE, skip=deep + 1))), 10)[0]
    keyset = median(lambda: timed(lambda: store.index.query(JobFilter(limit=PAGE, after=(
        row["created"], row["job_id"])))), 10)[0]
    count = median(lambda: timed(store.count), 10)[0]

    targets = {"table, page 1 (HTML)": 0.050, "table, page 500 (keyset cursor)": 0.050,
               "small job's page": 0.200}
    lines = [
        "## aer-jobs ui (benchmarks/ui.py)",
        "",
        f"{machine()}; {dt.date.today().isoformat()}. A store of {total:,} jobs ({args.jobs:,} "
        f"seeded as small signed archives{f' in {seed_s:.0f} s' if seed_s else ''}, plus real "
        f"5-qubit GHZ jobs, 2 a run). "
        f"Server time: the app's own time for each response (its Server-Timing header; "
        f"requests sent through Starlette's test client in-process, whose own ~10 ms are not "
        f"counted), median and 90th percentile of {args.repeat} requests, {PAGE} rows a page.",
        "",
        "| page | median | p90 | target |",
        "|---|---|---|---|",
    ]
    for label, (mid, p90) in figures.items():
        target = targets.get(label)
        verdict = "" if target is None else (
            f"< {target * 1e3:.0f} ms: {'met' if mid < target else '**missed**'}")
        lines.append(f"| {label} | {mid * 1e3:.1f} ms | {p90 * 1e3:.1f} ms | {verdict} |")
    lines += [
        "",
        f"Underneath: the index query of page 500 takes {keyset * 1e3:.2f} ms with the keyset "
        f"cursor against {offset * 1e3:.2f} ms with OFFSET {deep + 1:,} (what page 500 "
        f"would cost without it); the table's total (\"50 of {total:,}\") is a COUNT over the "
        f"index, {count * 1e3:.1f} ms. Sorting by a column other than the creation time "
        "(shots, name, size...) has no index: SQLite scans and keeps the top rows.",
        "A job page shows its circuits' summaries and text drawings at once; each SVG drawing "
        "(Qiskit's matplotlib drawer, pictures.circuit_svg: about a second a circuit) is its "
        "own request, an <img> the browser fills in afterwards, remembered by the server.",
    ]
    missed = [k for k, t in targets.items() if figures[k][0] >= t]
    lines.append("")
    lines.append("Targets missed: " + (", ".join(missed) if missed else "none") + ".")
    text = "\n".join(lines)
    print(text)
    write_section(args.out, text, "benchmarks/ui.py")


if __name__ == "__main__":
    main()
