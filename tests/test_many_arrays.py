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
