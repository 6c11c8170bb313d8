"""Fuzzing: random and mutated archives and manifests fed to the reader and the reindexer.

Whatever the bytes, only ``JobStoreError`` subclasses may come out: never a zipfile, pickle,
json, sqlite or OSError traceback, and never a hang (each example has a deadline).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import MANIFEST, SIGNATURE, ArchiveReader

from . import forge

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
