"""Keyset paging in the index (JobFilter order_by / after): what aer-jobs ui pages with."""

from __future__ import annotations

import datetime as dt

import pytest

from qiskit_aer_jobstore.exceptions import JobStoreError
from qiskit_aer_jobstore.index import IndexEntry, JobFilter, SQLiteIndex
from qiskit_aer_jobstore.index.query import SORTABLE

from .forge import CREATED, manifest


@pytest.fixture
def index(tmp_path) -> SQLiteIndex:
    """57 rows: some share a creation time (ties broken by job_id), some lack shots/names."""
    idx = SQLiteIndex(tmp_path / "index.sqlite")
    entries = []
    for i in range(57):
        fields = {
            "creation_date": (CREATED + dt.timedelta(seconds=i // 3)).isoformat(),
            "shots": None if i % 5 == 0 else 100 * (i % 7),
            "job_name": None if i % 4 == 0 else f"name{i % 6}",
            "job_tags": ["even"] if i % 2 == 0 else [],
            "num_qubits": i % 4,
        }
        entries.append(IndexEntry.from_manifest(manifest(f"job-{i:03d}", **fields),
                                                f"a{i}.zip", size=10 * i))
    idx.upsert_many(entries)
    return idx


def pages(index: SQLiteIndex, size: int, **filters) -> list[list[str]]:
    order_by = filters.get("order_by", "created")
    found, after = [], None
    while True:
        rows = index.query(JobFilter(limit=size, after=after, **filters))
        if not rows:
            return found
        found.append([r["job_id"] for r in rows])
        last = rows[-1]
        value = last[order_by] if last[order_by] is not None else SORTABLE[order_by]
        after = (value, last["job_id"])


@pytest.mark.parametrize("order_by", ["created", "shots", "job_name", "size", "job_id"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_walk_the_same_order_as_one_query(index, order_by, descending):
    whole = [r["job_id"] for r in index.query(
        JobFilter(limit=None, order_by=order_by, descending=descending))]
    walked = pages(index, 10, order_by=order_by, descending=descending)
    flat = [job_id for page in walked for job_id in page]
    assert flat == whole and len(set(flat)) == 57  # no overlap, nothing skipped
    assert [len(p) for p in walked] == [10] * 5 + [7]  # the last page is the rest


def test_keyset_pages_with_a_filter_and_ties(index):
    whole = [r["job_id"] for r in index.query(JobFilter(limit=None, job_tags=["even"]))]
    walked = [j for p in pages(index, 4, job_tags=["even"]) for j in p]
    assert walked == whole and len(whole) == 29
    # rows 0, 1, 2 share a creation time: the cursor's job_id splits them
    created = index.get("job-001")["created"]
    rows = index.query(JobFilter(limit=None, after=(created, "job-001")))
    assert [r["job_id"] for r in rows] == ["job-000"]


def test_keyset_uses_the_created_index(index):
    sql, params = JobFilter(limit=5, after=(1.0, "x"), status="DONE").select()
    plan = index._rows("EXPLAIN QUERY PLAN " + sql, params)
    assert any("INDEX" in row["detail"] and "created" in row["detail"] for row in plan)
    assert not any("TEMP B-TREE" in row["detail"] for row in plan)


@pytest.mark.parametrize(
    "bad", [{"order_by": "manifest"}, {"after": "x"}, {"after": (1.0,)}, {"after": (1.0, 5)}]
)
def test_bad_order_or_cursor_is_a_clear_error(bad):
    with pytest.raises(JobStoreError, match="order_by|after"):
        JobFilter(**bad)


def test_count_can_stop_early(index):
    assert index.count(JobFilter(job_tags=["even"])) == 29
    assert index.count(JobFilter(job_tags=["even"]), at_most=10) == 10
    assert index.count(JobFilter(job_tags=["even"]), at_most=100) == 29
    assert index.count(None, at_most=5) == 5 and index.count() == 57
