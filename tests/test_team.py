"""The team store on real PostgreSQL and S3 servers: push, remote_jobs(), jobs() over both,
retrieve_job() from the team store, trust, settings."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import warnings

import pytest

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import push, settings, team
from qiskit_aer_jobstore.exceptions import (
    JobArchiveError,
    JobStoreIntegrityError,
    JobStoreSettingsError,
)

from .conftest import S3_BUCKET, ghz


def run(backend, n=2, **options):
    job = backend.run(ghz(n), shots=64, seed_simulator=7, **options)
    job.result()
    return job


def settle():
    """Wait for this process's saves and pushes (what a normal exit does)."""
    qaj.JobStore.default().flush()
    push.PUSHER.flush(30)


def fresh_machine(tmp_path, monkeypatch, name="other"):
    """Another machine: an empty local store, the same team key and team store."""
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(tmp_path / name))
    return qaj.JobStore.default()


def test_saved_jobs_are_pushed_and_seen_from_another_machine(
    team_env, backend, tmp_path, monkeypatch
):
    jobs = [run(backend, n, job_tags=["sweep", f"n{n}"]) for n in (2, 3, 4)]
    settle()
    assert qaj.JobStore.default().queued() == []
    live = {j.job_id(): j.result() for j in jobs}

    fresh_machine(tmp_path, monkeypatch)
    remote = backend.remote_jobs(limit=None)
    assert [j.job_id() for j in remote] == [j.job_id() for j in reversed(jobs)]
    assert {j.location for j in remote} == {"remote"}
    assert backend.local_jobs() == []
    every = backend.jobs(limit=None)
    assert [j.job_id() for j in every] == [j.job_id() for j in reversed(jobs)]
    for stored in every:
        assert stored.result().get_counts() == live[stored.job_id()].get_counts()
    pulled = backend.retrieve_job(jobs[0].job_id())
    assert pulled.location == "both"
    assert pulled.result().get_counts() == live[jobs[0].job_id()].get_counts()
    # the pulled copy is now local: jobs() shows it once, as both
    where = {j.job_id(): j.location for j in backend.jobs(limit=None)}
    assert where == {
        jobs[0].job_id(): "both",
        jobs[1].job_id(): "remote",
        jobs[2].job_id(): "remote",
    }


def test_jobs_over_both_merges_newest_first_and_pages(team_env, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "manual")
    pushed = [run(backend, job_name=f"p{i}") for i in range(3)]
    qaj.JobStore.default().push()
    local_only = [run(backend, job_name=f"l{i}") for i in range(2)]
    settle()
    order = [j.job_id() for j in reversed(pushed + local_only)]
    every = backend.jobs(limit=None)
    assert [j.job_id() for j in every] == order
    assert [j.location for j in every] == ["local"] * 2 + ["both"] * 3
    assert [j.job_id() for j in backend.jobs(limit=2, skip=1)] == order[1:3]
    assert [j.job_id() for j in backend.jobs(limit=None, descending=False)] == order[::-1]
    assert [j.job_id() for j in backend.remote_jobs(limit=None)] == order[2:]
    assert qaj.JobStore.default().queued() == [j.job_id() for j in local_only]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"job_tags": ["a"]}, {"t1", "t3"}),
        ({"job_tags": ["a", "b"], "job_tags_operator": "AND"}, {"t3"}),
        ({"job_name": "t2"}, {"t2"}),
        ({"num_qubits": (3, None)}, {"t2", "t3"}),
        ({"backend_name": "nope"}, set()),
        ({"created_before": dt.datetime(2000, 1, 1)}, set()),
        ({"created_after": dt.datetime(2000, 1, 1), "shots": 64}, {"t1", "t2", "t3"}),
    ],
)
def test_remote_filters_match_local_filters(team_env, backend, filters, expected):
    run(backend, 2, job_name="t1", job_tags=["a"])
    run(backend, 3, job_name="t2", job_tags=["b"])
    run(backend, 4, job_name="t3", job_tags=["a", "b"])
    settle()
    remote = {j.name for j in backend.remote_jobs(limit=None, **filters)}
    local = {j.name for j in backend.local_jobs(limit=None, **filters)}
    assert remote == local == expected


def test_push_is_idempotent(team_env, backend):
    job = run(backend)
    settle()
    store = qaj.JobStore.default()
    again = store.push(all_jobs=True)
    assert again.pushed == [] and again.unchanged == [job.job_id()]
    assert team.require_remote().count() == 1


def test_schema_is_created_once_and_versioned(team_env):
    from qiskit_aer_jobstore.index.postgres import SCHEMA_VERSION

    store = team.require_remote()
    assert store.index.schema_version() == SCHEMA_VERSION
    store.close()
    assert team.TeamStore(*team_env).index.schema_version() == SCHEMA_VERSION


def test_another_key_is_read_from_portable_copies_only(team_env, backend, tmp_path, monkeypatch):
    from qiskit_aer_jobstore.archive import ArchiveReader

    job = run(backend)
    counts = job.result().get_counts()
    settle()
    fresh_machine(tmp_path, monkeypatch)
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(tmp_path / "not-the-team.key"))
    team.close_all()

    def refuse(*_a, **_k):
        raise AssertionError("a payload signed with another key was unpickled")

    monkeypatch.setattr(ArchiveReader, "payload", refuse)
    for stored in (backend.remote_jobs()[0], backend.retrieve_job(job.job_id())):
        assert not stored.trusted
        assert stored.result().get_counts() == counts
        assert stored.circuits()[0].count_ops()["cx"] == 1
    kept = backend.local_jobs()
    assert [j.job_id() for j in kept] == [job.job_id()] and not kept[0].trusted


def test_tampered_object_is_refused(team_env, backend, s3_server, tmp_path, monkeypatch):
    job = run(backend)
    settle()
    row = team.require_remote().index.get(job.job_id())
    key = f"{team_env[1].split('/', 3)[3]}/{row['archive']}"
    s3_server.client().put_object(Bucket=S3_BUCKET, Key=key, Body=b"PK evil")
    fresh_machine(tmp_path, monkeypatch)
    with pytest.raises(JobStoreIntegrityError, match="does not match its team index row"):
        backend.retrieve_job(job.job_id())


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("archive", "../../../etc/passwd", "not that job's"),
        ("size", 10**15, "not a valid archive size"),
        ("job_id", "../x", "invalid job id"),
    ],
)
def test_hostile_index_rows_give_clear_errors(team_env, backend, column, value, match):
    job = run(backend)
    settle()
    index = team.require_remote().index
    index._run(lambda c: c.execute("DELETE FROM job_circuits; DELETE FROM job_tags"))
    index._run(lambda c: c.execute(f"UPDATE jobs SET {column} = %s", (value,)))
    with pytest.warns(qaj.JobStoreWarning, match=match):
        assert backend.remote_jobs() == []
    if column != "job_id":
        with pytest.raises(JobArchiveError, match=match):
            team.require_remote().get(job.job_id())


def test_secrets_never_shown(team_env, monkeypatch):
    url = "postgresql://alice:s3cr3t-pw@127.0.0.1:1/db"
    store = team.TeamStore(url, "s3://b/p")
    assert "s3cr3t-pw" not in repr(store) and "alice:***@" in repr(store)
    with pytest.raises(qaj.JobStoreUnavailableError) as info:
        store.index.count()
    assert "s3cr3t-pw" not in str(info.value)
    store.close()


def test_one_half_of_the_settings_is_an_error(monkeypatch, backend):
    monkeypatch.setenv("QISKIT_AER_JOBS_REMOTE_INDEX", "postgresql://x@localhost/db")
    with pytest.raises(JobStoreSettingsError, match="needs both"):
        backend.remote_jobs()
    monkeypatch.delenv("QISKIT_AER_JOBS_REMOTE_INDEX")
    with pytest.raises(JobStoreSettingsError, match="No team store is configured"):
        backend.remote_jobs()
    monkeypatch.setenv("QISKIT_AER_PUSH_JOBS", "sometimes")
    with pytest.raises(JobStoreSettingsError, match="auto, manual"):
        settings.push_jobs()


def test_nothing_remote_is_imported_without_a_team_store():
    code = (
        "import sys, qiskit_aer_jobstore as q\n"
        "from qiskit import QuantumCircuit\n"
        "qc = QuantumCircuit(1); qc.measure_all()\n"
        "b = q.AerSimulator(); b.run(qc).result(); q.JobStore.default().flush()\n"
        "assert len(b.jobs()) == 1\n"
        "bad = [m for m in ('psycopg', 'psycopg_pool', 'boto3', 'botocore') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_settings_conf_names_the_team_store(team_env, job_store_env, monkeypatch, backend):
    index_url, blobs_url = team_env
    monkeypatch.delenv("QISKIT_AER_JOBS_REMOTE_INDEX")
    monkeypatch.delenv("QISKIT_AER_JOBS_REMOTE_BLOBS")
    (job_store_env / "settings.conf").write_text(
        f"[aer]\nremote_index = {index_url}\nremote_blobs = {blobs_url}\npush_jobs = auto\n"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        job = run(backend)
        settle()
    assert [j.job_id() for j in backend.remote_jobs()] == [job.job_id()]


def test_two_machines_one_through_an_s3_outage_a_third_sees_all(
    team_env, s3_server, backend, tmp_path, monkeypatch
):
    fresh_machine(tmp_path, monkeypatch, "machine-a")
    live = {j.job_id(): j.result() for j in (run(backend, 2), run(backend, 3))}
    settle()
    machine_b = fresh_machine(tmp_path, monkeypatch, "machine-b")
    s3_server.stop()
    with pytest.warns(qaj.JobStoreWarning, match="stay queued"):
        live.update({j.job_id(): j.result() for j in (run(backend, 4), run(backend, 5))})
        settle()
    s3_server.start()
    assert len(machine_b.push().pushed) == 2
    fresh_machine(tmp_path, monkeypatch, "machine-c")
    for listing in (backend.remote_jobs(limit=None), backend.jobs(limit=None)):
        assert sorted(j.job_id() for j in listing) == sorted(live)
        for job in listing:
            assert job.result().get_counts() == live[job.job_id()].get_counts()


def test_jobs_lists_local_ones_when_the_team_index_is_down(team_env, postgres_server, backend):
    job = run(backend)
    settle()
    postgres_server.stop()
    try:
        with pytest.warns(qaj.JobStoreWarning, match="Listing local jobs only"):
            assert [j.job_id() for j in backend.jobs()] == [job.job_id()]
        with pytest.raises(qaj.JobStoreUnavailableError, match="team index"):
            backend.retrieve_job("not-here-anywhere")
    finally:
        postgres_server.start()


def test_enable_gives_aer_backends_the_team_methods(team_env):
    import qiskit_aer

    qaj.enable()
    plain = qiskit_aer.AerSimulator()
    job = run(plain)
    settle()
    assert [j.job_id() for j in plain.remote_jobs()] == [job.job_id()]
    assert [j.location for j in plain.jobs()] == ["both"]


def test_unknown_id_says_it_looked_in_both(team_env, backend):
    with pytest.raises(qaj.JobNotFoundError, match="team store either"):
        backend.retrieve_job("not-here-anywhere")


@pytest.mark.parametrize("found", ["TeamStore.get", "remote_jobs"])
def test_update_tags_and_name_of_a_job_only_in_the_team_store(
    team_env, backend, tmp_path, monkeypatch, found
):
    job = run(backend, job_name="before", job_tags=["old"])
    settle()
    fresh_machine(tmp_path, monkeypatch)
    if found == "remote_jobs":
        [stored] = backend.remote_jobs()
    else:
        stored = team.require_remote().get(job.job_id())
    assert stored.location == "remote"
    assert stored.update_tags(["new", "x", "new"]) == ["new", "x"]
    assert stored.update_name("after") == "after"
    assert stored.tags == ["new", "x"] and stored.name == "after"

    assert backend.remote_jobs(job_tags=["old"]) == []
    assert [j.job_id() for j in backend.remote_jobs(job_tags=["new"])] == [job.job_id()]
    assert [j.job_id() for j in backend.remote_jobs(job_name="after")] == [job.job_id()]
    assert backend.local_jobs() == []  # changed in the team store alone
    team.require_remote().fetch(job.job_id())  # row and archive agree; signed with the key
    pulled = backend.retrieve_job(job.job_id())
    assert pulled.tags == ["new", "x"] and pulled.name == "after" and pulled.trusted
    assert pulled.result().get_counts() == job.result().get_counts()


@pytest.mark.parametrize(
    "listing",
    [
        lambda backend: backend.remote_jobs(bogus=1),
        lambda backend: team.require_remote().list(bogus=1),
        lambda backend: team.require_remote().count(bogus=1),
        lambda backend: backend.local_jobs(bogus=1),
    ],
    ids=["remote_jobs", "TeamStore.list", "TeamStore.count", "local_jobs"],
)
def test_an_unknown_filter_name_is_refused_in_the_team_store_as_locally(
    team_env, backend, listing
):
    with pytest.raises(qaj.JobStoreError, match="Unknown job filter.*'bogus'.*job_tags"):
        listing(backend)


def test_a_team_store_without_psycopg_says_what_to_install(team_env, backend, monkeypatch):
    install = 'pip install "qiskit-aer-jobstore[team]"'
    monkeypatch.setattr(push, "_warned", set(), raising=False)  # it is said once per process
    # psycopg is hidden from this process only: save here, not in a writer process that has it
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER", "thread")
    team.close_all()  # no TeamStore made while psycopg was there
    store = qaj.JobStore.default()
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "psycopg", None)  # not installed: importing it fails
        with pytest.warns(qaj.JobStoreWarning) as caught:
            live = {job.job_id(): job.result() for job in (run(backend, 2), run(backend, 3))}
            settle()
        said = [str(w.message) for w in caught if "psycopg" in str(w.message)]
        assert len(said) == 1 and install in said[0], [str(w.message) for w in caught]
        assert store.queued() == list(live)
        with pytest.raises(qaj.JobStoreError, match="psycopg") as error:
            backend.remote_jobs()
        assert install in str(error.value)
        with pytest.warns(qaj.JobStoreWarning, match="Listing local jobs only.*psycopg"):
            listed = backend.jobs(limit=None)
        assert sorted(j.job_id() for j in listed) == sorted(live)
        for stored in listed:
            assert stored.result().get_counts() == live[stored.job_id()].get_counts()
    team.close_all()
    assert store.push().pushed == list(live)  # installed again: the queued jobs go out


def test_sessions_and_devices_filter_the_team_store_as_locally(team_env, backend):
    from qiskit import transpile
    from qiskit.providers.fake_provider import GenericBackendV2

    with qaj.job_context(job_tags=["s"]) as ctx:
        run(backend, 2, job_name="in")
        device = qaj.AerSimulator.from_backend(GenericBackendV2(num_qubits=3, seed=1))
        device.run(transpile(ghz(2), device), shots=64, job_name="device").result()
    run(backend, 2, job_name="out")
    settle()
    for filters, expected in (
        ({"session_id": ctx.session_id}, {"in", "device"}),
        ({"backend_name": "generic_backend_3q"}, {"device"}),
        ({"session_id": "none-such"}, set()),
    ):
        remote = {j.name for j in backend.remote_jobs(limit=None, **filters)}
        local = {j.name for j in backend.local_jobs(limit=None, **filters)}
        assert remote == local == expected, filters
