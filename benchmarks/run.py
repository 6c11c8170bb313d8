"""Benchmarks of qiskit-aer-jobstore, side by side with plain Aer and with pickling by hand.

Run ``python benchmarks/run.py`` (about 5 to 10 minutes: it seeds a store of 100,000 real job
archives). It writes ``BENCHMARKS.md`` beside the README with the machine and the date. Not part
of the test suite: speed is measured here, never asserted in tests.

Options: ``--jobs N`` (store size for the query benchmarks, default 100000), ``--store DIR``
(reuse a seeded store between runs), ``--repeat N`` (runs per latency figure), ``--out FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAGS = [f"t{i}" for i in range(20)]
SEED_START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def configure(folder: Path, durability: str = "full") -> None:
    """Point the store at a scratch folder (before anything reads the settings)."""
    os.environ["QISKIT_AER_JOBS_DIR"] = str(folder / "store")
    os.environ["QISKIT_AER_JOBS_KEY"] = str(folder / "store.key")
    os.environ["QISKIT_SETTINGS"] = str(folder / "settings.conf")
    os.environ["QISKIT_AER_JOBS_DURABILITY"] = durability
    os.environ["QISKIT_AER_MAX_STORE_BYTES"] = "0"
    os.environ.pop("QISKIT_AER_SAVE_JOBS", None)


def ghz(n: int):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def statevector_circuit(n: int = 22, layers: int = 4):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name=f"sv{n}")
    for layer in range(layers):
        for q in range(n):
            qc.rx(0.1 * (q + 1) + layer, q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    qc.save_statevector()
    return qc


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -- (a) save overhead, small jobs ---------------------------------------------------------
def bench_small(repeat: int, folder: Path) -> dict:
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    circuit = ghz(5)
    plain, saving = qiskit_aer.AerSimulator(), qaj.AerSimulator()
    store = saving.job_store
    for backend in (plain, saving):  # warm up both (first runs load libraries)
        for _ in range(20):
            backend.run(circuit, shots=1024).result()
    store.flush()
    # naive reference: pickle.dump(result, open(f, "wb")) per job
    naive_dir = folder / "naive-small"
    naive_dir.mkdir()

    def naive_run(_: int) -> None:
        job = plain.run(circuit, shots=1024)
        result = job.result()
        with open(naive_dir / f"{job.job_id()}.pkl", "wb") as handle:
            pickle.dump(result, handle)

    runs = {
        "plain": lambda: plain.run(circuit, shots=1024).result(),
        "jobstore": lambda: saving.run(circuit, shots=1024).result(),
        "naive": lambda: naive_run(0),
    }
    order = list(runs)
    lat = {name: [] for name in runs}
    blocks = []
    for _ in range(3):  # three blocks, to show the spread on a shared machine
        block = {name: [] for name in runs}
        for i in range(repeat):  # interleaved, order rotated, so drift hits all alike
            for name in order[i % 3 :] + order[: i % 3]:
                block[name].append(timed(runs[name]))
        for name in runs:
            lat[name] += block[name]
        blocks.append(statistics.median(block["jobstore"]) / statistics.median(block["plain"]))
    store.flush()
    # throughput: bursts of jobs, the store's including the flush of every pending save;
    # rounds interleaved and the median taken, as the machine is shared
    burst, rounds = 40, 7

    def saving_burst():
        for _ in range(burst):
            saving.run(circuit, shots=1024).result()
        store.flush()

    bursts = {"plain": [], "jobstore": [], "naive": []}
    for _ in range(rounds):
        bursts["plain"].append(
            timed(lambda: [plain.run(circuit, shots=1024).result() for _ in range(burst)])
        )
        bursts["jobstore"].append(timed(saving_burst))
        bursts["naive"].append(timed(lambda: [naive_run(i) for i in range(burst)]))
    # the caller's own share: taking our options out and building the context
    from qiskit_aer_jobstore import mixin

    n = 2000
    caller = timed(lambda: [mixin.attach_context(saving, {"shots": 1024}) for _ in range(n)]) / n
    return {
        "caller": caller,
        "median": {k: statistics.median(v) for k, v in lat.items()},
        "blocks": blocks,
        "burst": {k: statistics.median(v) / burst for k, v in bursts.items()},
        "burst_shape": (rounds, burst),
        "n": repeat,
        "archive_bytes": store.size() // max(1, store.count()),
    }


# -- (b) one big statevector job -----------------------------------------------------------
def bench_big(repeat: int) -> dict:
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    circuit = statevector_circuit()
    plain, saving = (
        qiskit_aer.AerSimulator(method="statevector"),
        qaj.AerSimulator(method="statevector"),
    )
    store = saving.job_store
    plain.run(circuit).result()
    times = {"plain": [], "jobstore": [], "naive": [], "result_only": []}
    job_id = None
    for _ in range(repeat):
        times["plain"].append(timed(lambda: plain.run(circuit).result()))

        start = time.perf_counter()
        job = saving.run(circuit)
        job.result()
        times["result_only"].append(time.perf_counter() - start)
        store.flush()
        times["jobstore"].append(time.perf_counter() - start)
        job_id = job.job_id()

        def naive():
            result = plain.run(circuit).result()
            with tempfile.NamedTemporaryFile(dir=store.path.parent, delete=True) as handle:
                pickle.dump(result, handle)
                handle.flush()
                os.fsync(handle.fileno())

        times["naive"].append(timed(naive))
    stored = store.get(job_id)
    with zipfile.ZipFile(stored.archive_path) as zf:
        members = {i.filename: (i.file_size, i.compress_type) for i in zf.infolist()}
    load = statistics.median(timed(lambda: store.get(job_id).result()) for _ in range(3))
    return {
        "median": {k: statistics.median(v) for k, v in times.items()},
        "members": members,
        "archive_bytes": os.path.getsize(stored.archive_path),
        "load": load,
        "n": repeat,
    }


# -- (c) a store of many jobs --------------------------------------------------------------
def _seed_worker(args) -> int:
    folder, start, stop, total = args
    configure(Path(folder), durability="normal")
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    result = qiskit_aer.AerSimulator().run(ghz(5), shots=1024, seed_simulator=7).result()
    circuit = ghz(5)
    store = qaj.JobStore()
    year = 365 * 86400
    for i in range(start, stop):
        created = SEED_START + dt.timedelta(seconds=year * i / total)
        store.save(
            qaj.JobRecord(
                job_id=f"seed-{i:07d}",
                backend_name="aer_simulator",
                circuits=[circuit],
                run_options={"shots": 1024},
                result=result,
                creation_date=created,
                job_name=f"sweep-{i % 100}",
                job_tags=[TAGS[i % len(TAGS)], TAGS[(i * 7 + 3) % len(TAGS)]],
            )
        )
    return stop - start


def seed(folder: Path, total: int) -> float:
    import qiskit_aer_jobstore as qaj

    have = qaj.JobStore().count()
    if have >= total:
        return 0.0
    procs = max(1, min(2, os.cpu_count() or 1))
    chunks = [
        (
            str(folder),
            have + k * (total - have) // procs,
            have + (k + 1) * (total - have) // procs,
            total,
        )
        for k in range(procs)
    ]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        pool.map(_seed_worker, chunks)
    return time.perf_counter() - start


def query_plans(store) -> dict[str, list[str]]:
    from qiskit_aer_jobstore import JobFilter

    plans = {}
    filters = {
        "jobs(limit=10)": {"backend_name": "aer_simulator"},
        "tags + date range": {
            "backend_name": "aer_simulator",
            "job_tags": ["t3"],
            "created_after": SEED_START + dt.timedelta(days=100),
            "created_before": SEED_START + dt.timedelta(days=200),
        },
    }
    conn = store.index._connect()
    for label, flt in filters.items():
        sql, params = JobFilter.from_kwargs(limit=10, **flt).select()
        plans[label] = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
    return plans


def bench_many(total: int, repeat: int) -> dict:
    import qiskit_aer_jobstore as qaj

    backend = qaj.AerSimulator()
    store = backend.job_store
    backend.jobs(limit=10)
    after, before = SEED_START + dt.timedelta(days=100), SEED_START + dt.timedelta(days=200)
    found = backend.jobs(limit=10, job_tags=["t3"], created_after=after, created_before=before)
    assert len(found) == 10
    small_id = found[0].job_id()

    def median(fn) -> float:
        return statistics.median(timed(fn) for _ in range(repeat))

    out = {
        "count": store.count(),
        "list": median(lambda: backend.jobs(limit=10)),
        "filtered": median(
            lambda: backend.jobs(
                limit=10, job_tags=["t3"], created_after=after, created_before=before
            )
        ),
        "and_tags": median(
            lambda: backend.jobs(limit=10, job_tags=["t3", "t10"], job_tags_operator="AND")
        ),
        "retrieve": median(lambda: backend.retrieve_job(small_id).result()),
        "resync": median(lambda: (store.index.set_meta("synced_at", "0"), backend.jobs(limit=10))),
        "plans": query_plans(store),
        "total_size": median(store.index.total_size),
        "size": store.size(),
    }
    fresh = qaj.JobStore(store.path, store.key_path)
    out["reindex"] = timed(fresh.reindex)
    return out


def bench_naive_listing(folder: Path, total: int, template: bytes, repeat: int) -> dict:
    """The reference: one pickle file per job, listed by scanning the folder."""
    naive = folder / "naive-many"
    naive.mkdir(exist_ok=True)
    have = len(os.listdir(naive))
    for i in range(have, total):
        (naive / f"job-{i:07d}.pkl").write_bytes(template)

    def newest_ten():
        entries = sorted(os.scandir(naive), key=lambda e: e.stat().st_mtime, reverse=True)
        return [e.name for e in entries[:10]]

    def tagged_ten():  # filtering means unpickling every file
        hits = []
        for entry in sorted(os.scandir(naive), key=lambda e: e.name, reverse=True)[:2000]:
            with open(entry.path, "rb") as handle:
                result = pickle.load(handle)
            if result.success:
                hits.append(entry.name)
            if len(hits) == 10:
                break
        return hits

    return {
        "list": statistics.median(timed(newest_ten) for _ in range(repeat)),
        "load": statistics.median(
            timed(lambda: pickle.load(open(naive / "job-0000001.pkl", "rb")))  # noqa: SIM115
            for _ in range(repeat)
        ),
    }


# -- report -----------------------------------------------------------------------------
def machine() -> str:
    import numpy
    import qiskit
    import qiskit_aer

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(
            int(line.split()[1]) // 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem = 0
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {mem} GiB RAM; "
        f"Python {platform.python_version()}, qiskit {qiskit.__version__}, qiskit-aer "
        f"{qiskit_aer.__version__}, numpy {numpy.__version__}"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def report(small: dict, big: dict, many: dict, naive: dict, total: int, seed_s: float) -> str:
    from qiskit_aer_jobstore.core import RESYNC_AFTER_S

    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sm, sb = small["median"], small["burst"]
    ratio_a = sm["jobstore"] / sm["plain"]
    ratio_burst = sb["jobstore"] / sb["plain"]
    bm = big["median"]
    ratio_b = bm["jobstore"] / bm["plain"]
    stored_ok = all(
        ctype == zipfile.ZIP_STORED for size, ctype in big["members"].values() if size > 1024**2
    )
    members = ", ".join(
        f"{name} {size / 1024**2:.1f} MiB {'stored' if c == zipfile.ZIP_STORED else 'deflated'}"
        for name, (size, c) in big["members"].items()
    )
    lines = [
        "## The local store (`benchmarks/run.py`)",
        "",
        f"Measured {when} by `python benchmarks/run.py` on: {machine()}.",
        "Durability `full` (every archive fsynced) unless said. One run, all rows side by side;",
        "the machine is shared, so expect a few percent of noise between runs.",
        "",
        "### (a) Save overhead: 5-qubit GHZ, 1024 shots",
        "",
        f"Median over 3 x {small['n']} interleaved runs (order rotated) of "
        "`backend.run(qc, shots=1024).result()`; the store saves every job in the background "
        "meanwhile.",
        "",
        f"Bursts: median of {small['burst_shape'][0]} rounds of {small['burst_shape'][1]} jobs "
        "back to back, the store's including `flush()` (every archive on disk, fsynced).",
        "",
        "| backend | median latency | per job in a burst, incl. flush |",
        "|---|---|---|",
        f"| plain `qiskit_aer.AerSimulator` | {ms(sm['plain'])} | {ms(sb['plain'])} |",
        f"| `qiskit_aer_jobstore.AerSimulator` (saving) | {ms(sm['jobstore'])} | "
        f"{ms(sb['jobstore'])} |",
        f"| naive: plain + `pickle.dump(result, open(f, 'wb'))` | {ms(sm['naive'])} | "
        f"{ms(sb['naive'])} |",
        "",
        f"Latency ratio {ratio_a:.2f} (target <= 1.10: {verdict(ratio_a <= 1.10)}; the three "
        f"blocks: {', '.join(f'{r:.2f}' for r in small['blocks'])}). "
        f"Throughput with every save flushed: x{ratio_burst:.2f} the plain time per job "
        f"({ms(sb['jobstore'] - sb['plain'])} per job; archives are "
        f"~{small['archive_bytes'] / 1024:.0f} KiB). The caller only queues the job; the "
        "background writer pickles, signs, writes, fsyncs (file, folder, index) while the next "
        f"job simulates; the caller's own work is {small['caller'] * 1e6:.0f} us a job. The "
        "writer's Python work (pickle, zip, JSON: ~1 ms a job) holds the GIL, the "
        "fsyncs and hashing do not; the latency row shows what that contention costs.",
        "",
        "### (b) 22-qubit `save_statevector` job (64 MiB of amplitudes)",
        "",
        f"Median of {big['n']} runs of a 22-qubit, 4-layer rx/cx circuit; wall time of "
        "`run().result()`, for the store including `flush()` (the archive written and fsynced).",
        "",
        "| | wall time |",
        "|---|---|",
        f"| plain `qiskit_aer.AerSimulator` | {ms(bm['plain'])} |",
        f"| jobstore, `result()` returns | {ms(bm['result_only'])} |",
        f"| jobstore, including flush | {ms(bm['jobstore'])} |",
        f"| naive: plain + `pickle.dump` + fsync | {ms(bm['naive'])} |",
        f"| reload: `retrieve_job(id).result()` | {ms(big['load'])} |",
        "",
        f"Saving adds {100 * (ratio_b - 1):.0f}% to the wall time (target <= 15%: "
        f"{verdict(ratio_b <= 1.15)}). Archive {big['archive_bytes'] / 1024**2:.1f} MiB: "
        f"{members} (members over 1 MiB stored, not deflated: {verdict(stored_ok)}).",
        "Writing the archive costs about what writing 64 MiB costs on this disk (pickle, "
        "SHA-256, CRC-32, write, fsync): compare the naive pickle-and-fsync row. The target "
        "holds only for jobs that simulate for several times longer than the write takes.",
        "",
        f"### (c) A store of {many['count']:,} jobs",
        "",
        f"Seeded with real archives (a 5-qubit GHZ result each, tags from 20, spread over a "
        f"year; {many['size'] / 1024**2:.0f} MiB on disk)"
        + (f", in {seed_s:.0f} s by 2 processes" if seed_s else "")
        + f". Median of {many.get('repeat', 20)} calls, through `AerSimulator()`.",
        "",
        "| operation | jobstore | target | naive: pickle files + folder scan |",
        "|---|---|---|---|",
        f"| `jobs(limit=10)` | {ms(many['list'])} | < 20 ms: {verdict(many['list'] < 0.02)} | "
        f"{ms(naive['list'])} (newest 10 by mtime; no filters possible without loading) |",
        f"| `jobs(limit=10, job_tags=['t3'], created_after=..., created_before=...)` | "
        f"{ms(many['filtered'])} | < 20 ms: {verdict(many['filtered'] < 0.02)} | "
        "unpickle every file |",
        f"| `jobs(limit=10, job_tags=['t3', 't10'], job_tags_operator='AND')` | "
        f"{ms(many['and_tags'])} | (none) | |",
        f"| `retrieve_job(id).result()`, small job | {ms(many['retrieve'])} | < 5 ms: "
        f"{verdict(many['retrieve'] < 0.005)} | {ms(naive['load'])} (`pickle.load`, no check) |",
        f"| `jobs(limit=10)` when the folder is due its re-diff against the index (at most "
        f"every {RESYNC_AFTER_S:.0f} s) | {ms(many['resync'])} | (none) | |",
        f"| `JobStore.reindex()` (rebuild the index from every archive) | "
        f"{many['reindex']:.1f} s | | |",
        "",
        "Tag and circuit-name lists are checked while walking the `(created, job_id)` index "
        "rather than driving the query, so `LIMIT` stops early and nothing is sorted; the "
        "worst case is a tag combination no job has (the AND row: no job has both tags), "
        "which walks the whole index. The store total (`max_store_bytes`, checked after each "
        f"save) reads a covering index: {ms(many['total_size'])}.",
        "",
        "Query plans (`EXPLAIN QUERY PLAN`):",
        "",
    ]
    for label, plan in many["plans"].items():
        lines.append(f"- {label}: " + "; ".join(f"`{step}`" for step in plan))
    missed = []
    if ratio_a > 1.10:
        missed.append(f"(a) latency ratio {ratio_a:.2f} > 1.10")
    if ratio_b > 1.15:
        missed.append(f"(b) saving adds {100 * (ratio_b - 1):.0f}% > 15%")
    for key, label, limit in (
        ("list", "jobs(limit=10)", 0.02),
        ("filtered", "filtered query", 0.02),
        ("retrieve", "retrieve_job().result()", 0.005),
    ):
        if many[key] >= limit:
            missed.append(f"(c) {label} {ms(many[key])} >= {ms(limit)}")
    lines += ["", "### Targets missed", ""]
    lines += [f"- {m}" for m in missed] or ["None in this run."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--store", type=Path, default=None, help="reuse this scratch folder")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    folder = args.store or Path(tempfile.mkdtemp(prefix="aer-jobstore-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for scratch in ("naive-small", "small"):
            shutil.rmtree(folder / scratch, ignore_errors=True)
        configure(folder / "small")
        (folder / "small").mkdir()
        print("(a) small jobs ...", flush=True)
        small = bench_small(args.repeat, folder)
        print("(b) 22-qubit statevector ...", flush=True)
        big = bench_big(5)
        shutil.rmtree(folder / "small", ignore_errors=True)
        configure(folder / "many")
        (folder / "many").mkdir(exist_ok=True)
        print(f"(c) seeding {args.jobs:,} jobs (reused if already there) ...", flush=True)
        seed_s = seed(folder / "many", args.jobs)
        print("(c) queries ...", flush=True)
        from qiskit_aer_jobstore import JobStore

        many = bench_many(args.jobs, 20)
        template = pickle.dumps(JobStore().get("seed-0000000").result())
        print("(d) naive folder of pickles ...", flush=True)
        naive = bench_naive_listing(folder, args.jobs, template, 5)
    finally:
        if args.store is None:
            shutil.rmtree(folder, ignore_errors=True)
    text = report(small, big, many, naive, args.jobs, seed_s)
    write_section(args.out, text)
    print(text)


BEGIN, END = "<!-- benchmarks/run.py: begin -->", "<!-- benchmarks/run.py: end -->"


def write_section(out: Path, text: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace a script's part of BENCHMARKS.md (between ``begin`` and ``end``, this
    script's marks by default), keeping the other benchmarks' sections."""
    old = out.read_text() if out.exists() else "# Benchmarks\n\n"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    out.write_text(new)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
