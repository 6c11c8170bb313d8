"""Stored jobs in Jupyter: the listing as an HTML table, a job as a card, DataFrames, counts."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from qiskit import QuantumCircuit

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import cards
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
        html = without_sort_script(html)
        assert "<script" not in html and "&lt;script&gt;" in html and "a&amp;b" in html


def without_sort_script(page: str) -> str:
    """``page`` without the job table's sort script: the one script allowed, constant code
    (only the table's id changes) that reads no data as code."""
    found = re.search(r"id='(aer-jobs-[0-9a-f]{12})'", page)
    if found is None:
        return page
    script = cards._SORT_SCRIPT % found.group(1)
    assert page.count(script) == 1
    return page.replace(script, "")


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


HOSTILE = "<script>alert(1)</script>"


def test_job_card_draws_counts_and_the_first_circuit(store, backend):
    circuits = [ghz(2, name=HOSTILE), ghz(3, name="second"), ghz(2, name="third")]
    job = backend.run(circuits, shots=64, seed_simulator=1)
    job.result()
    store.flush()
    card = without_sort_script(store.get(job.job_id())._repr_html_())
    assert "<script" not in card and "&lt;script&gt;" in card
    assert card.count("class='aer-histogram'") == cards.CARD_HISTOGRAMS
    assert "More experiments have counts" in card
    assert card.count("class='aer-circuit'") == 1 and "(1 of 3)" in card
    assert "<?xml" not in card  # inline SVG, no file, no document prologue


def test_job_card_falls_back_to_text_without_a_drawing(store, backend, monkeypatch):
    monkeypatch.setattr(cards, "circuit_svg", lambda circuit: None)  # as without matplotlib
    job = backend.run(ghz(2, name=HOSTILE), shots=16)
    job.result()
    store.flush()
    card = store.get(job.job_id())._repr_html_()
    assert "<pre>" in card and "aer-circuit'" not in card
    assert "<script" not in card


def test_cards_of_failed_or_running_jobs_have_no_pictures(ids, store):
    failed = store.get(ids["failed"])._repr_html_()
    assert "aer-histogram" not in failed and "AerError: out of memory" in failed
    store.save(
        qaj.JobRecord(job_id="running-1", backend_name="sim", status="RUNNING", manifest_only=True)
    )
    running = store.get("running-1")._repr_html_()
    assert "aer-histogram" not in running and "aer-circuit" not in running


def test_job_table_sorts_colours_statuses_and_draws_sparklines_of_small_jobs(ids, store):
    page = store.list(limit=None)._repr_html_()
    assert page.startswith("<table class='aer-jobs' id='aer-jobs-")
    assert cards._SORT_SCRIPT.split("%s")[1] in page  # the sort, bound to this table
    assert f"color:{cards.STATUS_COLOURS['ERROR']};font-weight:bold'>ERROR" in page
    assert f"color:{cards.STATUS_COLOURS['DONE']};font-weight:bold'>DONE" in page
    size = store.get(ids["bell"]).size
    assert f"data-v='{size}'" in page  # sizes sort as numbers
    # bell and pair measured; the statevector job, the failed and the manifest-only one not
    assert page.count("class='aer-sparkline'") == 2


def test_sparklines_read_only_the_first_small_done_jobs(ids, store, monkeypatch):
    read = []
    real = cards._first_counts
    monkeypatch.setattr(cards, "_first_counts", lambda job, n: read.append(job) or real(job, n))
    jobs = store.list(limit=None)
    monkeypatch.setattr(cards, "SPARKLINE_ROWS", 2)
    cards.sparklines(jobs)
    assert len(read) <= 2 and {j.job_id() for j in read} <= {j.job_id() for j in jobs[:2]}
    read.clear()
    monkeypatch.setattr(cards, "SPARKLINE_ROWS", 20)
    monkeypatch.setattr(cards, "SPARKLINE_MAX_BYTES", 0)
    assert cards.sparklines(jobs) == {} and read == []
