"""Stored jobs in Jupyter: the listing as an HTML table, a job as a card, DataFrames, counts."""

from __future__ import annotations

import pandas as pd
import pytest
from qiskit import QuantumCircuit

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.notebook import (
    JobList,
    changed_backend_options,
    experiment_counts,
    summary,
)

from .conftest import ghz
from .test_cli import fill


@pytest.fixture
def ids(store, backend) -> dict[str, str]:
    return fill(store, backend)


def test_listings_are_lists_that_render_as_tables(ids, store, backend):
    for jobs in (store.list(limit=None), backend.jobs(limit=None), backend.local_jobs()):
        assert isinstance(jobs, JobList) and isinstance(jobs, list)
        html = jobs._repr_html_()
        assert html.startswith("<table") and html.count("<tr>") == len(jobs) + 1
        for job in jobs:
            assert job.job_id() in html
    assert store.list(job_tags=["nowhere"])._repr_html_() == "<p><em>No stored jobs.</em></p>"


def test_html_is_escaped(store):
    store.save(
        qaj.JobRecord(
            job_id="x1", backend_name="sim", job_name="<script>alert(1)</script>", job_tags=["a&b"]
        )
    )
    for html in (store.list()._repr_html_(), store.get("x1")._repr_html_()):
        assert "<script>" not in html and "&lt;script&gt;" in html and "a&amp;b" in html


def test_job_card(ids, store):
    card = store.get(ids["bell"])._repr_html_()
    assert ids["bell"] in card and "DONE" in card and "bell-run" in card
    assert "bell, paper" in card and store.get(ids["bell"]).archive_path in card
    failed = store.get(ids["failed"])._repr_html_()
    assert "ERROR" in failed and "AerError: out of memory" in failed


def test_to_dataframe(ids, store):
    frame = store.to_dataframe()
    assert list(frame.index) == [row["job_id"] for row in map(summary, store.list(limit=None))]
    assert frame.index.name == "job_id"
    assert str(frame["creation_date"].dtype).startswith("datetime64")
    assert frame["creation_date"].dt.tz is not None
    bell = frame.loc[ids["bell"]]
    assert bell["shots"] == 200 and bell["job_tags"] == ["bell", "paper"]
    assert bell["size"] == store.get(ids["bell"]).size
    assert pd.isna(frame.loc[ids["old"], "shots"])
    paper = store.to_dataframe(job_tags=["paper"], descending=False)
    assert list(paper.index) == [ids["bell"], ids["pair"]]
    assert store.to_dataframe(job_tags=["nowhere"]).empty


def test_to_dataframe_is_not_paged_by_default(store):
    for i in range(12):
        store.save(qaj.JobRecord(job_id=f"job-{i}", backend_name="sim"))
    assert len(store.list()) == 10 and len(store.to_dataframe()) == 12
    assert len(store.to_dataframe(limit=3)) == 3


def test_counts_skip_experiments_that_measure_nothing(backend, store):
    state = QuantumCircuit(2, name="state")
    state.h(0)
    state.save_statevector()
    job = backend.run([state, ghz(2, name="measured")], shots=32)
    job.result()
    found = experiment_counts(store.get(job.job_id()))
    assert [name for name, _ in found] == ["measured"]
    assert sum(found[0][1].values()) == 32


def test_changed_backend_options(store):
    backend = qaj.AerSimulator(method="statevector", precision="single")
    job = backend.run(ghz(2), shots=10)
    job.result()
    changed = changed_backend_options(store.get(job.job_id()))
    assert changed == {"method": "statevector", "precision": "single"}


def test_counts_and_plot_of_a_sampler_job(store, tmp_path):
    from qiskit_aer_jobstore.notebook import plot_counts
    from qiskit_aer_jobstore.primitives import SamplerV2

    job = SamplerV2(seed=7).run([ghz(2), ghz(3)], shots=50)
    job.result()
    stored = store.get(job.job_id())
    found = experiment_counts(stored)
    assert [name for name, _ in found] == ["pub 0", "pub 1"]  # registers joined
    assert [sum(counts.values()) for _, counts in found] == [50, 50]
    assert set(found[1][1]) <= {"000", "111"}
    path = plot_counts(stored, tmp_path / "sampler.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
