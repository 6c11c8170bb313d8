"""reuse_results through the team store (real PostgreSQL and S3 servers): after a local miss,
a teammate's identical DONE job signed with the team key serves; one signed otherwise never."""

from __future__ import annotations

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import team
from qiskit_aer_jobstore.primitives import SamplerV2

from .conftest import ghz
from .test_primitives import _ansatz, assert_same_primitive_result
from .test_team import fresh_machine, settle


def test_a_teammates_job_serves_after_a_local_miss(team_env, backend, tmp_path, monkeypatch):
    original = backend.run(ghz(3), shots=90, seed_simulator=21, memory=True)
    expected = original.result()
    settle()
    here = fresh_machine(tmp_path, monkeypatch)
    assert here.list() == []
    job = qaj.AerSimulator().run(ghz(3), shots=90, seed_simulator=21, memory=True,
                                 reuse_results=True)
    assert job.reused_from == original.job_id()
    assert job.result().get_memory() == expected.get_memory()
    here.flush()
    # the teammate's job was pulled, as retrieve_job pulls it; the reuse reads its payload
    assert {j.job_id() for j in here.list()} == {original.job_id(), job.job_id()}
    assert here.get(job.job_id()).result().get_counts() == expected.get_counts()
    assert here.check() == []


def test_a_job_signed_with_another_key_never_serves(team_env, backend, tmp_path, monkeypatch):
    backend.run(ghz(3), shots=90, seed_simulator=22).result()
    settle()
    fresh_machine(tmp_path, monkeypatch)
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(tmp_path / "not-the-team.key"))
    team.close_all()
    job = qaj.AerSimulator().run(ghz(3), shots=90, seed_simulator=22, reuse_results=True)
    assert job.reused_from is None and job.result().success


def test_a_teammates_sampler_job_serves(team_env, tmp_path, monkeypatch):
    pubs = [(_ansatz(True), [[0.3], [0.6]])]
    first = SamplerV2(seed=9).run(pubs, shots=70)
    live = first.result()
    settle()
    fresh_machine(tmp_path, monkeypatch)
    again = SamplerV2(seed=9, reuse_results=True).run(pubs, shots=70)
    assert again.reused_from == first.job_id()
    assert_same_primitive_result(live, again.result())


def test_an_unreachable_team_store_is_a_warning_and_the_job_runs(team_env, backend, bell,
                                                                  monkeypatch):
    monkeypatch.setenv("QISKIT_AER_JOBS_REMOTE_INDEX", "postgresql://nobody@127.0.0.1:1/none")
    team.close_all()
    with pytest.warns(qaj.JobStoreWarning, match="team store was not searched"):
        job = backend.run(bell, shots=10, seed_simulator=23, reuse_results=True)
    assert job.reused_from is None and job.result().success
