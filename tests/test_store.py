"""JobStore without a backend: save, load, list, filter, delete, tampering, the index as cache."""

from __future__ import annotations

import datetime as dt
import os
import stat
import zipfile

import pytest
from qiskit.providers import JobStatus

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import MANIFEST, PAYLOAD, SCHEMA_VERSION, SIGNATURE

from .conftest import ghz


def run_and_store(backend, n=2, **options):
    job = backend.run(ghz(n), **options)
    job.result()
    return job


def test_save_load_list_delete_without_backend(store):
    record = qaj.JobRecord(job_id="manual-1", backend_name="my_sim", circuits=[ghz(2)],
                           result=None, status="DONE", job_tags=["x"])
    store.save(record)
    assert [j.job_id() for j in store.list()] == ["manual-1"]
    assert store.load("manual-1")["circuits"][0].name == "ghz2"
    assert store.get("manual-1").tags == ["x"]
    assert store.delete("manual-1") is True
    assert store.delete("manual-1") is False
    assert store.list() == []


def test_archive_layout_and_manifest(backend, store):
    job = run_and_store(backend, shots=100, job_name="layout", job_tags=["b", "a"])
    stored = backend.retrieve_job(job.job_id())
    path = stored.archive_path
    name = os.path.basename(path)
    assert name.endswith(f"_{job.job_id()}.zip")
    dt.datetime.strptime(name.split("_")[0], "%Y%m%dT%H%M%S%fZ")
    with zipfile.ZipFile(path) as zf:
        assert set(zf.namelist()) == {MANIFEST, PAYLOAD, SIGNATURE, "circuits.qpy",
                                      "result.json"}
    manifest = stored.manifest
    assert manifest["schema_version"] == SCHEMA_VERSION == 2
    assert manifest["shots"] == 100 and manifest["job_name"] == "layout"
    assert manifest["job_tags"] == ["a", "b"]
    assert manifest["success"] is True and manifest["status"] == "DONE"
    assert set(manifest["versions"]) >= {"qiskit", "qiskit_aer", "numpy", "python"}
    assert manifest["members"][PAYLOAD]["size"] > 0
    assert stored.creation_date().tzinfo is not None
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(store.path).st_mode & 0o777 == 0o700


def _rewrite_member(path, member, transform):
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    items[member] = transform(items[member])
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data)


def test_tampered_payload_is_refused_before_unpickling(backend, tmp_path):
    job = run_and_store(backend)
    stored = backend.retrieve_job(job.job_id())
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    import pickle

    _rewrite_member(stored.archive_path, PAYLOAD, lambda _: pickle.dumps(Evil()))
    with pytest.raises(qaj.JobStoreIntegrityError, match=job.job_id()):
        backend.retrieve_job(job.job_id()).result()
    assert not marker.exists()


def test_one_flipped_byte_is_refused(backend):
    job = run_and_store(backend)
    path = backend.retrieve_job(job.job_id()).archive_path
    _rewrite_member(path, PAYLOAD, lambda b: b[:-5] + bytes([b[-5] ^ 1]) + b[-4:])
    with pytest.raises(qaj.JobStoreIntegrityError, match="checksum"):
        backend.retrieve_job(job.job_id()).result()


def test_other_key_is_refused(backend, job_store_env, monkeypatch):
    job = run_and_store(backend)
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(job_store_env / "other.key"))
    with pytest.raises(qaj.JobStoreIntegrityError, match="another key"):
        qaj.JobStore.default().load(job.job_id())  # the pickle; result() uses portable copies


def test_listing_never_opens_payloads(backend, store, monkeypatch):
    run_and_store(backend)
    import qiskit_aer_jobstore.archive as archive

    def boom(*_a, **_k):
        raise AssertionError("payload read while listing")

    monkeypatch.setattr(archive.ArchiveReader, "payload", boom)
    jobs = backend.jobs()
    assert len(jobs) == 1 and jobs[0].status() is JobStatus.DONE


def test_index_is_rebuilt_when_deleted_or_corrupt(backend, store):
    ids = {run_and_store(backend).job_id() for _ in range(3)}
    store.flush()
    store.index.close()
    (store.path / "index.sqlite").write_bytes(b"this is not sqlite" * 100)
    for suffix in ("-wal", "-shm"):
        p = store.path / f"index.sqlite{suffix}"
        if p.exists():
            p.unlink()
    fresh = qaj.JobStore(store.path, store.key_path)
    assert {j.job_id() for j in fresh.list(limit=None)} == ids


def test_archives_added_or_removed_by_hand_are_picked_up(backend, store, tmp_path):
    a = run_and_store(backend)
    b = run_and_store(backend)
    path_a = backend.retrieve_job(a.job_id()).archive_path
    assert len(backend.jobs()) == 2
    moved = tmp_path / os.path.basename(path_a)
    os.replace(path_a, moved)
    assert [j.job_id() for j in backend.jobs()] == [b.job_id()]
    os.replace(moved, path_a)
    assert {j.job_id() for j in backend.jobs()} == {a.job_id(), b.job_id()}


def test_basic_filters_and_paging(backend):
    first = run_and_store(backend, n=2, shots=10, job_tags=["x"], job_name="one")
    second = run_and_store(backend, n=3, shots=20, job_tags=["x", "y"])
    third = run_and_store(backend, n=4, shots=30, job_tags=["y"])
    ids = lambda jobs: [j.job_id() for j in jobs]  # noqa: E731
    assert ids(backend.jobs()) == [third.job_id(), second.job_id(), first.job_id()]
    assert ids(backend.jobs(descending=False, limit=1)) == [first.job_id()]
    assert ids(backend.jobs(skip=1, limit=1)) == [second.job_id()]
    assert ids(backend.jobs(job_tags=["x"])) == [second.job_id(), first.job_id()]
    assert ids(backend.jobs(job_tags=["x", "y"], job_tags_operator="AND")) == [second.job_id()]
    assert ids(backend.jobs(job_name="one")) == [first.job_id()]
    assert ids(backend.jobs(num_qubits=(3, None))) == [third.job_id(), second.job_id()]
    assert ids(backend.jobs(shots=20)) == [second.job_id()]
    assert ids(backend.jobs(circuit_name="ghz4")) == [third.job_id()]
    assert ids(backend.jobs(status="DONE", limit=None)) == ids(backend.jobs())
    assert backend.jobs(backend_name="other") == []
    created = backend.retrieve_job(second.job_id()).creation_date()
    assert ids(backend.jobs(created_after=created)) == [third.job_id(), second.job_id()]
    assert ids(backend.jobs(created_before=created)) == [second.job_id(), first.job_id()]


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a*", "", None, 5, "a/b", ".."])
def test_bad_job_ids_are_refused(backend, bad):
    with pytest.raises(qaj.InvalidJobIdError):
        backend.retrieve_job(bad)


def test_an_archive_that_lands_during_a_save_is_found(store, tmp_path, monkeypatch):
    """An archive renamed into the folder (by hand, or by a writer killed before its index
    row) in the same instant as another save is seen by a later listing, not only after
    reindex(): the save marks the folder in sync, so listings re-diff it now and then."""
    from qiskit_aer_jobstore import core as store_module

    store.save(qaj.JobRecord(job_id="first", backend_name="aer_simulator"))
    assert len(store.list()) == 1  # the folder was just diffed against the index
    other = qaj.JobStore(tmp_path / "other", store.key_path)
    other.save(qaj.JobRecord(job_id="landed", backend_name="aer_simulator"))
    landed = other.get("landed").archive_path
    put = store.blobs.put

    def put_after_another(name, write):
        if "during" in name:  # the other archive lands just before ours
            os.replace(landed, store.path / os.path.basename(landed))
        return put(name, write)

    monkeypatch.setattr(store.blobs, "put", put_after_another)
    store.save(qaj.JobRecord(job_id="during", backend_name="aer_simulator"))
    monkeypatch.setattr(store.blobs, "put", put)
    assert len(list(store.path.glob("*.zip"))) == 3
    fresh = qaj.JobStore(store.path, store.key_path)
    assert {j.job_id() for j in fresh.list(limit=None)} == {"first", "during"}  # not yet
    monkeypatch.setattr(store_module, "RESYNC_AFTER_S", 0.0)
    assert {j.job_id() for j in fresh.list(limit=None)} == {"first", "during", "landed"}
    assert fresh.get("landed").status().name == "DONE"


def test_the_writer_runs_at_a_lower_priority_than_the_simulations(store):
    """Saving is background work: on Linux the writer thread is niced, so on a busy machine
    the simulator's threads get the cores first (benchmarks/run.py, (a))."""
    import sys

    from qiskit_aer_jobstore.writer import WRITER, WRITER_NICE

    store.save_later(qaj.JobRecord(job_id="nice", backend_name="aer_simulator"))
    store.flush()
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    writer = os.getpriority(os.PRIO_PROCESS, WRITER._thread.native_id)
    assert writer == (min(19, mine + WRITER_NICE) if sys.platform.startswith("linux") else mine)
    assert os.getpriority(os.PRIO_PROCESS, 0) == mine  # the caller's own priority is untouched


def test_where_the_store_lives(job_store_env, backend, bell, monkeypatch):
    """Default ~/.qiskit/aer_jobs (0700) and its key beside it; jobs_dir / jobs_key in [aer] of
    settings.conf; the environment variables over both."""
    monkeypatch.delenv("QISKIT_AER_JOBS_DIR")
    monkeypatch.delenv("QISKIT_AER_JOBS_KEY")
    home = job_store_env / "home"
    backend.run(bell).result()
    qaj.JobStore.default().flush()
    default = home / ".qiskit" / "aer_jobs"
    assert len(list(default.glob("*.zip"))) == 1 and (home / ".qiskit" / "aer_jobs.key").exists()
    assert stat.S_IMODE(default.stat().st_mode) == 0o700
    conf_dir = job_store_env / "from-conf"
    (job_store_env / "settings.conf").write_text(
        f"[aer]\njobs_dir = {conf_dir}\njobs_key = {job_store_env / 'conf.key'}\n"
    )
    backend.run(bell).result()
    qaj.JobStore.default().flush()
    assert len(list(conf_dir.glob("*.zip"))) == 1 and (job_store_env / "conf.key").exists()
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(job_store_env / "from-env"))
    backend.run(bell).result()
    qaj.JobStore.default().flush()
    assert len(list((job_store_env / "from-env").glob("*.zip"))) == 1
    assert len(list(conf_dir.glob("*.zip"))) == 1


@pytest.mark.parametrize(("durability", "synced"), [("full", True), ("normal", False)])
def test_durability_decides_whether_archives_are_fsynced(store, monkeypatch, durability, synced):
    monkeypatch.setenv("QISKIT_AER_JOBS_DURABILITY", durability)
    store = qaj.JobStore(store.path, store.key_path)  # read when a store is opened
    store.save(qaj.JobRecord(job_id="warm", backend_name="aer_simulator"))  # index, folder
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    store.save(qaj.JobRecord(job_id="counted", backend_name="aer_simulator"))
    assert bool(calls) is synced
    assert store.get("counted").status().name == "DONE"
