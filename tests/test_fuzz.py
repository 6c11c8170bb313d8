"""Fuzzing: random and mutated archives and manifests fed to the reader and the reindexer,
and real archives with mutated portable copies fed to the untrusted loader.

Whatever the bytes, only ``JobStoreError`` subclasses may come out: never a zipfile, pickle,
json, sqlite, numpy, QPY or OSError traceback, and never a hang.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.providers import JobError

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import MANIFEST, SIGNATURE, ArchiveReader
from qiskit_aer_jobstore.portable import CIRCUITS, RESULT
from qiskit_aer_jobstore.portable_json import _TYPES

from . import forge
from .conftest import ghz

KEY = b"fuzz-key-" + bytes(range(23))
VALID = forge.archive(KEY)
ITEMS = forge.members(VALID)
FUZZ = settings(
    max_examples=200,
    deadline=dt.timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# lone surrogates included: JSON can spell them ("\\ud800") but SQLite cannot store them
texts = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
manifest_fields = st.sampled_from(
    sorted(forge.manifest()) + ["schema_version", "members", "job_name", "end_date", "num_qubits"]
)


@st.composite
def mutated(draw, data: bytes = VALID) -> bytes:
    """``data`` with a few bytes flipped, a slice cut out or bytes inserted, or truncated."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[pos] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del out[pos : pos + draw(st.integers(1, 64))]
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        else:
            del out[pos:]
    return bytes(out)


@st.composite
def signed_manifests(draw) -> bytes:
    """A correctly signed archive whose manifest fields were replaced by arbitrary JSON."""
    manifest = json.loads(ITEMS[MANIFEST])
    for field in draw(st.lists(manifest_fields, min_size=1, max_size=4)):
        if draw(st.booleans()):
            manifest[field] = draw(json_values)
        else:
            manifest.pop(field, None)
    if draw(st.booleans()):
        manifest = draw(json_values)
    return forge.rezip(forge.resign(ITEMS, KEY, json.dumps(manifest).encode()))


deep_json = st.integers(1, 4000).map(lambda n: b"[" * n + b"]" * n)


@st.composite
def signatures(draw) -> bytes:
    """A valid archive with signature.json replaced by arbitrary or deeply nested JSON."""
    sig = json.loads(ITEMS[SIGNATURE])
    choice = draw(st.sampled_from(["mac", "key_id", "whole", "deep"]))
    if choice == "deep":
        raw = draw(deep_json)
    else:
        raw = json.dumps(
            draw(json_values) if choice == "whole" else {**sig, choice: draw(texts | json_values)}
        )
    return forge.rezip({**ITEMS, SIGNATURE: raw.encode() if isinstance(raw, str) else raw})


archives = st.one_of(
    st.binary(max_size=2048),
    mutated(),
    signed_manifests(),
    signatures(),
    deep_json.map(lambda raw: forge.rezip(forge.resign(ITEMS, KEY, raw))),
)


def _read(data: bytes) -> None:
    try:
        with ArchiveReader(io.BytesIO(data), "fuzz.zip") as reader:
            reader.manifest()
            reader.is_signed_by(KEY)
            reader.payload(KEY)
    except qaj.JobStoreError:
        pass


@FUZZ
@given(archives)
def test_reader_raises_only_job_store_errors(data):
    _read(data)


@FUZZ
@given(mutated(ITEMS[MANIFEST]))
def test_manifest_bytes_raise_only_job_store_errors(raw):
    _read(forge.rezip(forge.resign(ITEMS, KEY, raw)))


@pytest.fixture
def fuzz_store(job_store_env):
    key_path = job_store_env / "fuzz.key"
    key_path.write_text(KEY.hex())
    key_path.chmod(0o600)
    store = qaj.JobStore(job_store_env / "fuzz_store", key_path)
    healthy = forge.plant(store.path, forge.archive(KEY, job_id="healthy-1"), "healthy-1")
    return store, healthy


@FUZZ
@given(data=archives)
def test_reindexer_raises_only_job_store_errors(fuzz_store, data):
    store, healthy = fuzz_store
    forge.plant(store.path, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qaj.JobStoreWarning)
        problems = store.reindex()
        ids = [job.job_id() for job in store.list(limit=None)]
        store.check()
    assert "healthy-1" in ids
    assert healthy.name not in dict(problems)
    for job_id in ids:
        try:
            store.load(job_id)
        except qaj.JobStoreError:
            pass


# -- the untrusted loader: real archives, their portable copies mutated, signed by no one here --
PORTABLE_FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def foreign(job_store_env, monkeypatch):
    """A real archive with portable copies (QPY circuits, result.json with a small statevector
    in ``arrays/packed.npy`` and a 64 KiB one in ``arrays/0.npy``), saved by the store-enabled
    AerSimulator; then the default store becomes another one, with another key, to which the
    archive is foreign."""
    backend = qaj.AerSimulator()
    sv = QuantumCircuit(2, name="sv")
    sv.h(0)
    sv.cx(0, 1)
    sv.save_statevector()
    sv.measure_all()
    big = QuantumCircuit(12, name="big")
    big.h(0)
    big.save_statevector()
    job = backend.run([sv, ghz(3), big], shots=16, seed_simulator=3, memory=True)
    job.result()
    source = qaj.JobStore.default()
    source.flush()
    data = source.blobs.get(source.index.get(job.job_id())["archive"])
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(job_store_env / "reader"))
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(job_store_env / "reader.key"))
    monkeypatch.setenv("QISKIT_AER_JOBS_DURABILITY", "normal")  # many examples: no fsync
    items = forge.members(data)
    assert {CIRCUITS, RESULT, "arrays/0.npy", "arrays/packed.npy"} <= set(items)
    return items, backend, job_store_env / "incoming.zip"


tagged = st.one_of(
    st.fixed_dictionaries({"__ndarray__": st.sampled_from(["arrays/0.npy", "arrays/9.npy"])
                           | json_values}),
    st.fixed_dictionaries(
        {"__ndarray__": st.sampled_from(["arrays/packed.npy", "arrays/0.npy"]) | json_values,
         "at": st.integers(-2, 2**70) | json_values,
         "dtype": st.sampled_from(["<c16", ">f8", "|b1", "O", "<U0", "|V0", "V99999999999",
                                   "(2,)f8", "i4,f8", "M8[s]"]) | json_values,
         "shape": st.lists(st.integers(-1, 2**40) | st.sampled_from([0, 1, 2, 4]), max_size=4)
         | json_values},
        optional={"order": st.sampled_from(["C", "F", "K"]) | json_values},
    ),
    st.fixed_dictionaries({"__scalar__": st.sampled_from(["<f8", "<c16", "|b1", "O", "<U3"])
                           | json_values, "value": json_values}),
    st.fixed_dictionaries({"__complex__": json_values}),
    st.fixed_dictionaries({"__tuple__": json_values}),
    st.fixed_dictionaries({"__dict__": json_values}),
    st.fixed_dictionaries({"__objarray__": json_values}),
    st.builds(lambda tag, rest: {**rest, "__type__": tag}, st.sampled_from(sorted(_TYPES)),
              st.dictionaries(st.sampled_from(["dict", "data", "dims", "input_dims", "results",
                                               "num_bits", "array", "fields", "metadata"]),
                              json_values, max_size=3)),
)


def _paths(value, path=()):
    """Every place in a JSON document (a list of keys and indexes from the root)."""
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*path, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, (*path, i))


@st.composite
def replaced_json(draw, raw: bytes) -> bytes:
    """``raw`` (JSON) with a few subtrees replaced by arbitrary or tagged values."""
    document = json.loads(raw)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(_paths(document))))
        value = draw(tagged | json_values)
        if not path:
            document = value
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value
    return json.dumps(document).encode()


npy_headers = st.builds(
    lambda descr, fortran, shape: repr(
        {"descr": descr, "fortran_order": fortran, "shape": shape}
    ).encode(),
    st.sampled_from(["<c16", "<f8", ">f8", "|b1", "|u1", "<U0", "|V0", "|S0", "O", "<M8[s]"])
    | texts,
    st.booleans(),
    st.lists(st.integers(-1, 2**40) | st.sampled_from([0, 1, 2, 4]), max_size=3).map(tuple),
)


def _npy(header: bytes, body: bytes) -> bytes:
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body


@st.composite
def portable_mutations(draw, items: dict[str, bytes]) -> bytes:
    """``items`` with portable members and the manifest mutated (bytes, JSON subtrees or
    ``.npy`` headers), the manifest's checksums usually brought in line (so the mutations
    reach the decoders), nothing signed again; sometimes the zip itself is truncated."""
    original, items = items, dict(items)
    portable = sorted(n for n in items if n in (CIRCUITS, RESULT) or n.startswith("arrays/"))
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(portable))
        kind = draw(st.sampled_from(["bytes", "bytes", "json", "npy", "drop"]))
        if kind == "drop":
            items.pop(name, None)
        elif name not in items:
            continue
        elif name == CIRCUITS:
            # cut or replaced, not flipped: Qiskit's QPY reader (Rust) aborts the whole process
            # on some corrupted length fields (allocation failure), which no test can survive;
            # see SECURITY.md, "What it does not protect"
            data = items[name]
            items[name] = draw(st.integers(0, len(data)).map(lambda n, d=data: d[:n])
                               | st.binary(max_size=64))
        elif kind == "json" and name == RESULT:
            items[name] = draw(replaced_json(original[name]))
        elif kind == "npy" and name.startswith("arrays/"):
            items[name] = _npy(draw(npy_headers), draw(st.binary(max_size=64)))
        else:
            items[name] = draw(mutated(items[name]))
    manifest = json.loads(items[MANIFEST])
    if draw(st.integers(0, 9)):  # checksums match: the mutations get past them
        manifest["members"] = {
            name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in items.items()
            if name not in (MANIFEST, SIGNATURE)
        }
    if draw(st.integers(0, 3)) == 0:
        field = draw(manifest_fields | st.sampled_from(["portable", "pid", "host", "status"]))
        manifest[field] = draw(json_values)
    raw = json.dumps(manifest).encode()
    items[MANIFEST] = draw(mutated(raw)) if draw(st.integers(0, 9)) == 0 else raw
    data = forge.rezip(items)
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _read_untrusted(backend, job_id: str) -> None:
    """Everything the job offers, read without trust. ``JobError`` is how ``StoredAerJob``
    reports what its manifest says (failed, cancelled, still running, no payload stored):
    the documented answer, not a failure of the loader."""
    for trusted in (False, True):  # foreign: read from its portable copies either way
        try:
            job = backend.retrieve_job(job_id, trusted=trusted)
        except qaj.JobStoreError:
            continue
        for read in (
            lambda j: j.result(timeout=0),
            lambda j: j.circuits(),
            lambda j: j.parameter_binds(),
            lambda j: j.run_options(),
            lambda j: j.backend_options(),
            lambda j: j.trusted,
        ):
            try:
                read(job)
            except (qaj.JobStoreError, JobError):
                pass


@PORTABLE_FUZZ
@given(data=st.data())
def test_untrusted_loader_raises_only_job_store_errors(foreign, data):
    items, backend, path = foreign
    path.write_bytes(data.draw(portable_mutations(items)))
    store = qaj.JobStore.default()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", qaj.JobStoreWarning)
        if data.draw(st.booleans()):
            try:
                job_id = store.import_archive(path).job_id()
            except qaj.JobStoreError:
                return
            try:
                _read_untrusted(backend, job_id)
                store.check()
            finally:
                store.delete(job_id)
        else:  # planted in the folder: read even if a member it does not need is broken
            planted = forge.plant(store.path, path.read_bytes(), "planted-1")
            try:
                for job in store.list(limit=None):
                    _read_untrusted(backend, job.job_id())
                store.check()
            finally:
                planted.unlink()
                store.reindex()
    assert store.list(limit=None) == []
