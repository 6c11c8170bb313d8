"""``job_context``: one name, tags and session id for every job stored inside a block, whoever
runs it (a store-enabled backend, the store's primitives, Aer's own under ``enable()``).

qiskit-ibm-runtime and qiskit-algorithms inside a block: tests/test_clients.py.
"""

from __future__ import annotations

import asyncio

import pytest
import qiskit_aer
import qiskit_aer.primitives as aer_primitives
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import primitives as store_primitives

from .conftest import in_new_process


def _circuit(measure: bool = True) -> QuantumCircuit:
    qc = QuantumCircuit(2, name="pair")
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    return qc


_ENERGY = [(_circuit(False), SparsePauliOp("ZZ"))]

# One job of each kind that job_context must reach; the first four take job_name / job_tags.
KINDS = {
    "backend.run": lambda **kw: qaj.AerSimulator().run(_circuit(), shots=20, **kw),
    "qiskit_aer.AerSimulator.run": lambda **kw: qiskit_aer.AerSimulator().run(_circuit(), **kw),
    "store SamplerV2": lambda **kw: store_primitives.SamplerV2(seed=1).run([_circuit()], **kw),
    "store EstimatorV2": lambda **kw: store_primitives.EstimatorV2().run(_ENERGY, **kw),
    "aer SamplerV2": lambda: aer_primitives.SamplerV2(seed=1).run([_circuit()]),
    "aer EstimatorV2": lambda: aer_primitives.EstimatorV2().run(_ENERGY),
}
TAKES_NAMES = ["backend.run", "qiskit_aer.AerSimulator.run", "store SamplerV2", "store EstimatorV2"]


def _run(kind: str = "backend.run", **run_options):
    """One job of ``kind`` (``run_options`` go to its run()), waited for."""
    job = KINDS[kind](**run_options)
    job.result()
    return job


def _stored(job) -> qaj.StoredAerJob:
    qaj.JobStore.default().flush()
    return qaj.AerSimulator().retrieve_job(job.job_id())


def _all_ids() -> list[str]:
    qaj.JobStore.default().flush()
    return [j.job_id() for j in qaj.JobStore().list(limit=None)]


def test_the_context_says_what_it_gives():
    qaj.enable()
    with qaj.job_context() as first:
        assert isinstance(first.session_id, str) and first.session_id
        assert first.job_name is None and first.job_tags == ()
    with qaj.job_context() as second:
        assert isinstance(second.session_id, str) and second.session_id != first.session_id
    with qaj.job_context(job_name="n", job_tags=["a", "b"], session_id="s-1") as given:
        assert given.job_name == "n" and given.session_id == "s-1"
        assert isinstance(given.job_tags, tuple) and given.job_tags == ("a", "b")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_job_in_the_block_gets_its_name_tags_and_session(kind):
    qaj.enable()
    own = ["own"] if kind in TAKES_NAMES else []
    options = {"job_tags": own} if own else {}
    with qaj.job_context(job_name="block", job_tags=["a", "b"]) as ctx:
        job = _run(kind, **options)
    after = _run(kind, **options)  # outside the block: nothing of it
    assert sorted(_all_ids()) == sorted([job.job_id(), after.job_id()])  # one job each
    stored = _stored(job)
    assert stored.name == "block"
    assert sorted(stored.tags) == sorted([*own, "a", "b"])
    assert stored.session_id == ctx.session_id
    outside = _stored(after)
    assert outside.name is None and outside.tags == own and outside.session_id is None


def test_nested_blocks_add_tags_and_the_innermost_name_and_session_win():
    qaj.enable()
    with qaj.job_context(job_name="outer", job_tags=["o"]) as outer:
        with qaj.job_context(job_name="inner", job_tags=["i"]) as inner:
            in_inner = _run("store SamplerV2", job_tags=["own"])
        in_outer = _run("store SamplerV2", job_tags=["own"])
    assert inner.session_id != outer.session_id
    stored = _stored(in_inner)
    assert stored.name == "inner" and sorted(stored.tags) == ["i", "o", "own"]
    assert stored.session_id == inner.session_id
    stored = _stored(in_outer)
    assert stored.name == "outer" and sorted(stored.tags) == ["o", "own"]
    assert stored.session_id == outer.session_id


@pytest.mark.parametrize("kind", TAKES_NAMES)
def test_a_name_given_to_run_wins_over_the_blocks(kind):
    qaj.enable()
    with qaj.job_context(job_name="block", job_tags=["b"]) as ctx:
        job = _run(kind, job_name="mine", job_tags=["own"])
    stored = _stored(job)
    assert stored.name == "mine" and sorted(stored.tags) == ["b", "own"]
    assert stored.session_id == ctx.session_id


def test_asyncio_tasks_created_in_the_block_inherit_it():
    qaj.enable()

    async def one_job():
        await asyncio.sleep(0.01)
        return _run("aer SamplerV2")

    async def main():
        with qaj.job_context(job_name="task", job_tags=["t"]) as ctx:
            task = asyncio.create_task(one_job())
        return ctx, await task  # the task runs after the block was left

    ctx, job = asyncio.run(main())
    stored = _stored(job)
    assert stored.name == "task" and stored.tags == ["t"] and stored.session_id == ctx.session_id


def test_concurrent_tasks_keep_their_own_blocks():
    qaj.enable()

    async def worker(name: str):
        with qaj.job_context(job_name=name, job_tags=[name]) as ctx:
            await asyncio.sleep(0.01)  # the other task enters its block here
            job = qaj.AerSimulator().run(_circuit(), shots=20)
            await asyncio.sleep(0.01)
            job.result()
        return ctx, job

    async def main():
        return await asyncio.gather(worker("a"), worker("b"))

    for ctx, job in asyncio.run(main()):
        stored = _stored(job)
        assert stored.name == ctx.job_name and stored.tags == [ctx.job_name]
        assert stored.session_id == ctx.session_id


def test_the_session_filter_lists_exactly_the_blocks_jobs():
    qaj.enable()
    backend = qaj.AerSimulator()
    before = _run()
    with qaj.job_context() as block:
        ours = {_run().job_id(), _run("store SamplerV2").job_id()}
    with qaj.job_context() as other:
        theirs = _run().job_id()
    assert sorted(_all_ids()) == sorted([before.job_id(), theirs, *ours])
    for listing in (backend.jobs, backend.local_jobs, qaj.JobStore().list):
        assert {j.job_id() for j in listing(session_id=block.session_id, limit=None)} == ours
        assert [j.job_id() for j in listing(session_id=other.session_id, limit=None)] == [theirs]
    assert backend.jobs(session_id="no-such-session") == []
    rows = in_new_process(
        "-m", "qiskit_aer_jobstore.cli", "list", "--session", block.session_id, "--json",
        "--limit", "0",
    )
    assert sorted(row["job_id"] for row in rows) == sorted(ours)


@pytest.mark.parametrize(
    "values", [{"job_tags": [1]}, {"job_tags": ["ok", None]}, {"job_name": 3}, {"session_id": 3}]
)
def test_bad_values_are_refused(values):
    qaj.enable()
    with pytest.raises(qaj.JobStoreError):
        with qaj.job_context(**values):
            pass
