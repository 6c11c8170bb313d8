"""A job with more arrays than an archive may hold members: saved, read back and shown.

Every array of a result once became a member of its own, and the reader refuses archives of
more than ``MAX_MEMBERS`` members (a defence against hostile zips): such a job was saved,
signed and listed, then refused on reading.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.quantum_info import SparsePauliOp

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import archive, portable, portable_json, signing
from qiskit_aer_jobstore.cli import cli
from qiskit_aer_jobstore.manifest import MAX_MEMBERS
from qiskit_aer_jobstore.primitives import EstimatorV2

from .test_portable import assert_same
from .test_primitives import assert_same_primitive_result

MANY = MAX_MEMBERS + 76  # more arrays than an archive may hold members


def _many_states(n: int = MANY) -> QuantumCircuit:
    """One circuit saving ``n`` statevectors (``s0``, ``s1``, ...): ``n`` arrays."""
    qc = QuantumCircuit(1, name="many")
    for i in range(n):
        qc.rx(0.001 * (i + 1), 0)
        qc.save_statevector(label=f"s{i}")
    return qc


def _assert_same_states(live, stored) -> None:
    assert_same(live.data(0), stored.data(0))  # types and keys (Statevector == is approximate)
    for label, state in live.data(0).items():
        other = stored.data(0)[label].data
        assert other.dtype == state.data.dtype and np.array_equal(other, state.data), label


def _archive_names(job) -> list[str]:
    with zipfile.ZipFile(job.archive_path) as zf:
        return zf.namelist()


@pytest.mark.parametrize("trusted", [True, False])
def test_backend_job_with_many_arrays_comes_back_equal(backend, trusted):
    job = backend.run(_many_states(), method="statevector", seed_simulator=1)
    live = job.result()
    qaj.JobStore.default().flush()
    stored = backend.retrieve_job(job.job_id(), trusted=trusted)
    assert stored.trusted is trusted
    result = stored.result()
    _assert_same_states(live, result)
    assert result.results[0].header == live.results[0].header
    assert result.results[0].metadata == live.results[0].metadata
    assert stored.manifest["portable"]["arrays"] == MANY
    assert len(_archive_names(stored)) <= MAX_MEMBERS


@pytest.mark.parametrize("trusted", [True, False])
def test_estimator_job_with_many_pubs_comes_back_equal(backend, trusted):
    theta = Parameter("theta")
    qc = QuantumCircuit(2, name="ansatz")
    qc.ry(theta, 0)
    qc.cx(0, 1)
    observables = [SparsePauliOp("ZZ"), SparsePauliOp("XI")]
    pubs = [(qc, observables, [0.01 * i]) for i in range(MANY // 2)]  # evs and stds: 2 each
    job = EstimatorV2().run(pubs)
    live = job.result()
    qaj.JobStore.default().flush()
    stored = backend.retrieve_job(job.job_id(), trusted=trusted)
    assert stored.trusted is trusted
    assert_same_primitive_result(live, stored.result())
    assert len(_archive_names(stored)) <= MAX_MEMBERS


@pytest.mark.parametrize("own_key", [True, False])
def test_cli_shows_a_job_with_many_arrays(backend, job_store_env, monkeypatch, own_key):
    job = backend.run(_many_states(), method="statevector", seed_simulator=1)
    live = job.result().data(0)
    qaj.JobStore.default().flush()
    if not own_key:  # signed with another key: read from its portable copies
        monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(job_store_env / "other.key"))
    shown = CliRunner().invoke(cli, ["show", "--json", job.job_id()])
    assert shown.exit_code == 0, (shown.output, shown.stderr)
    [experiment] = json.loads(shown.stdout)["experiments"]
    assert list(experiment["data"]) == list(live)
    last = live[f"s{MANY - 1}"].data
    assert experiment["data"][f"s{MANY - 1}"] == [[z.real, z.imag] for z in last]
    text = CliRunner().invoke(cli, ["show", job.job_id()])
    assert text.exit_code == 0, (text.output, text.stderr)
    assert job.job_id() in text.stdout and "over the limit" not in text.output


def _aer_result(circuit: QuantumCircuit):
    """A real result of ``circuit``, not saved (for records written in this process)."""
    return qaj.AerSimulator(save_jobs=False).run(circuit, method="statevector").result()


@pytest.mark.parametrize("trusted", [True, False])
def test_large_arrays_past_the_member_budget_are_packed_and_stored_once(
    store, monkeypatch, trusted
):
    qc = QuantumCircuit(12, name="big")  # 64 KiB statevectors: a member each, within budget
    for i in range(5):
        qc.rx(0.1 * (i + 1), 0)
        qc.save_statevector(label=f"s{i}")
    live = _aer_result(qc)
    monkeypatch.setattr(portable, "OWN_ARRAY_MEMBERS", 2)
    store.save(qaj.JobRecord(job_id="budget-1", backend_name="aer_simulator", circuits=[qc],
                             result=live))
    stored = store.get("budget-1", trusted=trusted)
    _assert_same_states(live, stored.result())
    members = stored.manifest["members"]
    assert sorted(n for n in members if n.startswith("arrays/")) == [
        "arrays/0.npy", "arrays/1.npy", "arrays/packed.npy"
    ]
    with zipfile.ZipFile(stored.archive_path) as zf:
        shared = json.loads(zf.read("payload_buffers.json"))
    assert shared[:2] == ["arrays/0.npy", "arrays/1.npy"]
    assert [entry[0] for entry in shared[2:]] == ["arrays/packed.npy"] * 3
    assert members["payload.pkl"]["size"] < 64 * 1024  # not a second copy of the arrays
    assert members["arrays/packed.npy"]["size"] < 4 * 64 * 1024


def test_archives_of_schema_version_1_are_still_read(store, monkeypatch):
    """Written as version 1 wrote them: one ``.npy`` member per array, no pack."""
    qc = _many_states(40)
    live = _aer_result(qc)
    with monkeypatch.context() as old:
        old.setattr(portable_json, "OWN_MEMBER_BYTES", 0)
        old.setattr(portable, "FORMAT", 1)
        old.setattr(archive, "SCHEMA_VERSION", 1)
        store.save(qaj.JobRecord(job_id="v1-1", backend_name="aer_simulator", circuits=[qc],
                                 result=live))
    manifest = store.manifest("v1-1")
    assert manifest["schema_version"] == 1 and "arrays/packed.npy" not in manifest["members"]
    assert "arrays/39.npy" in manifest["members"]
    for trusted in (True, False):
        _assert_same_states(live, store.get("v1-1", trusted=trusted).result())
    store.get("v1-1").update_tags(["kept"])  # rewritten by this version: still read
    assert store.manifest("v1-1")["schema_version"] == archive.SCHEMA_VERSION
    for trusted in (True, False):
        _assert_same_states(live, store.get("v1-1", trusted=trusted).result())


BAD_REFERENCES = {
    "at past the pack": {"at": 10**6},
    "negative at": {"at": -16},
    "at a bool": {"at": True},
    "at a string": {"at": "0"},
    "object dtype": {"dtype": "O"},
    "structured dtype": {"dtype": "i4,f8"},
    "subarray dtype": {"dtype": "(2,)f8"},
    "empty dtype": {"dtype": "V0"},
    "unknown dtype": {"dtype": "nonsense"},
    "dtype not a string": {"dtype": 8},
    "huge shape": {"shape": [10**9, 10**9]},
    "negative shape": {"shape": [-4]},
    "float shape": {"shape": [2.5]},
    "too many dimensions": {"shape": [1] * 65},
    "order K": {"order": "K"},
    "whole member as a pack": {"__ndarray__": "arrays/0.npy"},
    "a path": {"__ndarray__": "../packed.npy"},
}


@pytest.mark.parametrize("change", sorted(BAD_REFERENCES))
def test_malformed_packed_reference_is_a_clear_error(store, tmp_path, change):
    binds = {"x": np.arange(4.0), "y": np.zeros(2, complex), "z": np.zeros(10**4)}  # z: own
    record = qaj.JobRecord(job_id="evil-2", backend_name="sim", parameter_binds=[binds])
    members = record.members()
    document = json.loads(members[portable.RESULT])
    reference = document["parameter_binds"][0]["x"]
    assert reference == {"__ndarray__": "arrays/packed.npy", "at": 0, "dtype": "<f8",
                         "shape": [4]}
    reference.update(BAD_REFERENCES[change])
    members[portable.RESULT] = json.dumps(document).encode()
    path = tmp_path / "evil.zip"
    with open(path, "wb") as out:
        archive.write_archive(out, record.manifest(), members,
                              signing.load_key(tmp_path / "other.key"))
    job = store.import_archive(path)
    with pytest.raises(qaj.JobArchiveError, match="evil-2.zip: the portable copy"):
        job.parameter_binds()


def test_packed_arrays_come_back_with_their_dtype_shape_and_order(store):
    values = {
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "strided": np.arange(20, dtype=np.int32)[::3],
        "big_endian": np.arange(3, dtype=">f8"),
        "bools": np.array([[True, False]]),
        "scalar": np.array(2.5 + 1j),
        "empty": np.zeros((0, 3), np.complex64),
        "text": np.array(["a", "bcd"]),
        "times": np.array(["2024-01-02"], dtype="datetime64[D]"),
        "odd": np.arange(3, dtype=np.uint8),  # the next array starts aligned all the same
        "after": np.arange(2, dtype=np.complex128),
    }
    store.save(qaj.JobRecord(job_id="kinds-1", backend_name="sim", parameter_binds=[values]))
    with zipfile.ZipFile(store.get("kinds-1").archive_path) as zf:
        references = json.loads(zf.read(portable.RESULT))["parameter_binds"][0]
    assert {r["__ndarray__"] for r in references.values()} == {"arrays/packed.npy"}
    assert all(r["at"] % 16 == 0 for r in references.values())  # aligned views
    for trusted in (True, False):
        [binds] = store.get("kinds-1", trusted=trusted).parameter_binds()
        for name, value in values.items():
            got = binds[name]
            assert got.dtype == value.dtype and got.shape == value.shape, name
            assert np.array_equal(got, value), name
        assert binds["fortran"].flags.f_contiguous


def test_more_large_arrays_than_the_member_budget(backend):
    """At the real limits: 1,000 statevectors of 64 KiB, each worth a member of its own."""
    qc = QuantumCircuit(12, name="wide")
    for i in range(portable.OWN_ARRAY_MEMBERS + 40):
        qc.rx(0.001 * (i + 1), 0)
        qc.save_statevector(label=f"s{i}")
    job = backend.run(qc, method="statevector")
    live = job.result()
    qaj.JobStore.default().flush()
    for trusted in (True, False):
        stored = backend.retrieve_job(job.job_id(), trusted=trusted)
        _assert_same_states(live, stored.result())
    names = _archive_names(stored)
    assert len(names) == portable.OWN_ARRAY_MEMBERS + 7 <= MAX_MEMBERS
    assert stored.manifest["members"]["payload.pkl"]["size"] < 1024**2  # arrays stored once
