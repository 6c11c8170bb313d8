"""The filters of jobs() / local_jobs() / JobStore.list(), each as documented, and renaming and
retagging a stored job (StoredAerJob.update_tags / update_name)."""

from __future__ import annotations

import datetime as dt
import time
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qiskit.providers import JobStatus

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import PAYLOAD

from .conftest import ghz

UTC = dt.timezone.utc
BASE = dt.datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

# id: (hours after BASE, backend, status, name, tags, method, shots, circuits as (qubits, name))
# fmt: off
JOBS = {
    "a": (0, "aer_simulator", "DONE", "sweep-1", ["t1", "paper"], "statevector", 100,
          [(2, "alpha")]),
    "b": (1, "aer_simulator", "DONE", "sweep-2", ["t1"], "density_matrix", 1000,
          [(3, "beta"), (5, "gamma")]),
    "c": (2, "other_sim", "ERROR", None, ["paper"], "statevector", 1000, [(4, "alpha")]),
    "d": (3, "aer_simulator", "CANCELLED", None, [], "stabilizer", None, [(1, "delta")]),
}
# fmt: on


@pytest.fixture
def jobs(store):
    for job_id, (hours, backend, status, name, tags, method, shots, circs) in JOBS.items():
        options = {"method": method} | ({"shots": shots} if shots else {})
        store.save(
            qaj.JobRecord(
                job_id=job_id,
                backend_name=backend,
                status=status,
                error="boom" if status == "ERROR" else None,
                job_name=name,
                job_tags=tags,
                run_options=options,
                circuits=[ghz(n, cname) for n, cname in circs],
                creation_date=BASE + dt.timedelta(hours=hours),
            )
        )
    return store


def ids(found) -> str:
    return "".join(job.job_id() for job in found)


@pytest.fixture
def local_tz():
    """The local time zone is UTC+05:30 for the test (so naive datetimes are not UTC)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "XXX-05:30")
    time.tzset()
    yield dt.timezone(dt.timedelta(hours=5, minutes=30))
    mp.undo()
    time.tzset()


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({}, "dcba"),
        ({"status": "DONE"}, "ba"),
        ({"status": "done"}, "ba"),
        ({"status": JobStatus.ERROR}, "c"),
        ({"status": ["ERROR", JobStatus.CANCELLED]}, "dc"),
        ({"status": (JobStatus.DONE, "CANCELLED")}, "dba"),
        ({"status": "QUEUED"}, ""),
        ({"job_tags": ["t1"]}, "ba"),
        ({"job_tags": "paper"}, "ca"),
        ({"job_tags": ["t1", "paper"]}, "cba"),
        ({"job_tags": ["t1", "paper"], "job_tags_operator": "OR"}, "cba"),
        ({"job_tags": ["t1", "paper"], "job_tags_operator": "AND"}, "a"),
        ({"job_tags": ["t1", "paper"], "job_tags_operator": "and"}, "a"),
        ({"job_tags": ["t1", "nope"], "job_tags_operator": "AND"}, ""),
        ({"job_tags": []}, "dcba"),
        ({"job_name": "sweep-2"}, "b"),
        ({"job_name": "sweep"}, ""),
        ({"backend_name": "other_sim"}, "c"),
        ({"backend_name": "aer_simulator"}, "dba"),
        ({"method": "statevector"}, "ca"),
        ({"method": "density_matrix"}, "b"),
        ({"num_qubits": 5}, "b"),
        ({"num_qubits": (3, None)}, "cb"),
        ({"num_qubits": (None, 2)}, "da"),
        ({"num_qubits": (2, 4)}, "ca"),
        ({"num_qubits": [1, 1]}, "d"),
        ({"num_qubits": range(2, 5)}, "ca"),
        ({"shots": 1000}, "cb"),
        ({"shots": (None, 500)}, "a"),
        ({"shots": (100, 1000)}, "cba"),
        ({"circuit_name": "alpha"}, "ca"),
        ({"circuit_name": "gamma"}, "b"),
        ({"circuit_name": "zeta"}, ""),
        ({"created_after": BASE + dt.timedelta(hours=1)}, "dcb"),
        ({"created_before": BASE + dt.timedelta(hours=1)}, "ba"),
        (
            {
                "created_after": BASE + dt.timedelta(minutes=30),
                "created_before": BASE + dt.timedelta(hours=2, minutes=30),
            },
            "cb",
        ),
        ({"created_after": "2024-01-01T14:00:00+00:00"}, "dc"),
        ({"created_after": (BASE + dt.timedelta(hours=2)).timestamp()}, "dc"),
        ({"created_after": BASE.astimezone(dt.timezone(dt.timedelta(hours=-8)))}, "dcba"),
        ({"job_tags": ["paper"], "status": "DONE", "backend_name": "aer_simulator"}, "a"),
        ({"job_tags": ["t1"], "created_after": BASE + dt.timedelta(minutes=1)}, "b"),
    ],
)
def test_each_filter(jobs, filters, expected):
    assert ids(jobs.list(limit=None, **filters)) == expected
    assert jobs.count(**filters) == len(expected)


def test_naive_datetimes_are_local_time(jobs, local_tz):
    # 17:30 at UTC+05:30 is 12:00 UTC, when job "a" was created
    naive = dt.datetime(2024, 1, 1, 17, 30)
    assert naive.replace(tzinfo=local_tz) == BASE
    assert ids(jobs.list(created_after=naive)) == "dcba"
    assert ids(jobs.list(created_after=naive + dt.timedelta(seconds=1))) == "dcb"
    assert ids(jobs.list(created_before=naive)) == "a"
    assert ids(jobs.list(created_after="2024-01-01T18:30:00")) == "dcb"  # naive ISO: local too
    assert ids(jobs.list(created_before=dt.date(2024, 1, 2))) == "dcba"  # local midnight


@pytest.mark.parametrize(
    "paging, expected",
    [
        ({"limit": 2}, "dc"),
        ({"limit": 2, "skip": 1}, "cb"),
        ({"limit": 2, "skip": 3}, "a"),
        ({"limit": 2, "skip": 4}, ""),
        ({"limit": 0}, ""),
        ({"limit": None, "skip": 1}, "cba"),
        ({"limit": 3, "descending": False}, "abc"),
        ({"limit": 2, "skip": 1, "descending": False}, "bc"),
        ({"limit": None, "descending": False, "status": "DONE"}, "ab"),
    ],
)
def test_paging(jobs, paging, expected):
    assert ids(jobs.list(**paging)) == expected


def test_default_limit_is_ten(store):
    for i in range(12):
        store.save(
            qaj.JobRecord(
                job_id=f"j{i:02d}",
                backend_name="aer_simulator",
                creation_date=BASE + dt.timedelta(seconds=i),
            )
        )
    found = store.list()
    assert len(found) == 10 and found[0].job_id() == "j11"


def test_backend_jobs_take_the_same_filters(jobs, backend):
    assert ids(backend.jobs(limit=None, job_tags=["t1"])) == "ba"
    assert ids(backend.jobs(backend_name="other_sim")) == "c"
    assert ids(backend.local_jobs(limit=None, status=["ERROR", "CANCELLED"])) == "dc"
    assert ids(backend.local_jobs(limit=1, skip=1, descending=False)) == "b"


@pytest.mark.parametrize(
    "filters, message",
    [
        ({"status": "FINISHED"}, "Invalid status 'FINISHED': use JobStatus values"),
        ({"status": 5}, "Invalid status 5"),
        ({"status": []}, "at least one status"),
        ({"job_tags": [1, "x"]}, "Invalid job_tags"),
        ({"job_tags": 5}, "Invalid job_tags"),
        ({"job_tags_operator": "XOR", "job_tags": ["t1"]}, "use 'OR'"),
        ({"created_after": "yesterday"}, "Invalid created_after 'yesterday'"),
        ({"created_before": [2024]}, "Invalid created_before"),
        ({"num_qubits": (5, 2)}, "min is larger than the max"),
        ({"num_qubits": "5"}, "Invalid num_qubits '5'"),
        ({"shots": (1, 2, 3)}, "Invalid shots"),
        ({"shots": 1.5}, "Invalid shots"),
        ({"limit": -1}, "Invalid limit -1"),
        ({"limit": "10"}, "Invalid limit '10'"),
        ({"skip": -2}, "Invalid skip -2"),
        ({"descending": "yes"}, "Invalid descending"),
        ({"backend_name": 5}, "Invalid backend_name 5: give a string"),
        ({"method": ["statevector"]}, "Invalid method"),
        ({"circuit_name": 3}, "Invalid circuit_name"),
        ({"job_name": b"x"}, "Invalid job_name"),
        ({"tags": ["t1"]}, "Unknown job filter.*'tags'.*job_tags"),
    ],
)
def test_bad_filter_values_say_what_is_wrong(jobs, backend, filters, message):
    with pytest.raises(qaj.JobStoreError, match=message):
        jobs.list(**filters)
    with pytest.raises(qaj.JobStoreError, match=message):
        backend.local_jobs(**filters)


def _payload_bytes(path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(PAYLOAD)


def test_update_tags_and_name_rewrite_archive_and_index(backend, store):
    job = backend.run(ghz(3), shots=50, job_name="before", job_tags=["old", "x"])
    live = job.result()
    stored = backend.retrieve_job(job.job_id())
    payload = _payload_bytes(stored.archive_path)

    assert stored.update_tags(["new", "x", "new"]) == ["new", "x"]
    assert stored.update_name("after") == "after"
    assert stored.tags == ["new", "x"] and stored.name == "after"

    assert backend.jobs(job_tags=["old"]) == []
    assert ids(backend.jobs(job_tags=["new"])) == job.job_id()
    assert ids(backend.jobs(job_name="after")) == job.job_id()
    assert backend.jobs(job_name="before") == []
    assert _payload_bytes(stored.archive_path) == payload
    again = backend.retrieve_job(job.job_id())
    assert again.tags == ["new", "x"] and again.name == "after"
    assert again.result().get_counts() == live.get_counts()  # the new signature verifies

    store.reindex()  # the archive, not only the index, holds the change
    assert qaj.JobStore(store.path, store.key_path).get(job.job_id()).tags == ["new", "x"]
    assert len(list(store.path.glob("*.zip"))) == 1


def test_update_refuses_a_tampered_archive(backend):
    job = backend.run(ghz(2), job_tags=["a"])
    job.result()
    stored = backend.retrieve_job(job.job_id())
    path = stored.archive_path
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    items[PAYLOAD] = items[PAYLOAD][:-3] + b"xyz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items.items():
            zf.writestr(name, data)
    with pytest.raises(qaj.JobStoreIntegrityError):
        stored.update_tags(["b"])
    with pytest.raises(qaj.JobStoreIntegrityError):  # still refused: it was not re-signed
        backend.retrieve_job(job.job_id()).result()


@pytest.mark.parametrize("bad", ["one-string", [1], None])
def test_update_tags_refuses_bad_tags(backend, bad):
    job = backend.run(ghz(2))
    job.result()
    with pytest.raises(qaj.JobStoreError, match="Invalid tags"):
        backend.retrieve_job(job.job_id()).update_tags(bad)


def _matches(job_id: str, flt: dict) -> bool:
    """The documented meaning of each filter, in plain Python, for the JOBS table."""
    hours, backend, status, name, tags, method, shots, circs = JOBS[job_id]
    created = BASE + dt.timedelta(hours=hours)
    widest = max(n for n, _ in circs)

    def within(value, bounds):
        low, high = (bounds, bounds) if isinstance(bounds, int) else bounds
        return (
            value is not None and (low is None or value >= low) and (high is None or value <= high)
        )

    checks = {
        "status": lambda v: status in v,
        "job_tags": lambda v: (
            (all if flt.get("job_tags_operator") == "AND" else any)(t in tags for t in v) or not v
        ),
        "backend_name": lambda v: backend == v,
        "method": lambda v: method == v,
        "num_qubits": lambda v: within(widest, v),
        "shots": lambda v: within(shots, v),
        "circuit_name": lambda v: v in [c for _, c in circs],
        "created_after": lambda v: created >= v,
        "created_before": lambda v: created <= v,
    }
    return all(check(flt[key]) for key, check in checks.items() if key in flt)


bounds = st.one_of(
    st.integers(0, 6), st.tuples(st.none() | st.integers(0, 3), st.none() | st.integers(4, 6))
)
times = st.integers(-1, 4).map(lambda h: BASE + dt.timedelta(hours=h, minutes=30))
filters = st.fixed_dictionaries(
    {},
    optional={
        "status": st.lists(st.sampled_from(["DONE", "ERROR", "CANCELLED"]), min_size=1),
        "job_tags": st.lists(st.sampled_from(["t1", "paper", "x"]), max_size=3),
        "job_tags_operator": st.sampled_from(["OR", "AND"]),
        "backend_name": st.sampled_from(["aer_simulator", "other_sim"]),
        "method": st.sampled_from(["statevector", "density_matrix", "stabilizer"]),
        "num_qubits": bounds,
        "shots": st.sampled_from([100, 1000, (None, 500), (500, None)]),
        "circuit_name": st.sampled_from(["alpha", "beta", "gamma", "delta"]),
        "created_after": times,
        "created_before": times,
    },
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(flt=filters)
def test_filters_agree_with_their_documented_meaning(jobs, flt):
    expected = "".join(j for j in sorted(JOBS, reverse=True) if _matches(j, flt))
    assert ids(jobs.list(limit=None, **flt)) == expected
