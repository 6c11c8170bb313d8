"""A store folder that cannot be written: listing, reading and the CLI's read commands work, one
warning says the store is read-only, and every write raises ``JobStoreReadOnlyError``.

No mocks: the parent fills a store with the normal API, then a child process sees the folder
read-only for real (a read-only bind mount in its own mount namespace, or write modes removed
for a root without the DAC capabilities), runs every check and prints a JSON report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

import qiskit_aer_jobstore as qaj

from .conftest import ghz

# $1 is the store folder, the rest the command to run once the folder is mounted read-only
MOUNT_RO = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
NO_DAC = "--bounding-set=-dac_override,-dac_read_search"
WRITE_FAILS_WITH = {"mount": "EROFS", "chmod": "EACCES"}

CHILD = r'''
import errno, json, os, subprocess, sys, warnings
import qiskit_aer_jobstore as qaj
from qiskit import QuantumCircuit

folder, expected = sys.argv[1], json.loads(sys.argv[2])
first, report, seen = expected[0], {}, 0


def attempt(name, fn):  # its value or error, and the warnings since the previous attempt
    global seen
    try:
        report[name] = {"value": fn(), "error": None}
    except Exception as exc:
        read_only = isinstance(exc, getattr(qaj, "JobStoreReadOnlyError", ()))
        report[name] = {"value": None, "error": {"type": type(exc).__name__, "message": str(exc),
                                                 "read_only_error": read_only}}
    report[name]["warnings"] = [
        ("JobStoreWarning" if issubclass(w.category, qaj.JobStoreWarning)
         else w.category.__name__) + f": {w.message}" for w in caught[seen:]]
    seen = len(caught)


def probe():  # does creating a file in the folder fail, and how?
    try:
        os.close(os.open(os.path.join(folder, "probe"), os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "writable"


def ids(jobs):
    return [job.job_id() for job in jobs]


def save():
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    counts = backend.run(qc, shots=100, seed_simulator=1).result().get_counts()
    qaj.JobStore.default().flush()  # the save runs on the writer thread: wait for its warning
    return counts


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")  # count every warning: none folded by the once-per-place rule
    report["probe"] = probe()
    store, backend = qaj.JobStore(folder), qaj.AerSimulator()
    attempt("list", lambda: ids(store.list()))
    attempt("list again", lambda: ids(store.list()))
    attempt("list job_tags=[bell]", lambda: ids(store.list(job_tags=["bell"])))
    attempt("list backend_name=", lambda: ids(store.list(backend_name="aer_simulator")))
    attempt("jobs()", lambda: ids(backend.jobs()))
    attempt("local_jobs()", lambda: ids(backend.local_jobs()))
    attempt("counts", lambda: {i: backend.retrieve_job(i).result().get_counts() for i in expected})
    attempt("circuits", lambda: {i: [c.name for c in backend.retrieve_job(i).circuits()]
                                 for i in expected})
    commands = {"list": ["list", "--json", "--limit", "0"], "show": ["show", first], "du": ["du"],
                "check": ["check"], "rm": ["rm", first]}
    procs = {name: subprocess.Popen([sys.executable, "-m", "qiskit_aer_jobstore.cli", *args],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, args in commands.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        report[f"aer-jobs {name}"] = {"code": proc.returncode, "stdout": out, "stderr": err}
    attempt("delete", lambda: store.delete(first))
    attempt("update_tags", lambda: backend.retrieve_job(first).update_tags(["x"]))
    attempt("update_name", lambda: backend.retrieve_job(first).update_name("y"))
    attempt("prune", lambda: store.prune(keep_last=0))
    attempt("after writes", lambda: {j.job_id(): [j.name, sorted(j.tags)] for j in store.list()})
    attempt("save", save)
print(json.dumps(report))
'''


def _run_jobs(runs) -> dict[str, dict]:
    """Run ``(name, circuit, tags, seed)`` jobs: ``{job_id: {name, tags, circuit, counts}}``."""
    backend = qaj.AerSimulator()
    jobs = [(backend.run(circuit, shots=200, seed_simulator=seed, job_name=name, job_tags=tags),
             name, tags, circuit.name) for name, circuit, tags, seed in runs]
    qaj.JobStore.default().flush()
    return {job.job_id(): {"name": name, "tags": sorted(tags), "circuit": circuit,
                           "counts": job.result().get_counts()}
            for job, name, tags, circuit in jobs}


def _fill(root: Path, store: Path, bell, situation: str, monkeypatch) -> dict[str, dict]:
    expected = _run_jobs([("bell-a", bell, ["bell", "paper"], 11), ("bell-b", bell, ["bell"], 12),
                          ("ghz-c", ghz(3), ["ghz"], 13)])
    index = store / "index.sqlite"
    journals = [Path(f"{index}-wal"), Path(f"{index}-shm")]
    if situation == "no-index":
        index.unlink()
    else:  # leave the index as a closed store does: everything in index.sqlite, no journals
        with closing(sqlite3.connect(index)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for journal in journals:
        journal.unlink(missing_ok=True)
    if situation == "stale-index":  # an archive signed with the same key, copied in by hand
        monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(root / "other"))
        copied = _run_jobs([("copied-d", bell, ["bell", "copied"], 14)])
        monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(store))
        [archive] = (root / "other").glob("*.zip")
        shutil.copy2(archive, store / archive.name)
        expected.update(copied)
    archives = len(list(store.glob("*.zip")))
    assert archives == len(expected), f"setup: {archives} archives for {len(expected)} jobs"
    assert not [j for j in journals if j.exists()], "setup: SQLite journals left in the store"
    if situation == "no-index":
        assert not index.exists(), "setup: index.sqlite should be gone"
    else:
        with closing(sqlite3.connect(index)) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        assert rows == len(expected) - (situation == "stale-index"), f"setup: {rows} index rows"
    return expected


def _skip_unless_usable(mechanism: str, scratch: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: a read-only bind mount, or root without DAC capabilities")
    scratch.mkdir()
    probe = {"mount": ["unshare", "-m", "sh", "-c", MOUNT_RO, "sh", str(scratch), "true"],
             "chmod": ["setpriv", NO_DAC, "true"]}[mechanism]
    if shutil.which(probe[0]) is None:
        pytest.skip(f"{probe[0]} (util-linux) is not installed")
    done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        pytest.skip(f"{' '.join(probe[:2])} does not work here: {done.stderr.strip()}")


@contextmanager
def _read_only(mechanism: str, store: Path):
    """Yields the command prefix that runs a child which sees ``store`` read-only."""
    if mechanism == "mount":  # the mount lives and dies with the child's mount namespace
        yield ["unshare", "-m", "sh", "-c", MOUNT_RO, "sh", str(store)]
        return
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [store, *store.rglob("*")]}
    try:
        for path in modes:
            path.chmod(0o555 if path.is_dir() else 0o444)
        yield ["setpriv", NO_DAC]
    finally:  # so that pytest can delete tmp_path
        for path, mode in modes.items():
            path.chmod(mode)


def _snapshot(store: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(store)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                        p.stat().st_mtime_ns)
            for p in sorted(store.rglob("*")) if p.is_file()}


def _problems(report: dict, expected: dict[str, dict]) -> list[str]:
    """What the child saw that the read-only store spec does not allow, one line each."""
    problems: list[str] = []
    everything, first = set(expected), next(iter(expected))

    def got(name: str):
        error = report[name]["error"]
        return report[name]["value"] if error is None else f"{error['type']}: {error['message']}"

    def read_only_warnings(name: str) -> list[str]:
        return [w for w in report[name]["warnings"]
                if w.startswith("JobStoreWarning:") and "read-only" in w]

    listings = {"list": everything, "list again": everything, "jobs()": everything,
                "local_jobs()": everything, "list backend_name=": everything,
                "list job_tags=[bell]": {i for i, e in expected.items() if "bell" in e["tags"]}}
    for name, want in listings.items():
        if report[name]["error"] or set(report[name]["value"]) != want:
            problems.append(f"{name}: expected {sorted(want)}, got {got(name)}")
    for name, want in [("counts", {i: e["counts"] for i, e in expected.items()}),
                       ("circuits", {i: [e["circuit"]] for i, e in expected.items()}),
                       ("after writes", {i: [e["name"], e["tags"]] for i, e in expected.items()})]:
        if got(name) != want:
            problems.append(f"{name}: expected {want}, got {got(name)}")
    for command in ("list", "show", "du", "check"):
        run = report[f"aer-jobs {command}"]
        if run["code"] != 0:
            problems.append(f"aer-jobs {command} exited {run['code']}: {run['stderr'].strip()}")
    if report["aer-jobs list"]["code"] == 0:
        listed = {row["job_id"] for row in json.loads(report["aer-jobs list"]["stdout"])}
        if listed != everything:
            problems.append(f"aer-jobs list --json: expected {sorted(everything)}, got {listed}")
    if report["aer-jobs show"]["code"] == 0 and first not in report["aer-jobs show"]["stdout"]:
        problems.append(f"aer-jobs show {first} does not show the job id")
    rm = report["aer-jobs rm"]
    errors = [line for line in rm["stderr"].splitlines() if line.startswith("aer-jobs: error:")]
    # (today's "index cannot be used: unable to open database file" hints at read-only too)
    if (rm["code"] not in (1, 2) or len(errors) != 1 or "read-only" not in errors[0]
            or "unable to open database file" in errors[0]):
        problems.append(f"aer-jobs rm should exit 1 or 2 with one error line saying read-only; "
                        f"it exited {rm['code']} with stderr {rm['stderr'].strip()!r}")
    for name, want in [("list", 1), ("list again", 0)]:  # one warning, when first used
        if len(read_only_warnings(name)) != want:
            problems.append(f"{name} should give {want} JobStoreWarning(s) saying read-only; "
                            f"its warnings: {report[name]['warnings']}")
    for name in ("delete", "update_tags", "update_name", "prune"):
        error = report[name]["error"]
        if not (error and error["read_only_error"] and "read-only" in error["message"]):
            problems.append(f"{name} should raise JobStoreReadOnlyError saying read-only; "
                            f"got {got(name)}")
    save = report["save"]
    if save["error"] or sum(save["value"].values()) != 100:
        problems.append(f"run() should still return the live counts; got {got('save')}")
    if not read_only_warnings("save"):
        problems.append("saving a job should give a JobStoreWarning saying read-only; "
                        f"its warnings: {save['warnings']}")
    return problems


@pytest.mark.parametrize("mechanism", ["mount", "chmod"])
@pytest.mark.parametrize("situation", ["in-sync", "no-index", "stale-index"])
def test_a_read_only_store(job_store_env, monkeypatch, bell, situation, mechanism):
    root = job_store_env
    store = root / "aer_jobs"
    _skip_unless_usable(mechanism, root / "scratch")
    expected = _fill(root, store, bell, situation, monkeypatch)
    before = _snapshot(store)
    (script := root / "read_only_child.py").write_text(CHILD)
    env = dict(os.environ, QISKIT_AER_JOBS_DIR=str(store), HOME=str(root / "home"),
               QISKIT_AER_JOBS_KEY=str(root / "aer_jobs.key"),  # outside the store: readable
               QISKIT_SETTINGS=str(root / "settings.conf"))
    # the child imports the package this process tests, whichever checkout that is
    package_root = str(Path(qaj.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with _read_only(mechanism, store) as prefix:
        child = subprocess.run([*prefix, sys.executable, str(script), str(store),
                                json.dumps(list(expected))],
                               capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0 and child.stdout.strip(), (
        f"harness: the child failed (exit {child.returncode}):\n{child.stderr[-3000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["probe"] == WRITE_FAILS_WITH[mechanism], (
        f"harness: creating a file in the store should fail with {WRITE_FAILS_WITH[mechanism]}, "
        f"not {report['probe']}")
    assert _snapshot(store) == before, "the store's files changed although it is read-only"
    problems = _problems(report, expected)
    assert not problems, f"{len(problems)} problem(s) on a read-only store:\n- " + "\n- ".join(
        problems)


def test_the_read_only_error_is_exported():
    error = getattr(qaj, "JobStoreReadOnlyError", None)
    assert error is not None and "JobStoreReadOnlyError" in qaj.__all__, (
        "qiskit_aer_jobstore should export JobStoreReadOnlyError")
    assert issubclass(error, qaj.JobStoreError), "JobStoreReadOnlyError is not a JobStoreError"
