"""What saving costs the caller: the writer process against plain Aer, naive pickling, the
thread writer and devqubit, side by side in one run (issue 16's targets).

Run ``python benchmarks/writer.py [--peer-python PATH]`` (about 5 minutes). ``--peer-python``
is the interpreter of a separate venv holding devqubit-qiskit (it pins ``qiskit-aer<0.18``, so
it never goes into this project's environment):
``python -m venv /tmp/peer && /tmp/peer/bin/pip install devqubit devqubit-qiskit``. Writes its
section of BENCHMARKS.md. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import configure, ghz, machine, statevector_circuit, write_section  # noqa: E402

PEER = textwrap.dedent(
    """
    import json, os, statistics, sys, tempfile, time
    os.environ["DEVQUBIT_HOME"] = tempfile.mkdtemp()
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator
    import qiskit, qiskit_aer
    from devqubit import track
    import importlib.metadata as md
    qc = QuantumCircuit(5); qc.h(0)
    for i in range(4): qc.cx(i, i + 1)
    qc.measure_all()
    plain = AerSimulator()
    rounds, jobs = int(sys.argv[1]), int(sys.argv[2])
    times = {"plain": [], "devqubit": []}
    def one(kind, i):
        start = time.perf_counter()
        if kind == "plain":
            plain.run(qc, shots=1024, seed_simulator=i).result()
        else:
            with track(project="bench", run_name=f"r{i}") as run:
                backend = run.wrap(AerSimulator())
                backend.run(qc, shots=1024, seed_simulator=i).result().get_counts()
        times[kind].append(time.perf_counter() - start)
    for r in range(rounds):
        for kind in (["plain", "devqubit"] if r % 2 == 0 else ["devqubit", "plain"]):
            for i in range(jobs):
                one(kind, i)
    print(json.dumps({k: statistics.median(v) for k, v in times.items()} | {
        "versions": f"qiskit {qiskit.__version__}, qiskit-aer {qiskit_aer.__version__}, "
                    f"devqubit {md.version('devqubit')}"}))
    """
)


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1e3


def latency(rounds: int, jobs: int, folder: Path) -> dict:
    """(a) 5-qubit GHZ: interleaved blocks, rotated order; plus the caller's own work."""
    import qiskit_aer

    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore import mixin

    qc = ghz(5)
    plain, store = qiskit_aer.AerSimulator(), qaj.AerSimulator()
    spent: list[float] = []
    original = mixin.post_process

    def timed_post_process(*args, **kwargs):  # the caller's own work when a job ends
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    mixin.post_process = timed_post_process
    naive = folder / "naive"
    naive.mkdir()

    def run_plain(i):
        return plain.run(qc, shots=1024, seed_simulator=i).result()

    def run_pickle(i, sync=False):
        result = run_plain(i)
        with open(naive / f"{i}.pkl", "wb") as handle:
            pickle.dump(result, handle)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        return result

    def run_store(i, writer, pace="auto"):
        os.environ["QISKIT_AER_JOBS_WRITER"] = writer
        os.environ["QISKIT_AER_JOBS_WRITER_PACE"] = pace
        return store.run(qc, shots=1024, seed_simulator=i).result()

    kinds = {
        "plain": run_plain,
        "pickle": run_pickle,
        "pickle+fsync": lambda i: run_pickle(i, sync=True),
        "store (writer process, pace auto: the default)": lambda i: run_store(i, "process"),
        "store (writer process, pace idle)": lambda i: run_store(i, "process", "idle"),
        "store (writer process, pace eager)": lambda i: run_store(i, "process", "eager"),
        "store (writer thread)": lambda i: run_store(i, "thread"),
    }
    times: dict[str, list[float]] = {name: [] for name in kinds}
    blocks: dict[str, list[float]] = {name: [] for name in kinds}
    own: list[float] = []
    names = list(kinds)
    run_store(0, "process")
    qaj.JobStore.default().flush()  # the writer process is up before timing
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            began = time.perf_counter()
            for i in range(jobs):
                spent.clear()
                start = time.perf_counter()
                kinds[name](i)
                times[name].append(time.perf_counter() - start)
                if name == names[3]:
                    own.extend(spent)
            qaj.JobStore.default().flush()  # each block starts with nothing pending
            blocks[name].append(time.perf_counter() - began)
    mixin.post_process = original
    os.environ["QISKIT_AER_JOBS_WRITER"] = "process"
    os.environ["QISKIT_AER_JOBS_WRITER_PACE"] = "auto"
    return {"medians": {k: median_ms(v) for k, v in times.items()},
            "blocks": {k: median_ms(v) for k, v in blocks.items()},
            "own_ms": median_ms(own)}


def long_loop(count: int, rounds: int) -> dict:
    """(a') one loop of ``count`` GHZ jobs (longer than the writer holds saves, 5 s), plain
    against the store at each pace, including the final flush."""
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    qc = ghz(5)
    plain, store = qiskit_aer.AerSimulator(), qaj.AerSimulator()
    kinds = {"plain": (plain, None), "auto": (store, "auto"), "eager": (store, "eager")}
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for r in range(rounds):
        for name in list(kinds)[r % 3:] + list(kinds)[:r % 3]:
            backend, pace = kinds[name]
            os.environ["QISKIT_AER_JOBS_WRITER_PACE"] = pace or "auto"
            start = time.perf_counter()
            for i in range(count):
                backend.run(qc, shots=1024, seed_simulator=i).result()
            qaj.JobStore.default().flush()
            times[name].append(time.perf_counter() - start)
    os.environ["QISKIT_AER_JOBS_WRITER_PACE"] = "auto"
    return {k: median_ms(v) for k, v in times.items()}


def handover_only(count: int) -> float:
    """The hand-over alone (record to socket), median ms: what ``post_process`` adds."""
    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore.record import JobRecord

    backend = qaj.AerSimulator()
    result = backend.run(ghz(5), shots=1024, seed_simulator=1).result()
    store = qaj.JobStore.default()
    spent = []
    for _ in range(count):
        record = JobRecord.from_backend(backend, job_id=f"h{time.perf_counter_ns()}",
                                        circuits=[ghz(5)], run_options={"shots": 1024},
                                        result=result)
        start = time.perf_counter()
        store.save_later(record)
        spent.append(time.perf_counter() - start)
    store.flush()
    return median_ms(spent)


def vqe(rounds: int, maxiter: int) -> dict:
    """(b) qiskit-algorithms VQE with Aer's EstimatorV2 under enable()."""
    from qiskit.circuit.library import n_local
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer.primitives import EstimatorV2
    from qiskit_algorithms import VQE
    from qiskit_algorithms.optimizers import COBYLA

    import qiskit_aer_jobstore as qaj

    hamiltonian = SparsePauliOp.from_list([("ZZII", 1.0), ("IXXI", 0.5), ("IIZZ", 0.7),
                                           ("XIIX", 0.3)])
    ansatz = n_local(4, "ry", "cz", reps=2)

    def once(saving: bool) -> tuple[float, float]:
        (qaj.enable if saving else qaj.disable)()
        solver = VQE(EstimatorV2(options={"run_options": {"seed": 7}}), ansatz,
                     COBYLA(maxiter=maxiter), initial_point=[0.1] * ansatz.num_parameters)
        start = time.perf_counter()
        solver.compute_minimum_eigenvalue(hamiltonian)
        ran = time.perf_counter() - start
        qaj.JobStore.default().flush()
        return ran, time.perf_counter() - start

    once(True)  # warm up both paths
    once(False)
    plain, saving, flushed = [], [], []
    for r in range(rounds):
        for kind in ((False, True) if r % 2 == 0 else (True, False)):
            ran, total = once(kind)
            if kind:
                saving.append(ran)
                flushed.append(total)
            else:
                plain.append(ran)
    qaj.disable()
    return {"plain": median_ms(plain), "store": median_ms(saving),
            "store_flushed": median_ms(flushed)}


def statevectors(rounds: int, count: int) -> dict:
    """(c) back-to-back 22-qubit save_statevector jobs, including the final flush."""
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    qc = statevector_circuit(22)  # ends in save_statevector
    plain, store = qiskit_aer.AerSimulator(method="statevector"), qaj.AerSimulator(
        method="statevector")
    times: dict[str, list[float]] = {"plain": [], "store": []}
    for r in range(rounds):
        for name in (("plain", "store") if r % 2 == 0 else ("store", "plain")):
            backend = plain if name == "plain" else store
            start = time.perf_counter()
            for _ in range(count):
                backend.run(qc).result()
            qaj.JobStore.default().flush()
            times[name].append(time.perf_counter() - start)
    return {k: median_ms(v) for k, v in times.items()}


def burst(count: int) -> dict:
    """(d) write throughput: ``count`` finished small jobs handed over at once, every archive
    fsynced (durability full), until flush() returns."""
    import qiskit_aer_jobstore as qaj
    from qiskit_aer_jobstore.record import JobRecord

    backend = qaj.AerSimulator()
    result = backend.run(ghz(5), shots=1024, seed_simulator=1).result()
    out = {}
    for writer in ("process", "thread"):
        os.environ["QISKIT_AER_JOBS_WRITER"] = writer
        store = qaj.JobStore.default()
        store.save_later(JobRecord.from_backend(backend, job_id=f"{writer}-warm", result=result))
        store.flush()  # the writer process is up before timing
        records = [JobRecord.from_backend(backend, job_id=f"{writer}-{i:05d}", circuits=[ghz(5)],
                                          run_options={"shots": 1024}, result=result)
                   for i in range(count)]
        start = time.perf_counter()
        for record in records:
            store.save_later(record)
        handed = time.perf_counter() - start
        store.flush()
        total = time.perf_counter() - start
        out[writer] = {"jobs_per_s": count / total, "handover_s": handed}
    os.environ["QISKIT_AER_JOBS_WRITER"] = "process"
    return out


KILLED = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from run import ghz
    import qiskit_aer_jobstore as qaj
    backend, qc = qaj.AerSimulator(), ghz(5)
    for i in range(int(sys.argv[1])):
        backend.run(qc, shots=100, seed_simulator=i, job_tags=["killed"]).result()
    print("returned", flush=True)
    time.sleep(600)
    """
)


def killed(count: int) -> dict:
    """(e) SIGKILL right after the last result(): how many a new process lists DONE."""
    out = {}
    for writer in ("process", "thread"):
        env = {**os.environ, "QISKIT_AER_JOBS_WRITER": writer}
        env["QISKIT_AER_JOBS_DIR"] = env["QISKIT_AER_JOBS_DIR"] + f"-killed-{writer}"
        proc = subprocess.Popen([sys.executable, "-c", KILLED, str(count),
                                 str(Path(__file__).parent)], stdout=subprocess.PIPE, env=env,
                                text=True)
        proc.stdout.readline()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        listed = subprocess.run(
            [sys.executable, "-c", "import qiskit_aer_jobstore as q, json; print(json.dumps("
             "[j.status().name for j in q.JobStore.default().list(limit=None)]))"],
            env=env, capture_output=True, text=True, check=True)
        statuses = json.loads(listed.stdout)
        out[writer] = sum(s == "DONE" for s in statuses)
    return out


def report(a, handover, devqubit, b, c, d, e, args, long=None) -> str:
    m, blocks = a["medians"], a["blocks"]
    plain = m["plain"]
    ratio = m["store (writer process, pace auto: the default)"] / plain
    lines = [
        "## Saving off the caller's path (`benchmarks/writer.py`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
        f"`python benchmarks/writer.py` on: {machine()}. Durability `full`. One run, all rows "
        "side by side; the machine is shared, so expect noise between runs.",
        "",
        f"### (a) 5-qubit GHZ, 1024 shots: {args.rounds} rounds x {args.jobs} jobs per row, "
        "interleaved blocks in rotated order, median latency of `run().result()`; and each "
        "block of jobs including the flush after it",
        "",
        "| how | median | x plain | block incl. flush | x plain |",
        "|---|---|---|---|---|",
    ]
    for name, value in m.items():
        lines.append(f"| {name} | {value:.2f} ms | x{value / plain:.2f} | "
                     f"{blocks[name]:.0f} ms | x{blocks[name] / blocks['plain']:.2f} |")
    if devqubit:
        peer, peer_plain = devqubit["devqubit"] * 1e3, devqubit["plain"] * 1e3
        lines.append(f"| devqubit (its README pattern; its own venv: {devqubit['versions']}) | "
                     f"{peer:.2f} ms | x{peer / peer_plain:.2f} (of its venv's plain Aer, "
                     f"{peer_plain:.2f} ms) |")
    lines += [
        "",
        f"Store with the writer process x{ratio:.2f} plain (target <= x1.05: "
        f"{'met' if ratio <= 1.05 else '**MISSED**'}). The caller's own work when a job ends "
        f"(`post_process`: the record, its pickle with circuits as QPY, the send) "
        f"{a['own_ms'] * 1e3:.0f} us a job in the loop; the hand-over alone, outside a loop, "
        f"{handover * 1e3:.0f} us (target <= 100 us: "
        f"{'met' if a['own_ms'] <= 0.1 else '**MISSED**'}).",
        "",
    ]
    if long:
        lines += [
            f"### (a') One loop of {args.long} GHZ jobs (longer than the 5 s a writer holds "
            f"saves), including the final flush, median of {args.long_rounds}",
            "",
            f"plain {long['plain'] / 1e3:.2f} s; store, pace auto {long['auto'] / 1e3:.2f} s "
            f"(x{long['auto'] / long['plain']:.2f}); pace eager {long['eager'] / 1e3:.2f} s "
            f"(x{long['eager'] / long['plain']:.2f}).",
            "",
        ]
    lines += [
        f"### (b) VQE (qiskit-algorithms, Aer `EstimatorV2` under `enable()`, COBYLA "
        f"{args.maxiter} evaluations, 4 qubits), median of {args.vqe_rounds}",
        "",
        "| | wall time | x plain |",
        "|---|---|---|",
        f"| plain (`disable()`) | {b['plain']:.0f} ms | |",
        f"| saving every estimator job | {b['store']:.0f} ms | x{b['store'] / b['plain']:.2f} "
        f"(target <= x1.10: {'met' if b['store'] / b['plain'] <= 1.10 else '**MISSED**'}) |",
        f"| saving, including the final flush | {b['store_flushed']:.0f} ms | "
        f"x{b['store_flushed'] / b['plain']:.2f} (target <= x1.25: "
        f"{'met' if b['store_flushed'] / b['plain'] <= 1.25 else '**MISSED**'}) |",
        "",
        f"### (c) {args.sv} back-to-back 22-qubit `save_statevector` jobs (64 MiB each), "
        f"including the final flush, median of {args.sv_rounds}",
        "",
        f"plain {c['plain'] / 1e3:.2f} s, store {c['store'] / 1e3:.2f} s: "
        f"x{c['store'] / c['plain']:.2f} (target <= x1.15: "
        f"{'met' if c['store'] / c['plain'] <= 1.15 else '**MISSED**'}).",
        "",
        f"### (d) A burst of {args.burst} finished small jobs handed over at once, every "
        "archive fsynced, until `flush()` returns",
        "",
        "| writer | jobs written per second | handing all over took |",
        "|---|---|---|",
    ]
    for writer, row in d.items():
        lines.append(f"| {writer} | {row['jobs_per_s']:.0f} | {row['handover_s'] * 1e3:.0f} ms |")
    best = d["process"]["jobs_per_s"]
    lines += [
        "",
        f"Target >= 1,000 jobs/s: {'met' if best >= 1000 else '**MISSED**'}.",
        "",
        f"### (e) `kill -9` right after the last of {args.killed} `result()`s",
        "",
        f"Listed `DONE` by a new process: writer process {e['process']} of {args.killed}; "
        f"writer thread {e['thread']} of {args.killed} (also a test: "
        "`tests/test_writer_process.py`).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--long-rounds", type=int, default=2)
    parser.add_argument("--maxiter", type=int, default=80)
    parser.add_argument("--vqe-rounds", type=int, default=3)
    parser.add_argument("--sv", type=int, default=10)
    parser.add_argument("--sv-rounds", type=int, default=2)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--killed", type=int, default=40)
    parser.add_argument("--peer-python", default=None)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent /
                                              "BENCHMARKS.md"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="aer-writer-bench-"))
    configure(folder)
    devqubit = None
    if args.peer_python:
        proc = subprocess.run([args.peer_python, "-c", PEER, str(args.rounds), str(args.jobs)],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            devqubit = json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            print("devqubit run failed:", proc.stderr[-2000:], file=sys.stderr)
    a = latency(args.rounds, args.jobs, folder)
    print("latency", a, flush=True)
    long = long_loop(args.long, args.long_rounds) if args.long else None
    print("long loop", long, flush=True)
    handover = handover_only(300)
    print("handover", handover, flush=True)
    b = vqe(args.vqe_rounds, args.maxiter)
    print("vqe", b, flush=True)
    c = statevectors(args.sv_rounds, args.sv)
    print("statevectors", c, flush=True)
    d = burst(args.burst)
    print("burst", d, flush=True)
    e = killed(args.killed)
    print("killed", e, flush=True)
    text = report(a, handover, devqubit, b, c, d, e, args, long)
    print(text)
    write_section(Path(args.out), text, "benchmarks/writer.py")


if __name__ == "__main__":
    main()
