"""The store in trouble: the live result is never lost, a warning says why the job was not
saved, no partial archive is left, and the jobs already saved stay intact.

Tests run as root on CI machines, where permissions are not enforced, so "not writable" and
"disk full" are made by fault injection at the OS calls the store makes.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from contextlib import contextmanager

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import MANIFEST
from qiskit_aer_jobstore.index import sqlite as sqlite_index

from .conftest import ghz


class _FullDisk:
    """A file whose writes fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, handle, room):
        self._handle, self._room = handle, room

    def write(self, data):
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def _raise(code):
    def fail(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    return fail


def _temp_open_refused(real_open):
    def fake(path, flags, *args, **kwargs):
        if ".tmp-" in os.fspath(path):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    return fake


# fault -> (install it with monkeypatch, what the warning says)
FAULTS = {
    "folder not writable": (
        lambda mp: mp.setattr(os, "open", _temp_open_refused(os.open)),
        "Permission denied",
    ),
    "disk full while writing": (
        lambda mp: mp.setattr(
            os, "fdopen", lambda fd, *a, _real=os.fdopen, **k: _FullDisk(_real(fd, *a, **k), 500)
        ),
        "No space left on device",
    ),
    "disk full at fsync": (lambda mp: mp.setattr(os, "fsync", _raise(errno.ENOSPC)), "No space"),
    "disk full at rename": (lambda mp: mp.setattr(os, "replace", _raise(errno.ENOSPC)), "No space"),
}


@contextmanager
def _fault(install):
    with pytest.MonkeyPatch.context() as mp:
        install(mp)
        yield


def _saved_job(backend, store):
    job = backend.run(ghz(3), shots=64, seed_simulator=1)
    counts = job.result().get_counts()
    store.flush()
    return job.job_id(), counts, sorted(os.listdir(store.path))


def _assert_intact(backend, store, job_id, counts):
    assert [j.job_id() for j in backend.jobs()] == [job_id]
    assert backend.retrieve_job(job_id).result().get_counts() == counts
    assert not [n for n in os.listdir(store.path) if n.startswith(".tmp-")]


@pytest.mark.parametrize("case", sorted(FAULTS))
def test_faults_while_saving_lose_nothing(store, backend, case, monkeypatch):
    # the faults are patched into this process's file calls: save in this process
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER", "thread")
    install, says = FAULTS[case]
    job_id, counts, files = _saved_job(backend, store)
    with pytest.warns(qaj.JobStoreWarning, match=f"was not saved: .*{says}"):
        live = backend.run(ghz(2), shots=32)
        with _fault(install):
            assert sum(live.result().get_counts().values()) == 32
            store.flush()
    assert sorted(os.listdir(store.path)) == files  # no partial archive, nothing else new
    _assert_intact(backend, store, job_id, counts)


def test_a_file_in_place_of_the_store_folder(store, backend, tmp_path):
    job_id, counts, _ = _saved_job(backend, store)
    aside = tmp_path / "aside"
    os.replace(store.path, aside)
    store.path.write_text("not a folder")
    # the session keeps its open index: the folder check must still fail cleanly
    with pytest.warns(qaj.JobStoreWarning, match="not saved: .* is not a folder"):
        live = backend.run(ghz(2))
        assert live.result().success
        store.flush()
    with pytest.raises(qaj.JobStoreUnavailableError, match="not a folder"):
        backend.jobs()
    store.path.unlink()
    os.replace(aside, store.path)
    _assert_intact(backend, store, job_id, counts)


def test_the_folder_replaced_under_a_running_session(store, backend, tmp_path):
    job_id, _, _ = _saved_job(backend, store)
    os.replace(store.path, tmp_path / "aside")
    store.path.write_text("not a folder")
    for call in (
        backend.jobs,
        lambda: backend.retrieve_job(job_id).result(),
        lambda: backend.delete_job(job_id),
        store.reindex,
        store.check,
    ):
        with pytest.raises(qaj.JobStoreError, match=str(store.path)):
            call()
    store.path.unlink()
    os.replace(tmp_path / "aside", store.path)


def test_a_store_folder_that_cannot_be_created(job_store_env, monkeypatch, backend):
    blocker = job_store_env / "blocker"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(blocker / "aer_jobs"))
    with pytest.warns(qaj.JobStoreWarning, match="not saved: Cannot create the job store folder"):
        assert backend.run(ghz(2)).result().success
        qaj.JobStore.default().flush()


_LOCKER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def _index_locked(store):
    """The store's index held by a write transaction of another process."""
    locker = subprocess.Popen(
        [sys.executable, "-c", _LOCKER, str(store.path / "index.sqlite")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        yield
    finally:
        locker.communicate("")


def test_an_index_locked_by_another_process(store, backend, monkeypatch):
    monkeypatch.setattr(sqlite_index, "BUSY_TIMEOUT_S", 0.2)
    job_id, counts, _ = _saved_job(backend, store)
    with _index_locked(store):
        with pytest.warns(qaj.JobStoreWarning, match="not added to the index .*locked"):
            live = backend.run(ghz(2), shots=16)
            assert sum(live.result().get_counts().values()) == 16
            store.flush()
        with pytest.raises(qaj.JobStoreUnavailableError, match="locked"):
            backend.jobs()
    # the archive was complete and signed: once the index is free the job is listed
    assert {j.job_id() for j in backend.jobs()} == {job_id, live.job_id()}
    assert backend.retrieve_job(live.job_id()).result().get_counts() == live.result().get_counts()
    assert backend.retrieve_job(job_id).result().get_counts() == counts


def test_update_tags_with_the_index_locked_keeps_the_archive_and_warns(store, backend, monkeypatch):
    monkeypatch.setattr(sqlite_index, "BUSY_TIMEOUT_S", 0.2)
    job_id, counts, _ = _saved_job(backend, store)
    assert [j.job_id() for j in backend.jobs()] == [job_id]  # a store in use: index in sync
    stored = backend.retrieve_job(job_id)
    with _index_locked(store):
        with pytest.warns(qaj.JobStoreWarning, match="not added to the index .*locked"):
            assert stored.update_tags(["new"]) == ["new"]
        with pytest.warns(qaj.JobStoreWarning, match="not added to the index .*locked"):
            assert stored.update_name("renamed") == "renamed"
    with zipfile.ZipFile(stored.archive_path) as archive:  # the change is in the archive
        written = json.loads(archive.read(MANIFEST))
    assert (written["job_tags"], written["job_name"]) == (["new"], "renamed")
    # the rewritten, signed archive is the truth: once the index is free it is listed so
    assert [(j.job_id(), j.tags, j.name) for j in backend.jobs()] == [(job_id, ["new"], "renamed")]
    assert [j.job_id() for j in backend.jobs(job_tags=["new"])] == [job_id]
    assert backend.retrieve_job(job_id).result().get_counts() == counts
