"""``aer-jobs list --local | --remote``, ``aer-jobs push`` and ``aer-jobs pull`` against a
team store on real PostgreSQL and S3 servers (started by the session fixtures)."""

from __future__ import annotations

import json

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import team

from .test_cli import run as cli
from .test_team import fresh_machine, run, settle


def rows(*args: str, code: int = 0) -> dict[str, str]:
    """``aer-jobs list --json ...`` as ``{job_id: location}``, in listed order."""
    listed = json.loads(cli("list", "--json", "--limit", "0", *args, code=code).stdout)
    return {row["job_id"]: row.get("location") for row in listed}


def test_list_local_remote_and_both_then_push_and_pull(
    team_env, backend, tmp_path, monkeypatch
):
    theirs = run(backend, 2, job_name="theirs")  # another machine, pushed as it was saved
    settle()
    mine_store = fresh_machine(tmp_path, monkeypatch)
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "manual")
    mine = run(backend, 3, job_name="mine")
    mine_store.flush()
    a, b = theirs.job_id(), mine.job_id()

    assert rows("--local") == {b: None}
    assert rows("--remote") == {a: "remote"}
    assert rows() == {b: "local", a: "remote"}
    assert rows("--name", "theirs") == {a: "remote"}
    table = cli("list").stdout
    assert "where" in table and "remote" in table and "local" in table
    assert cli("list", "--remote", "--name", "nobody", code=1).stderr.count("\n") == 1

    assert json.loads(cli("push", "--json").stdout) == {
        "pushed": [b],
        "unchanged": [],
        "failed": [],
        "queued": 0,
    }
    assert cli("push").stdout == "Pushed 0 jobs; 0 queued\n"
    assert cli("push", "--all").stdout == "Pushed 0 jobs, 1 already there; 0 queued\n"
    assert team.require_remote().count() == 2
    assert rows() == {b: "both", a: "remote"}

    out = cli("pull", a[:8]).stdout  # a unique prefix, resolved by the team index
    assert out.startswith(f"Pulled {a} to ") and str(mine_store.path) in out
    assert rows() == {b: "both", a: "both"}
    assert rows("--local") == {b: None, a: None}
    pulled = mine_store.get(a)
    assert pulled.trusted and pulled.result().get_counts() == theirs.result().get_counts()
    missing = cli("pull", "no-such-job", code=1).stderr
    assert missing.startswith("aer-jobs: error: ") and "`aer-jobs list`" in missing


def test_push_while_the_database_is_down_keeps_the_job_queued(
    team_env, postgres_server, backend, monkeypatch
):
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "manual")
    job = run(backend)
    store = qaj.JobStore.default()
    store.flush()
    postgres_server.stop()
    try:
        team.close_all()
        result = cli("push", code=1)
        assert result.stderr.startswith("aer-jobs: error: 1 job(s) stay queued: ")
        assert "aer-jobs push" in result.stderr and result.stderr.count("\n") == 1
        assert store.queued() == [job.job_id()]
    finally:
        postgres_server.start()
    team.close_all()
    assert json.loads(cli("push", "--json").stdout)["pushed"] == [job.job_id()]
    assert store.queued() == []


def test_team_commands_without_a_team_store_say_what_to_set(store, backend):
    run(backend)
    store.flush()
    for args in (("push",), ("pull", "some-job"), ("list", "--remote")):
        error = cli(*args, code=2).stderr
        assert "QISKIT_AER_JOBS_REMOTE_INDEX" in error and error.count("\n") == 1
    listed = json.loads(cli("list", "--json").stdout)
    assert len(listed) == 1 and "location" not in listed[0]
