"""Pushing to the team store: the outbox through server faults, and many machines at once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import team

from .conftest import ghz
from .test_team import fresh_machine, run, settle

WRONG_SECRET = "wrong-secret-never-shown-0123"


def _kill_s3(s3_server, postgres_server, monkeypatch):
    s3_server.stop()
    return s3_server.start


def _stop_db(s3_server, postgres_server, monkeypatch):
    postgres_server.stop()
    return postgres_server.start


def _wrong_credentials(s3_server, postgres_server, monkeypatch):
    right = os.environ["AWS_SECRET_ACCESS_KEY"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", WRONG_SECRET)
    team.close_all()

    def fix():
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", right)
        team.close_all()

    return fix


def _wrong_db_credentials(s3_server, postgres_server, monkeypatch):
    from urllib.parse import urlsplit, urlunsplit

    right = os.environ["QISKIT_AER_JOBS_REMOTE_INDEX"]
    parts = urlsplit(right)
    host = parts.netloc.rsplit("@", 1)[-1]
    wrong = parts._replace(netloc=f"aer_intruder:{WRONG_SECRET}@{host}")
    monkeypatch.setenv("QISKIT_AER_JOBS_REMOTE_INDEX", urlunsplit(wrong))
    return lambda: monkeypatch.setenv("QISKIT_AER_JOBS_REMOTE_INDEX", right)


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        (_kill_s3, "Cannot upload .* Could not connect"),
        (_stop_db, "The team index .* cannot be used: connection"),
        (_wrong_credentials, "SignatureDoesNotMatch"),
        (_wrong_db_credentials, 'role "aer_intruder" does not exist'),
    ],
    ids=["s3_killed", "db_stopped", "wrong_s3_credentials", "wrong_db_credentials"],
)
def test_a_fault_keeps_the_job_local_and_queued_until_push(
    fault, why, team_env, s3_server, postgres_server, backend, tmp_path, monkeypatch
):
    first = run(backend)  # pushed while all is well: it shows the team store was reachable
    settle()
    repair = fault(s3_server, postgres_server, monkeypatch)
    job = backend.run(ghz(3), shots=64, seed_simulator=1)
    live = job.result()  # the run returns its result whatever the team store does
    with pytest.warns(qaj.JobStoreWarning, match="stay queued") as caught:
        settle()
    assert len(caught) == 1
    assert re.search(why, str(caught[0].message))
    assert WRONG_SECRET not in str(caught[0].message)
    store = qaj.JobStore.default()
    assert store.queued() == [job.job_id()]
    assert backend.retrieve_job(job.job_id()).result().get_counts() == live.get_counts()
    with pytest.raises(qaj.JobStoreUnavailableError, match="stay queued") as error:
        store.push()
    assert WRONG_SECRET not in str(error.value)
    repair()
    assert store.push().pushed == [job.job_id()]
    assert store.queued() == []
    assert store.push().pushed == []
    assert team.require_remote().count() == 2
    fresh_machine(tmp_path, monkeypatch)
    remote = backend.remote_jobs(limit=None)
    assert [j.job_id() for j in remote] == [job.job_id(), first.job_id()]
    assert remote[0].result().get_counts() == live.get_counts()


def test_s3_killed_during_a_push_loses_and_duplicates_nothing(
    team_env, s3_server, backend, monkeypatch
):
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "manual")
    ids = [run(backend).job_id() for _ in range(40)]
    store = qaj.JobStore.default()
    assert store.queued() == ids
    outcome: list = []

    def push():
        try:
            outcome.append(store.push())
        except qaj.JobStoreUnavailableError as exc:
            outcome.append(exc)

    pusher = threading.Thread(target=push)
    pusher.start()
    remote = team.require_remote()
    while remote.count() == 0 and pusher.is_alive():
        time.sleep(0.002)
    s3_server.stop()
    pusher.join()
    queued = store.queued()
    assert queued == ids[len(ids) - len(queued) :]  # the rest, still in order
    s3_server.start()
    store.push()
    assert store.queued() == []
    assert sorted(j.job_id() for j in backend.remote_jobs(limit=None)) == sorted(ids)
    for job_id in ids:
        remote.fetch(job_id)  # downloads and verifies


RACER = """
import sys, time
from pathlib import Path
import qiskit_aer_jobstore as q
from qiskit import QuantumCircuit
qc = QuantumCircuit(2)
qc.h(0)
qc.cx(0, 1)
qc.measure_all()
backend = q.AerSimulator()
for _ in range(50):
    backend.run(qc, shots=16, job_tags=[sys.argv[1]]).result()
store = q.JobStore.default()
store.flush()
Path(sys.argv[2]).touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.002)
result = store.push()
print(len(result.pushed), result.remaining)
"""


def test_four_machines_push_at_once(team_env, tmp_path, monkeypatch, backend):
    go = tmp_path / "go"
    procs = []
    for i in range(4):
        env = dict(
            os.environ,
            QISKIT_AER_JOBS_DIR=str(tmp_path / f"machine{i}"),
            QISKIT_AER_PUSH_JOBS="manual",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RACER, f"m{i}", str(tmp_path / f"ready{i}"), str(go)],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    while not all((tmp_path / f"ready{i}").exists() for i in range(4)):
        assert all(p.poll() is None for p in procs), "a racer died before the push"
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=240)[0].split() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    assert outputs == [["50", "0"]] * 4
    fresh_machine(tmp_path, monkeypatch)
    remote = backend.remote_jobs(limit=None)
    assert len(remote) == len({j.job_id() for j in remote}) == 200
    for i in range(4):
        assert len(backend.remote_jobs(limit=None, job_tags=[f"m{i}"])) == 50
    store = team.require_remote()
    for job in remote:
        assert store.load(job.job_id())["result"].get_counts()


def test_an_outage_costs_one_warning_not_one_per_job(team_env, postgres_server, backend):
    postgres_server.stop()
    with pytest.warns(qaj.JobStoreWarning, match="stay queued") as caught:
        ids = [run(backend).job_id() for _ in range(5)]
        settle()
    assert len(caught) == 1
    postgres_server.start()
    store = qaj.JobStore.default()
    assert store.queued() == ids
    assert store.push().pushed == ids


EXITER = """
import qiskit_aer_jobstore as q
from qiskit import QuantumCircuit
qc = QuantumCircuit(1)
qc.measure_all()
print(q.AerSimulator().run(qc, shots=8).job_id())
"""


def test_a_normal_exit_flushes_pending_pushes(team_env, backend):
    out = subprocess.run([sys.executable, "-c", EXITER], check=True, capture_output=True, text=True)
    job_id = out.stdout.strip()
    assert "Warning" not in out.stderr
    assert [j.job_id() for j in backend.remote_jobs()] == [job_id]
    assert qaj.JobStore.default().queued() == []


def test_manual_mode_only_queues(team_env, backend, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "manual")
    job = run(backend)
    settle()
    assert qaj.JobStore.default().queued() == [job.job_id()]
    assert team.require_remote().count() == 0
    assert qaj.JobStore.default().push().pushed == [job.job_id()]


def test_a_bad_setting_never_costs_the_local_save(team_env, backend, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "sometimes")
    with pytest.warns(qaj.JobStoreWarning, match="saved locally but not queued"):
        job = run(backend)
        settle()
    assert [j.job_id() for j in backend.local_jobs()] == [job.job_id()]


def test_the_outbox_survives_reindex_and_an_index_upgrade(team_env, backend, monkeypatch):
    import sqlite3

    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "manual")
    job = run(backend)
    store = qaj.JobStore.default()
    store.reindex()
    assert store.queued() == [job.job_id()]
    store.index.close()
    with sqlite3.connect(store.index.path) as conn:  # an index written by an older version
        conn.execute("PRAGMA user_version=1")
    assert store.queued() == [job.job_id()]
    assert [j.job_id() for j in backend.local_jobs()] == [job.job_id()]
    assert store.push().pushed == [job.job_id()]
