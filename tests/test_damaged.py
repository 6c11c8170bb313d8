"""Damaged archives: one clear error for that job, the others listed, ``JobStore.check()``."""

from __future__ import annotations

import json
import os
import re
import time
import warnings
import zipfile

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import MANIFEST, PAYLOAD, SIGNATURE, ArchiveReader

from . import forge
from .conftest import ghz


def _valid(key):
    return forge.members(forge.archive(key))


def _with_manifest(key, **changes):
    items = _valid(key)
    manifest = json.loads(items[MANIFEST])
    manifest.update(changes)
    return forge.rezip(forge.resign(items, key, json.dumps(manifest).encode()))


# case -> (archive bytes for the store's key, what the error says)
DAMAGE = {
    "truncated": (lambda k: forge.archive(k)[:200], "not a readable job archive"),
    "zero bytes": (lambda k: b"", "not a readable job archive"),
    "not a zip": (lambda k: b"just some text\n" * 20, "not a readable job archive"),
    "missing member": (
        lambda k: forge.rezip({n: d for n, d in _valid(k).items() if n != PAYLOAD}),
        "incomplete",
    ),
    "extra member": (lambda k: forge.rezip({**_valid(k), "evil.pkl": b"x"}), "does not list"),
    "manifest not json": (
        lambda k: forge.rezip(forge.resign(_valid(k), k, b"{not json")),
        "not valid JSON",
    ),
    "manifest not an object": (
        lambda k: forge.rezip(forge.resign(_valid(k), k, b"[1, 2]")),
        "not a JSON object",
    ),
    "job_id not a string": (lambda k: _with_manifest(k, job_id=5), "job_id. is missing"),
    "members not a dict": (lambda k: _with_manifest(k, members=[PAYLOAD]), "members. is missing"),
    "schema_version a string": (lambda k: _with_manifest(k, schema_version="1"), "schema_ver"),
    "bad creation_date": (lambda k: _with_manifest(k, creation_date="yesterday"), "ISO 8601"),
    "newer schema_version": (lambda k: _with_manifest(k, schema_version=99), "Upgrade"),
    "dot-dot member": (lambda k: forge.rezip({**_valid(k), "../evil": b"x"}), "outside"),
    "absolute member": (lambda k: forge.rezip({**_valid(k), "/etc/evil": b"x"}), "outside"),
    "duplicate member": (lambda k: _duplicate(k), "twice"),
    "zip bomb manifest": (
        lambda k: forge.declare_size(forge.archive(k), MANIFEST, 2**32 - 2),
        "before decompressing",
    ),
}


def _duplicate(key):
    import io

    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        with zipfile.ZipFile(out, "w") as zf:
            for name, data in _valid(key).items():
                zf.writestr(name, data)
            zf.writestr(PAYLOAD, b"second")
    return out.getvalue()


def _store_warnings(record):
    return [str(w.message) for w in record if issubclass(w.category, qaj.JobStoreWarning)]


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_archive_gives_one_clear_error(store, backend, case):
    make, says = DAMAGE[case]
    healthy = backend.run(ghz(2))
    counts = healthy.result().get_counts()
    path = forge.plant(store.path, make(store.key))

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        listed = [j.job_id() for j in backend.local_jobs()]
        again = [j.job_id() for j in backend.local_jobs()]
    assert listed == again == [healthy.job_id()]
    reported = _store_warnings(record)
    assert len(reported) == 1 and path.name in reported[0] and re.search(says, reported[0])

    with pytest.raises(qaj.JobStoreError, match=says) as err:
        backend.retrieve_job("planted-1").result()
    assert path.name in str(err.value) and not isinstance(err.value, qaj.JobNotFoundError)
    assert [name for name, _ in store.reindex()] == [path.name]
    problems = dict(store.check())
    assert list(problems) == [path.name] and re.search(says, problems[path.name])
    assert backend.retrieve_job(healthy.job_id()).result().get_counts() == counts
    assert path.exists()  # reported, never deleted


def test_zip_bomb_is_refused_before_decompressing(store, monkeypatch):
    data = forge.declare_size(forge.archive(store.key), MANIFEST, 2**32 - 2)
    opened = []
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(
        zipfile.ZipFile,
        "open",
        lambda self, name, *a, **k: opened.append(name) or real_open(self, name, *a, **k),
    )
    import io

    with pytest.raises(qaj.JobArchiveError, match="declares 4294967294 bytes"):
        ArchiveReader(io.BytesIO(data), "bomb.zip").manifest()
    assert opened == []


def test_payload_bigger_than_signed_size_is_refused_unread(store):
    """A payload that inflates to 32 MiB while the signed manifest says 10 bytes."""
    items = _valid(store.key)
    manifest = json.loads(items[MANIFEST])
    manifest["members"][PAYLOAD]["size"] = 10
    items = forge.resign(items, store.key, json.dumps(manifest).encode())
    items[PAYLOAD] = bytes(32 * 1024**2)
    forge.plant(store.path, forge.rezip(items))
    with pytest.raises(qaj.JobArchiveError, match="over the limit of 10; refused before"):
        store.load("planted-1")


@pytest.mark.parametrize("damage", ["truncate", "zero", "folder"])
def test_archive_damaged_after_it_was_indexed(store, backend, damage):
    job = backend.run(ghz(2))
    job.result()
    path = backend.retrieve_job(job.job_id()).archive_path
    data = open(path, "rb").read()
    os.unlink(path)
    if damage == "folder":
        os.mkdir(path)
    else:
        open(path, "wb").write(data[: len(data) // 2] if damage == "truncate" else b"")
    os.utime(store.path, ns=(1, 1))  # the folder check does not see a same-name change
    with pytest.raises(qaj.JobArchiveError, match=os.path.basename(path)):
        backend.retrieve_job(job.job_id()).result()
    assert os.path.basename(path) in dict(store.check())


def test_check_on_a_healthy_store_is_empty(store, backend):
    for _ in range(2):
        backend.run(ghz(2)).result()
    assert store.check() == []


def test_check_reports_and_fixes_temp_files_and_missing_archives(store, backend):
    job = backend.run(ghz(2))
    job.result()
    keep = backend.run(ghz(3))
    keep.result()
    gone = backend.retrieve_job(job.job_id()).archive_path
    os.unlink(gone)
    dead = store.path / ".tmp-999999999-abcdef.part"  # no such pid
    dead.write_bytes(b"half an archive")
    old = store.path / f".tmp-{os.getpid()}-abcdef.part"
    old.write_bytes(b"half an archive")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    live = store.path / f".tmp-{os.getpid()}-012345.part"  # being written right now
    live.write_bytes(b"")

    problems = dict(store.check(fix=True))
    assert set(problems) == {dead.name, old.name, os.path.basename(gone)}
    assert "archive is missing" in problems[os.path.basename(gone)]
    assert "no longer running" in problems[dead.name] and "h old" in problems[old.name]
    assert not dead.exists() and not old.exists() and live.exists()
    assert store.check() == []
    assert [j.job_id() for j in backend.jobs()] == [keep.job_id()]


def test_a_renamed_archive_is_reported(store, backend):
    job = backend.run(ghz(2))
    job.result()
    path = backend.retrieve_job(job.job_id()).archive_path
    os.replace(path, path.replace(job.job_id(), "someone-else"))
    assert "renamed by hand" in " ".join(why for _, why in store.check())


@pytest.mark.parametrize("member", [MANIFEST, SIGNATURE])
def test_reindex_survives_any_damage(store, backend, member):
    job = backend.run(ghz(2))
    job.result()
    items = forge.members(forge.archive(store.key))
    items[member] = items[member][:7]
    damaged = forge.plant(store.path, forge.rezip(items))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        problems = dict(store.reindex())
    assert job.job_id() in [j.job_id() for j in store.list()]
    # reindex reads manifests only: a cut manifest is its problem, a cut signature check()'s
    reported = problems if member == MANIFEST else dict(store.check())
    assert damaged.name in reported
    assert damaged.exists()  # reported, never deleted
