"""Listings in the saving process show the jobs it handed over, before the writer wrote them.

The writer is held back for real: the writer process is stopped (SIGSTOP) and the thread
writer kept busy by a task that waits on a gate. A listing that waited for the writer would
only return once a watchdog let the writer go (after HOLD_LIMIT_S, a safety net, never a
measure), so each test checks that the writer was still held when the listing returned.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import warnings
from contextlib import contextmanager

import pytest
from qiskit.providers import JobStatus

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import handoff
from qiskit_aer_jobstore.exceptions import JobStoreWarning
from qiskit_aer_jobstore.writer import WRITER

from .conftest import ghz

# Only a safety net: a listing that waits for a held writer is let go after this long.
HOLD_LIMIT_S = 30.0


@contextmanager
def writer_process_stopped():
    """The writer process stopped (SIGSTOP) while idle; yields an Event set once it is let
    go (SIGCONT): at the end, or by the watchdog."""
    writer = handoff.WRITER_PROCESS
    if writer._failed is not None or writer._sock is None:  # a writer an earlier test ended
        writer.close()
        writer.__init__()
    writer.warm()
    qaj.JobStore.default().flush()  # idle: it holds no lock of the index
    pid = writer._proc.pid
    released = threading.Event()

    def release() -> None:
        if not released.is_set():
            released.set()
            os.kill(pid, signal.SIGCONT)

    os.kill(pid, signal.SIGSTOP)
    watchdog = threading.Timer(HOLD_LIMIT_S, release)
    watchdog.start()
    try:
        yield released
    finally:
        watchdog.cancel()
        release()


@contextmanager
def thread_writer_busy():
    """The thread writer busy with a task that waits on a gate; yields the gate, opened at the
    end or by the watchdog."""
    gate = threading.Event()
    WRITER.submit(gate.wait, "The test's gate")
    watchdog = threading.Timer(HOLD_LIMIT_S, gate.set)
    watchdog.start()
    try:
        yield gate
    finally:
        watchdog.cancel()
        gate.set()


def _run(backend, i: int, **options):
    job = backend.run(ghz(3), shots=10 + i, seed_simulator=i, job_name=f"j{i}",
                      job_tags=["even" if i % 2 == 0 else "odd"], **options)
    job.result()
    return job


def _ids(jobs) -> list[str]:
    return [job.job_id() for job in jobs]


def _check_listings(backend, store, live, old) -> None:
    """Every listing path, with filters and paging, over ``old`` (written) and ``live``
    (handed over, maybe not written): each job once, in the index's order."""
    newest_first = [job.job_id() for job in reversed(live)] + [old.job_id()]
    listed = store.list(limit=None)
    assert _ids(listed) == newest_first
    assert {job.status() for job in listed} == {JobStatus.DONE}
    assert _ids(backend.jobs(limit=None)) == newest_first
    assert _ids(backend.local_jobs(limit=2, skip=1)) == newest_first[1:3]
    assert _ids(store.list(limit=3, descending=False)) == newest_first[::-1][:3]
    assert _ids(store.list(limit=None, job_tags=["even"])) == [live[i].job_id() for i in (4, 2, 0)]
    assert _ids(store.list(limit=None, shots=(12, 13))) == [live[3].job_id(), live[2].job_id()]
    assert _ids(store.list(limit=None, status="DONE", order_by="shots", descending=False)) == [
        old.job_id()] + [job.job_id() for job in live]  # old: 5 shots
    assert store.list(status="RUNNING") == []
    pages, after = [], None  # keyset paging, two a page
    while True:
        page = store.list(limit=2, after=after)
        if not page:
            break
        pages += _ids(page)
        after = (page[-1].creation_date().timestamp(), page[-1].job_id())
    assert pages == newest_first
    assert store.count() == len(newest_first) and store.count(job_tags=["odd"]) == 2
    assert store.resolve(live[1].job_id()[:13]) == live[1].job_id()
    assert [row["job_name"] for row in store.summaries(limit=2)] == ["j4", "j3"]


def test_listings_show_jobs_the_writer_process_has_not_written(backend, store):
    old = backend.run(ghz(3), shots=5, seed_simulator=99)
    old.result()
    with writer_process_stopped() as released:
        live = [_run(backend, i) for i in range(5)]
        _check_listings(backend, store, live, old)
        listed = store.list(limit=None)
        assert not released.is_set()  # the listings did not wait for the writer
        assert handoff.WRITER_PROCESS.pending() >= 5
        assert listed[0].size is None and listed[0].archive_path is None  # not written yet
        assert listed[-1].size > 0  # written
        assert listed[0].tags == ["even"] and listed[0].name == "j4"
    store.flush()
    _check_listings(backend, store, live, old)  # once written: each job once, the same order
    assert listed[0].result().get_counts() == live[-1].result().get_counts()
    assert listed[0].size > 0 and os.path.exists(listed[0].archive_path)
    assert all(job.size > 0 for job in store.list(limit=None))


def test_listings_show_jobs_the_thread_writer_has_not_written(backend, store, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_JOBS_WRITER", "thread")
    old = backend.run(ghz(3), shots=5, seed_simulator=99)
    old.result()
    store.flush()
    with thread_writer_busy() as gate:
        live = [_run(backend, i) for i in range(5)]
        _check_listings(backend, store, live, old)
        listed = store.list(limit=1)
        assert not gate.is_set()  # the listings did not wait for the writer
    store.flush()
    _check_listings(backend, store, live, old)
    assert listed[0].result().get_counts() == live[-1].result().get_counts()


def _record(job_id: str, status: str, **fields) -> qaj.JobRecord:
    return qaj.JobRecord(job_id=job_id, backend_name="aer_simulator", status=status,
                         manifest_only=status in ("QUEUED", "RUNNING"), **fields)


def test_the_newer_state_shows_once_whichever_side_holds_it(store):
    """A job written RUNNING whose end is on its way shows DONE; a job written DONE whose late
    RUNNING state is on its way stays DONE; a late RUNNING never hides a DONE on its way."""
    store.save(_record("ends-later", "RUNNING"))
    store.save(_record("ended", "DONE"))
    with writer_process_stopped() as released:
        store.save_later(_record("ends-later", "DONE"))
        store.save_later(_record("ended", "RUNNING"))  # refused by the writer too
        store.save_later(_record("on-its-way", "DONE"))
        store.save_later(_record("on-its-way", "RUNNING"))
        statuses = {job.job_id(): job.status().name for job in store.list(limit=None)}
        running = _ids(store.list(limit=None, status="RUNNING"))
        done = store.count(status="DONE")
        assert not released.is_set()
    assert statuses == {"ends-later": "DONE", "ended": "DONE", "on-its-way": "DONE"}
    assert running == [] and done == 3
    store.flush()
    assert {job.job_id(): job.status().name for job in store.list(limit=None)} == statuses


def test_a_save_that_fails_in_the_writer_stops_showing(backend, store):
    store.key_path.write_bytes(b"short")  # only the writer reads the key: the save fails there
    with pytest.warns(JobStoreWarning, match="was not saved"):
        with writer_process_stopped() as released:
            job = backend.run(ghz(), shots=10, seed_simulator=1)
            job.result()
            assert _ids(store.list()) == [job.job_id()]  # on its way
            assert not released.is_set()
        store.flush()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JobStoreWarning)  # the damaged key, again
        assert store.list() == [] and store.count() == 0


def _records() -> tuple[list[qaj.JobRecord], list[qaj.JobRecord]]:
    """Jobs written (first) and handed over after them, some of the same jobs: a job written
    RUNNING then DONE, one written DONE whose late RUNNING state comes after."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

    def record(i: int, status: str = "DONE", **fields) -> qaj.JobRecord:
        return _record(f"job-{i:02d}", status, creation_date=start + dt.timedelta(minutes=i % 7),
                       job_name=f"n{i % 3}", job_tags=[f"t{i % 2}", f"u{i % 3}"],
                       circuits=[ghz(2 + i % 3, name=f"c{i % 2}")], **fields)

    def shots(rec: qaj.JobRecord, value: int) -> qaj.JobRecord:
        rec.run_options = {"shots": value}
        return rec

    written = [shots(record(i, "RUNNING" if i in (3, 4) else "DONE"), 100 + i % 4)
               for i in range(0, 12)]
    handed = [shots(record(i, "RUNNING" if i in (4, 9, 15) else "DONE"), 100 + i % 5)
              for i in (3, 4, 9, 12, 13, 14, 15, 16)]
    return written, handed


FILTERS = [
    {}, {"limit": None}, {"limit": 3}, {"limit": 4, "skip": 5}, {"limit": None, "skip": 7},
    {"descending": False, "limit": 5, "skip": 2}, {"status": "DONE", "limit": None},
    {"status": ["RUNNING", "QUEUED"], "limit": None}, {"job_tags": ["t1"], "limit": None},
    {"job_tags": ["t0", "u1"], "job_tags_operator": "AND", "limit": None},
    {"shots": (101, 103), "limit": None}, {"circuit_name": "c1", "limit": 4},
    {"num_qubits": 3, "limit": None}, {"job_name": "n2", "limit": None},
    {"order_by": "shots", "limit": 6, "skip": 3}, {"order_by": "job_name", "limit": None},
    {"order_by": "shots", "descending": False, "limit": 2, "job_tags": ["t0"]},
    {"order_by": "status", "descending": False, "limit": None},
    {"order_by": "job_id", "limit": 5, "after": ("job-05", "job-05")},
    {"limit": 4, "after": (dt.datetime(2025, 1, 1, 0, 3, tzinfo=dt.timezone.utc).timestamp(),
                           "job-10")},
    {"order_by": "shots", "descending": False, "limit": 5, "after": (102, "job-06")},
]


def test_listing_merges_the_saves_on_their_way_as_the_index_would_list_them(store, tmp_path):
    """The same filters, order and paging over the index and the saves on their way as over
    an index that holds both (as it will once they are written)."""
    from qiskit_aer_jobstore.overlay import Overlay

    written, handed = _records()
    for rec in written:
        store.save(rec)
    overlay = Overlay()
    for rec in handed:
        overlay.add(rec)
    whole = qaj.JobStore(tmp_path / "whole", store.key_path)
    for rec in written + handed:
        whole.run_save("save", rec)  # a late running state is refused there too
    for flt in FILTERS:
        flt = qaj.JobFilter(**({"limit": 10} | flt))
        expected = [row["job_id"] for row in whole.index.query(flt)]
        assert [row["job_id"] for row in overlay.rows(store.index, flt)] == expected, flt
        assert overlay.count(store.index, flt) == whole.index.count(flt), flt
