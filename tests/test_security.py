"""Nothing unverified is unpickled; ids cannot name paths; files are private whatever the umask."""

from __future__ import annotations

import hmac
import io
import json
import os
import stat
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import signing
from qiskit_aer_jobstore.archive import MANIFEST, PAYLOAD, SIGNATURE, write_archive
from qiskit_aer_jobstore.portable import RESULT

from . import forge
from .conftest import ghz


def _other_key(data_key: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data_key)


def _unsigned(items):
    return {n: d for n, d in items.items() if n != SIGNATURE}


def _flip_manifest(items):
    return {**items, MANIFEST: items[MANIFEST].replace(b"aer_simulator", b"aer_simulatoR")}


def _flip_payload(items):
    data = items[PAYLOAD]
    return {**items, PAYLOAD: data[:-3] + bytes([data[-3] ^ 1]) + data[-2:]}


def _non_ascii_mac(items):
    sig = json.loads(items[SIGNATURE])
    return {**items, SIGNATURE: json.dumps({**sig, "mac": "é" * 64}).encode()}


TAMPERING = {
    "other key": (True, lambda items: items, "another key"),
    "unsigned": (False, _unsigned, "unsigned"),
    "manifest byte": (False, _flip_manifest, "altered"),
    "payload byte": (False, _flip_payload, "checksum"),
    "non-ascii mac": (False, _non_ascii_mac, "altered"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_planted_pickle_never_runs(store, backend, tmp_path, case):
    other, tamper, reason = TAMPERING[case]
    marker = tmp_path / "pwned"
    key = _other_key(store.key) if other else store.key
    data = forge.archive(key, payload=forge.CreatesFile(marker))
    path = forge.plant(store.path, forge.rezip(tamper(forge.members(data))))

    listed = [j.job_id() for j in backend.local_jobs()]  # manifests are plain JSON: listed
    assert listed == ["planted-1"]
    with pytest.raises(qaj.JobStoreIntegrityError, match=reason) as err:
        backend.retrieve_job("planted-1").result()
    assert path.name in str(err.value)
    with pytest.raises(qaj.JobStoreIntegrityError):
        store.load("planted-1")
    store.reindex()
    problems = dict(store.check())
    assert path.name in problems
    assert not marker.exists()


def test_a_signed_pickle_is_what_gets_loaded(store, tmp_path):
    """The control for the test above: the same pickle, signed with the store's key, runs."""
    marker = tmp_path / "pwned"
    forge.plant(store.path, forge.archive(store.key, payload={"x": forge.CreatesFile(marker)}))
    store.load("planted-1")
    assert marker.exists()


def test_macs_are_compared_in_constant_time(monkeypatch):
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", spy)
    key = b"k" * 32
    assert signing.verify(key, b"data", signing.sign(key, b"data"))
    assert calls


BAD_IDS = [
    "../x",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "..",
    "a..b",
    "a*",
    "a?",
    "[ab]",
    "",
    " ",
    "x\n",
    "~root",
    "-x",
    "a" * 129,
    None,
    5,
    1.5,
    b"abc",
    Path("x"),
    ["x"],
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize(
    "call", ["retrieve_job", "delete_job", "get", "load", "delete", "manifest"]
)
def test_bad_job_ids_are_refused_before_the_disk(job_store_env, backend, bad, call):
    store = qaj.JobStore.default()
    target = backend if call in ("retrieve_job", "delete_job") else store
    with pytest.raises(qaj.InvalidJobIdError, match="job id"):
        getattr(target, call)(bad)
    assert not store.path.exists() and not store.key_path.exists()


def test_a_good_job_id_still_works(backend):
    job = backend.run(ghz(2))
    job.result()
    assert backend.retrieve_job(job.job_id()).job_id() == job.job_id()
    assert backend.delete_job(job.job_id()) is True


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_files_are_private_whatever_the_umask(store, backend, umask):
    old = os.umask(umask)
    try:
        job = backend.run(ghz(2))
        job.result()
        store.flush()
        stored = backend.retrieve_job(job.job_id())
    finally:
        os.umask(old)
    assert _mode(store.path) == 0o700
    assert _mode(stored.archive_path) == 0o600
    assert _mode(store.key_path) == 0o600
    files = [store.path / f"index.sqlite{s}" for s in ("", "-wal", "-shm")]
    assert files[0].exists()
    assert {f.name: _mode(f) for f in files if f.exists()} == {
        f.name: 0o600 for f in files if f.exists()
    }


def test_a_key_made_readable_mid_session_is_refused_at_once(store):
    key = store.key  # read and cached; a chmod changes neither the mtime nor the inode
    os.chmod(store.key_path, 0o644)
    with pytest.raises(qaj.JobStoreKeyError, match=f"chmod 600 {store.key_path}"):
        signing.load_key(store.key_path)
    os.chmod(store.key_path, 0o600)
    assert store.key == key


def test_a_key_rewritten_in_place_with_its_old_mtime_is_read_again(store):
    old = store.key
    info = store.key_path.stat()
    store.key_path.write_text(bytes(32).hex())  # same inode
    os.utime(store.key_path, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert store.key_path.stat().st_ino == info.st_ino
    assert store.key == bytes(32) != old


def test_a_key_readable_by_others_is_refused(store, backend):
    job = backend.run(ghz(2))
    job.result()
    store.flush()
    os.chmod(store.key_path, 0o644)
    signing._cache.clear()
    with pytest.raises(qaj.JobStoreKeyError, match=f"chmod 600 {store.key_path}"):
        backend.retrieve_job(job.job_id()).result()
    with pytest.warns(qaj.JobStoreWarning, match="chmod 600"):
        live = backend.run(ghz(2))
        assert live.result().success
        store.flush()


@pytest.mark.parametrize(
    "named", ["qiskit_aer_jobstore.backends.disable", "x.execute", "enable", "JobStoreMixin", 7]
)
def test_a_manifest_never_picks_what_gets_called(store, named):
    """``backend_class`` is read from a manifest without trust: only the four store-enabled
    simulator classes may come of it, never another attribute of the module to call."""
    qaj.enable()
    try:
        store.save(qaj.JobRecord(job_id="named", backend_name="aer_simulator", circuits=[ghz(2)],
                                 backend_class=named))
        job = store.get("named")
        assert type(job.backend()) is qaj.AerSimulator
        assert type(job.rerun().backend()) is qaj.AerSimulator
        assert qaj.backends.enabled()  # disable() was not called
    finally:
        qaj.disable()
    store.save(qaj.JobRecord(job_id="sv", backend_name="statevector_simulator",
                             backend_class="qiskit_aer.StatevectorSimulator"))
    assert type(store.get("sv").backend()) is qaj.StatevectorSimulator


# -- zip bombs: an unverified manifest's sizes are not trusted -------------------------------
def _padded(key: bytes, pad: int, job_id: str = "bomb-1") -> bytes:
    """A well-formed archive whose members all match its manifest, its result.json padded
    with ``pad`` spaces (valid JSON) and every member deflated: a few KiB that inflate."""
    record = qaj.JobRecord(job_id=job_id, backend_name="aer_simulator")
    members = record.members()
    members[RESULT] += b" " * pad
    out = io.BytesIO()
    write_archive(out, record.manifest(), members, key)
    return forge.rezip(forge.members(out.getvalue()))


@pytest.fixture
def decompressed(monkeypatch) -> list[str]:
    """The names of the zip members opened for decompression during the test."""
    names: list[str] = []
    real = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        names.append(getattr(name, "filename", name))
        return real(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    return names


def _import(store, backend, path, trusted):
    return store.import_archive(path, trust=trusted)


def _retrieve(store, backend, path, trusted):
    os.replace(path, forge.plant(store.path, b"", "bomb-1"))
    return backend.retrieve_job("bomb-1", trusted=trusted).result()


BOMB_ROUTES = {  # (read through, signed with this store's key, trusted)
    "import untrusted": (_import, False, False),
    "import trusted": (_import, False, True),  # its sizes are unverified until re-signed
    "foreign retrieve_job": (_retrieve, False, True),
    "own retrieve_job(trusted=False)": (_retrieve, True, False),
}


@pytest.mark.parametrize("route", sorted(BOMB_ROUTES))
def test_an_unverified_archive_over_max_job_bytes_is_refused_before_decompressing(
    store, backend, tmp_path, monkeypatch, decompressed, route
):
    read, own, trusted = BOMB_ROUTES[route]
    path = tmp_path / "bomb-1.zip"
    data = _padded(store.key if own else _other_key(store.key), 2 * 1024**2)
    path.write_bytes(data)
    assert len(data) < 64 * 1024  # a small file declaring 2 MiB
    monkeypatch.setenv("QISKIT_AER_MAX_JOB_BYTES", "1MiB")
    decompressed.clear()  # building it read its members
    with pytest.raises(qaj.JobArchiveError, match="max_job_bytes") as err:
        read(store, backend, path, trusted)
    assert "bomb-1" in str(err.value) and "refused before decompressing" in str(err.value)
    assert set(decompressed) <= {MANIFEST, SIGNATURE}


def test_the_size_limit_is_max_job_bytes_and_spares_verified_archives(
    store, tmp_path, monkeypatch
):
    monkeypatch.setenv("QISKIT_AER_MAX_JOB_BYTES", "1MiB")
    forge.plant(store.path, _padded(store.key, 2 * 1024**2, "own-1"), "own-1")
    assert store.load("own-1")["job_id"] == "own-1"  # verified: its sizes are ours
    path = tmp_path / "bomb-1.zip"
    path.write_bytes(_padded(_other_key(store.key), 2 * 1024**2))
    monkeypatch.setenv("QISKIT_AER_MAX_JOB_BYTES", "4MiB")
    assert store.import_archive(path).job_id() == "bomb-1"


def test_an_untrusted_import_hashes_members_as_they_stream(store, tmp_path):
    path = tmp_path / "big-1.zip"
    path.write_bytes(_padded(_other_key(store.key), 32 * 1024**2, "big-1"))
    tracemalloc.start()
    try:
        store.import_archive(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024**2  # never the 32 MiB member whole


def test_decompression_stops_at_the_declared_size(store, tmp_path, monkeypatch):
    """A member holding more than its zip entry and the manifest declare: refused, and no
    more than the declared size is ever decompressed."""
    items = forge.members(_padded(_other_key(store.key), 1024**2))
    manifest = json.loads(items[MANIFEST])
    declared = manifest["members"][RESULT]["size"] = len(items[RESULT]) // 2
    items[MANIFEST] = json.dumps(manifest).encode()
    path = tmp_path / "bomb-1.zip"
    path.write_bytes(forge.declare_size(forge.rezip(items), RESULT, declared))
    got = []
    real = zipfile.ZipExtFile.read

    def spy(self, n=-1):
        data = real(self, n)
        if self.name == RESULT:
            got.append(len(data))
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy)
    with pytest.raises(qaj.JobArchiveError, match=f"{RESULT}.*cannot be read"):
        store.import_archive(path)
    assert sum(got) <= declared + 1  # zipfile stops at the entry's size, then fails its CRC


def _retrieve(backend, job_id, counts):
    stored = backend.retrieve_job(job_id)
    assert stored.result().get_counts() == counts and not stored.trusted


def _save(backend, job_id, counts):
    backend.run(ghz(2)).result()
    qaj.JobStore.default().flush()


@pytest.mark.parametrize("use", [_retrieve, _save], ids=["retrieve", "save"])
def test_a_missing_key_beside_jobs_of_another_key_warns_once(
    store, backend, tmp_path, monkeypatch, use
):
    job = backend.run(ghz(2))
    counts = job.result().get_counts()
    store.flush()
    missing = tmp_path / "mistyped.key"
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(missing))
    with pytest.warns(qaj.JobStoreWarning) as caught:
        use(backend, job.job_id(), counts)
    said = [str(w.message) for w in caught if issubclass(w.category, qaj.JobStoreWarning)]
    assert len(said) == 1
    assert str(missing) in said[0] and "1 of the 1 jobs" in said[0]
    assert "QISKIT_AER_JOBS_KEY" in said[0]
    assert missing.exists()  # made, as before
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once
        _retrieve(backend, job.job_id(), counts)


def test_a_missing_key_of_an_empty_store_is_made_silently(job_store_env, backend, tmp_path):
    key = tmp_path / "aer_jobs.key"
    assert not key.exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = backend.run(ghz(2))
        counts = job.result().get_counts()
        qaj.JobStore.default().flush()
        assert backend.retrieve_job(job.job_id()).result().get_counts() == counts
    assert key.exists()
