"""Portable copies: QPY circuits, JSON result with .npy arrays, read without unpickling."""

from __future__ import annotations

import io
import json
import math
import zipfile

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Instruction
from qiskit.quantum_info import Pauli

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import signing
from qiskit_aer_jobstore.archive import ArchiveReader, write_archive
from qiskit_aer_jobstore.portable import CIRCUITS, RESULT

from .conftest import ghz, rewrite_archive


def assert_same(live, stored, where="result"):
    """Equal in type and value, recursively (arrays: same dtype, shape and values)."""
    assert type(stored) is type(live), f"{where}: {type(stored)} != {type(live)}"
    if isinstance(live, np.ndarray):
        assert stored.dtype == live.dtype and np.array_equal(stored, live), where
    elif isinstance(live, dict):
        assert list(stored) == list(live), where
        for key in live:
            assert_same(live[key], stored[key], f"{where}[{key!r}]")
    elif isinstance(live, (list, tuple)):
        assert len(stored) == len(live), where
        for i, (a, b) in enumerate(zip(live, stored)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert stored == live, where


def _bell(save) -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    save(qc)
    return qc


ZZ = Pauli("ZZ")
CASES = {
    "counts_memory": ("automatic", lambda qc: qc.measure_all(), {"memory": True}),
    "statevector": ("statevector", lambda qc: qc.save_statevector(), {}),
    "statevector_dict": ("statevector", lambda qc: qc.save_statevector_dict(), {}),
    "density_matrix": ("density_matrix", lambda qc: qc.save_density_matrix(), {}),
    "unitary": ("unitary", lambda qc: qc.save_unitary(), {}),
    "superop": ("superop", lambda qc: qc.save_superop(), {}),
    "probabilities": ("statevector", lambda qc: qc.save_probabilities(), {}),
    "probabilities_dict": ("statevector", lambda qc: qc.save_probabilities_dict(), {}),
    "amplitudes": ("statevector", lambda qc: qc.save_amplitudes([0, 3]), {}),
    "expectation_value": ("statevector", lambda qc: qc.save_expectation_value(ZZ, [0, 1]), {}),
    "expval_variance": (
        "density_matrix",
        lambda qc: qc.save_expectation_value_variance(ZZ, [0, 1]),
        {},
    ),
    "stabilizer": ("stabilizer", lambda qc: qc.save_stabilizer(), {}),
    "clifford": ("stabilizer", lambda qc: qc.save_clifford(), {}),
    "matrix_product_state": (
        "matrix_product_state",
        lambda qc: qc.save_matrix_product_state(),
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_untrusted_read_gives_the_same_data(backend, case):
    method, save, options = CASES[case]
    job = backend.run(_bell(save), method=method, shots=64, seed_simulator=11, **options)
    live = job.result()
    stored = backend.retrieve_job(job.job_id(), trusted=False)
    result = stored.result()
    assert stored.trusted is False
    assert_same(live.data(0), result.data(0), case)
    if "counts" in live.data(0):
        assert result.get_counts() == live.get_counts()
        assert result.get_memory() == live.get_memory()
    assert result.results[0].header == live.results[0].header
    assert result.results[0].metadata == live.results[0].metadata
    for name in ("meas_level", "meas_return"):  # the same enums, not just equal values
        value = getattr(live.results[0], name, None)
        assert type(getattr(result.results[0], name, None)) is type(value)
    assert result.backend_name == live.backend_name and result.job_id == live.job_id


def _array_by_hand(zf: zipfile.ZipFile, reference: dict) -> np.ndarray:
    """An array of ``result.json`` read as docs/FORMAT.md says, with NumPy alone."""
    member = np.load(io.BytesIO(zf.read(reference["__ndarray__"])), allow_pickle=False)
    if "at" not in reference:
        return member
    dtype = np.dtype(reference["dtype"])
    at, size = reference["at"], math.prod(reference["shape"]) * dtype.itemsize
    raw = member[at : at + size]
    return raw.view(dtype).reshape(reference["shape"], order=reference.get("order", "C"))


@pytest.mark.parametrize("qubits", [2, 13])  # packed, and a member of its own (128 KiB)
def test_arrays_are_npy_members_loadable_without_pickle(backend, qubits):
    qc = QuantumCircuit(qubits)
    qc.h(0)
    qc.cx(0, 1)
    qc.save_statevector()
    job = backend.run(qc, shots=1)
    job.result()
    path = backend.retrieve_job(job.job_id()).archive_path
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        document = json.loads(zf.read(RESULT))
        statevector = document["result"]["dict"]["results"][0]["data"]["statevector"]
        array = _array_by_hand(zf, statevector["data"])
    assert CIRCUITS in names
    assert statevector["__type__"] == "aer.Statevector"
    assert ("at" in statevector["data"]) is (qubits == 2)
    assert array.dtype == np.complex128
    np.testing.assert_array_equal(array, job.result().get_statevector().data)
    manifest = backend.retrieve_job(job.job_id()).manifest
    assert set(manifest["members"]) == names - {"manifest.json", "signature.json"}
    assert manifest["portable"]["circuits"] == CIRCUITS


def test_untrusted_read_never_unpickles(backend, monkeypatch):
    job = backend.run(ghz(3), shots=10, job_tags=["t"])
    counts = job.result().get_counts()

    def refuse(*_a, **_k):
        raise AssertionError("unpickled")

    monkeypatch.setattr(ArchiveReader, "payload", refuse)
    stored = backend.retrieve_job(job.job_id(), trusted=False)
    assert stored.result().get_counts() == counts
    circuit = stored.circuits()[0]
    assert circuit.name == "ghz3" and circuit.count_ops()["cx"] == 2
    assert stored.run_options()["shots"] == 10


def test_job_signed_with_another_key_is_read_from_portable_copies(
    backend, job_store_env, monkeypatch
):
    job = backend.run(ghz(2), shots=20, seed_simulator=5)
    counts = job.result().get_counts()
    qaj.JobStore.default().flush()
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(job_store_env / "other.key"))
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert stored.result().get_counts() == counts
    assert stored.trusted is False
    with pytest.raises(qaj.JobStoreIntegrityError, match="another key"):
        qaj.JobStore.default().load(job.job_id())


class Point:
    """Custom metadata: pickle keeps it, the portable copy keeps its repr."""

    def __repr__(self):
        return "Point(1, 2)"


def test_custom_metadata_comes_back_as_repr(backend):
    qc = ghz(2)
    qc.metadata = {"where": Point(), "n": 3, "pair": (1, 2), 7: "int key"}
    job = backend.run(qc, shots=5)
    job.result()
    stored = backend.retrieve_job(job.job_id(), trusted=False)
    metadata = stored.result().results[0].header["metadata"]
    assert metadata == {"where": "Point(1, 2)", "n": 3, "pair": (1, 2), 7: "int key"}
    assert stored.manifest["portable"]["unsupported_types"] == [f"{__name__}.Point"]


class Opaque:
    """A parameter QPY cannot serialise (module level, so pickle can)."""


def test_circuits_qpy_cannot_hold_are_recorded_and_the_save_goes_on(store):
    qc = QuantumCircuit(1, name="odd")
    qc.append(Instruction("odd", 1, 0, [Opaque()]), [0])
    store.save(qaj.JobRecord(job_id="odd-1", backend_name="sim", circuits=[qc]))
    manifest = store.manifest("odd-1")
    assert manifest["portable"]["circuits"] is None
    assert "QpyError" in manifest["portable"]["circuits_error"]
    assert CIRCUITS not in manifest["members"]
    assert store.get("odd-1").circuits()[0].name == "odd"  # the pickle still has them
    with pytest.raises(qaj.JobArchiveError, match="not saved as QPY"):
        store.get("odd-1", trusted=False).circuits()


def test_failed_job_keeps_its_error_untrusted(store):
    store.save(
        qaj.JobRecord(job_id="bad-1", backend_name="sim", status="ERROR", error="AerError: boom")
    )
    stored = store.get("bad-1", trusted=False)
    with pytest.raises(Exception, match="boom"):
        stored.result()
    assert stored._data()["error"] == "AerError: boom"


def test_altered_portable_member_is_refused(backend):
    job = backend.run(ghz(2), shots=5)
    job.result()
    path = backend.retrieve_job(job.job_id()).archive_path

    def change(items):
        items[RESULT] = items[RESULT].replace(b'"shots":5', b'"shots":6')

    rewrite_archive(path, change)
    with pytest.raises(qaj.JobStoreIntegrityError, match="checksum"):
        backend.retrieve_job(job.job_id(), trusted=False).result()


@pytest.mark.parametrize("trusted", [True, False])
def test_large_arrays_are_stored_once(backend, trusted):
    qc = ghz(13)
    qc.remove_final_measurements()
    qc.save_statevector()
    qc.save_probabilities()
    job = backend.run(qc, method="statevector")
    live = job.result()
    stored = backend.retrieve_job(job.job_id(), trusted=trusted)
    assert_same(live.data(0), stored.result().data(0))
    manifest = stored.manifest
    path = stored.archive_path
    with zipfile.ZipFile(path) as zf:  # the pickle refers to the two .npy members
        assert len(json.loads(zf.read("payload_buffers.json"))) == 2
    assert manifest["members"]["payload.pkl"]["size"] < 64 * 1024


def test_unsigned_archive_is_read_from_portable_copies_only(backend):
    job = backend.run(ghz(2), shots=8)
    counts = job.result().get_counts()
    path = backend.retrieve_job(job.job_id()).archive_path

    def change(items):
        del items["signature.json"]

    rewrite_archive(path, change)
    assert backend.retrieve_job(job.job_id()).result().get_counts() == counts
    with pytest.raises(qaj.JobStoreIntegrityError, match="unsigned"):
        qaj.JobStore.default().load(job.job_id())


@pytest.mark.parametrize(
    "document",
    [
        b"[1, 2]",
        b"not json",
        b'{"result": {"__type__": "os.system", "cmd": "touch x"}}',
        b'{"result": {"__ndarray__": "../../etc/passwd"}}',
        b'{"result": {"__ndarray__": "arrays/9.npy"}}',
        b'{"result": {"__scalar__": {"a": 1}, "value": 1}}',
        b'{"result": {"__complex__": "xy"}}',
        b'{"result": {"__type__": "Result", "dict": {"results": 5}}}',
        b'{"result": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    ],
    ids=range(9),
)
def test_malformed_portable_result_is_a_clear_error(store, tmp_path, document):
    other = tmp_path / "other.key"
    record = qaj.JobRecord(job_id="evil-1", backend_name="sim")
    members = record.members()
    members[RESULT] = document
    path = tmp_path / "evil.zip"
    with open(path, "wb") as out:
        write_archive(out, record.manifest(), members, signing.load_key(other))
    job = store.import_archive(path)
    with pytest.raises(qaj.JobArchiveError, match="evil-1.zip"):
        job.result()


def test_altered_shared_array_is_refused_when_trusted(backend):
    qc = ghz(13)
    qc.remove_final_measurements()
    qc.save_statevector()
    job = backend.run(qc, method="statevector")
    job.result()
    path = backend.retrieve_job(job.job_id()).archive_path

    def change(items):
        name = json.loads(items["payload_buffers.json"])[0]
        items[name] = items[name][:-1] + bytes([items[name][-1] ^ 1])

    rewrite_archive(path, change)
    with pytest.raises(qaj.JobStoreIntegrityError, match="checksum"):
        backend.retrieve_job(job.job_id()).result()


def test_an_untrusted_result_is_read_without_parsing_qpy(backend, monkeypatch):
    """QPY is the most exposed decoder of an untrusted archive (a crafted length can make
    Qiskit's reader abort the process): result() never runs it, circuits() does, once."""
    from qiskit import qpy

    job = backend.run(ghz(3), shots=10, seed_simulator=2)
    counts = job.result().get_counts()
    loads = []
    real = qpy.load
    monkeypatch.setattr(qpy, "load", lambda *a, **k: (loads.append(1), real(*a, **k))[1])
    stored = backend.retrieve_job(job.job_id(), trusted=False)
    assert stored.result().get_counts() == counts and stored.run_options()["shots"] == 10
    assert not stored.trusted and loads == []
    assert stored.circuits()[0].count_ops()["cx"] == 2 and len(loads) == 1
    assert stored.circuits()[0].name == "ghz3" and len(loads) == 1
