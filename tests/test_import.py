"""Sharing jobs: export from one store, import into another with its own key."""

from __future__ import annotations

import zipfile

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import ArchiveReader, parse_manifest, write_archive
from qiskit_aer_jobstore.portable import RESULT
from qiskit_aer_jobstore.record import JobRecord

from .conftest import ghz, rewrite_archive


@pytest.fixture
def theirs(tmp_path) -> qaj.JobStore:
    """A colleague's store, with their own key."""
    return qaj.JobStore(tmp_path / "colleague" / "jobs", tmp_path / "colleague" / "key")


@pytest.fixture
def outbox(tmp_path):
    (tmp_path / "outbox").mkdir()
    return tmp_path / "outbox"


@pytest.fixture
def shared(backend, store, outbox):
    """A job run in our store and exported to a folder."""
    job = backend.run(ghz(3), shots=40, seed_simulator=9, job_tags=["shared"])
    counts = job.result().get_counts()
    path = store.export_archive(job.job_id(), outbox)
    return job.job_id(), counts, path


def test_export_writes_the_archive(outbox, shared, store):
    job_id, _, path = shared
    assert path.parent == outbox and path.name.endswith(f"_{job_id}.zip")
    assert path.read_bytes() == store.blobs.get(store.index.get(job_id)["archive"])
    assert path.stat().st_mode & 0o777 == 0o600


def test_untrusted_import_is_read_from_portable_copies(shared, theirs, monkeypatch):
    job_id, counts, path = shared
    imported = theirs.import_archive(path)
    assert imported.job_id() == job_id and imported.tags == ["shared"]
    assert [j.job_id() for j in theirs.list()] == [job_id]

    def refuse(*_a, **_k):
        raise AssertionError("unpickled an untrusted archive")

    monkeypatch.setattr(ArchiveReader, "payload", refuse)
    job = theirs.get(job_id)
    assert job.result().get_counts() == counts and job.trusted is False
    assert job.circuits()[0].name == "ghz3"


def test_trust_resigns_with_this_stores_key(shared, theirs):
    job_id, counts, path = shared
    theirs.import_archive(path)
    with pytest.raises(qaj.JobStoreIntegrityError, match="another key"):
        theirs.load(job_id)
    job = theirs.import_archive(theirs.get(job_id).archive_path, trust=True)
    assert job.trusted is True and job.result().get_counts() == counts
    assert theirs.load(job_id)["run_options"]["shots"] == 40
    with ArchiveReader(job.archive_path, "x") as reader:
        assert reader.is_signed_by(theirs.key)
    assert len(theirs.list()) == 1


def test_import_with_trust_in_one_step(shared, theirs):
    job_id, counts, path = shared
    assert theirs.import_archive(path, trust=True).trusted is True
    assert theirs.get(job_id).result().get_counts() == counts


def test_reimport_of_the_same_archive_is_a_no_op(shared, theirs):
    job_id, _, path = shared
    first = theirs.import_archive(path).archive_path
    assert theirs.import_archive(path).archive_path == first
    assert len(theirs.list()) == 1


def test_a_different_job_with_the_same_id_is_refused(shared, theirs, tmp_path):
    job_id, _, path = shared
    theirs.save(JobRecord(job_id=job_id, backend_name="their_sim", circuits=[ghz(2)]))
    with pytest.raises(qaj.JobStoreError, match="different job"):
        theirs.import_archive(path)
    assert theirs.get(job_id).backend_name == "their_sim"


@pytest.mark.parametrize(
    "content, error",
    [
        (b"", qaj.JobArchiveError),
        (b"not a zip at all", qaj.JobArchiveError),
    ],
)
def test_damaged_files_are_refused(theirs, tmp_path, content, error):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(content)
    with pytest.raises(error, match="bad.zip"):
        theirs.import_archive(bad)
    assert theirs.list() == []


def test_missing_file_and_folder_are_clear_errors(theirs, tmp_path):
    with pytest.raises(qaj.JobStoreError, match="No archive"):
        theirs.import_archive(tmp_path / "nope.zip")
    with pytest.raises(qaj.JobStoreError, match="folder"):
        theirs.import_archive(tmp_path)


def test_altered_member_is_refused(shared, theirs):
    _, _, path = shared

    def change(items):
        items[RESULT] = items[RESULT].replace(b'"shots":40', b'"shots":41')

    rewrite_archive(path, change)
    with pytest.raises(qaj.JobStoreIntegrityError, match="checksum"):
        theirs.import_archive(path, trust=True)
    assert theirs.list() == []


def test_archive_claiming_our_key_but_altered_is_refused(store, tmp_path):
    store.save(JobRecord(job_id="mine-1", backend_name="sim", circuits=[ghz(2)], job_name="a"))
    path = store.export_archive("mine-1", tmp_path / "mine.zip")
    store.delete("mine-1")

    def change(items):
        manifest = items["manifest.json"]
        items["manifest.json"] = manifest.replace(b'"job_name": "a"', b'"job_name": "b"')

    rewrite_archive(path, change)
    with pytest.raises(qaj.JobStoreIntegrityError, match="altered"):
        store.import_archive(path)


def test_untrusted_import_without_portable_copies_is_refused(store, theirs, tmp_path):
    store.save(JobRecord(job_id="old-1", backend_name="sim"))
    path = store.export_archive("old-1", tmp_path / "old.zip")
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    # an archive from before portable copies: payload only, signed by its author
    manifest = parse_manifest(items["manifest.json"], "x")
    with open(path, "wb") as out:
        write_archive(out, manifest, {"payload.pkl": items["payload.pkl"]}, store.key)
    with pytest.raises(qaj.JobStoreIntegrityError, match="no portable copies"):
        theirs.import_archive(path)
    assert theirs.import_archive(path, trust=True).trusted is True


def test_check_lists_an_untrusted_import_apart_from_problems(shared, theirs):
    job_id, _, path = shared
    theirs.import_archive(path)
    problems = theirs.check()
    assert problems == [] and problems.untrusted == [job_id]
    theirs.import_archive(theirs.get(job_id).archive_path, trust=True)
    assert theirs.check().untrusted == []


def _without_portable(store, theirs, path):
    """Theirs to read, signed with our key, from before portable copies."""
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    manifest = parse_manifest(items["manifest.json"], "x")
    with open(path, "wb") as out:
        write_archive(out, manifest, {"payload.pkl": items["payload.pkl"]}, store.key)


def _altered_member(store, theirs, path):
    rewrite_archive(path, lambda items: items.update(
        {RESULT: items[RESULT].replace(b'"shots":40', b'"shots":41')}
    ))


def _claims_their_key(store, theirs, path):
    with ArchiveReader(path, "x") as reader:
        manifest = dict(reader.manifest())
        members = {name: reader.unverified_member(name) for name in manifest["members"]}
    with open(path, "wb") as out:
        write_archive(out, manifest, members, theirs.key)
    rewrite_archive(path, lambda items: items.update(
        {"manifest.json": items["manifest.json"].replace(b'"shared"', b'"shaRed"')}
    ))


@pytest.mark.parametrize(
    "damage, reason",
    [
        (_without_portable, "another key"),
        (_altered_member, "checksum"),
        (_claims_their_key, "altered"),
    ],
)
def test_check_still_reports_archives_only_a_signature_could_vouch_for(
    shared, store, theirs, damage, reason
):
    _, _, path = shared
    damage(store, theirs, path)
    theirs.blobs.ensure()
    planted = theirs.path / path.name
    planted.write_bytes(path.read_bytes())
    problems = theirs.check()
    assert list(dict(problems)) == [planted.name] and reason in dict(problems)[planted.name]
    assert problems.untrusted == []
