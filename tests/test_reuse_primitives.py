"""reuse_results for primitive jobs: an identical seeded SamplerV2 / EstimatorV2 job is served
from the store (its PrimitiveResult, bits and evs equal); any change to the pubs, shots,
precision or seed runs afresh; Aer's own primitives do the same under enable()."""

from __future__ import annotations

import pytest
import qiskit_aer.primitives
from qiskit.quantum_info import SparsePauliOp

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.manifest import PAYLOAD
from qiskit_aer_jobstore.primitives import EstimatorV2, SamplerV2

from .test_primitives import _ansatz, assert_same_primitive_result

OBSERVABLES = [SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XI", 0.5), ("IZ", 1.0)])]


def _sample(seed=3, values=0.4, shots=100, sampler_class=SamplerV2, **kwargs):
    sampler = sampler_class(seed=seed, **kwargs)
    return sampler.run([(_ansatz(True), [[values], [0.7]])], shots=shots)


def _estimate(seed=5, values=0.4, observables=None, precision=0.02, estimator_class=EstimatorV2,
              **kwargs):
    options = {"run_options": {"seed_simulator": seed} if seed is not None else {}}
    estimator = estimator_class(options=options, **kwargs)
    pub = (_ansatz(False), observables or OBSERVABLES, [[values], [0.9]])
    return estimator.run([pub], precision=precision)


def test_sampler_bits_are_reused(store):
    first = _sample(reuse_results=True)
    live = first.result()
    assert first.reused_from is None
    again = _sample(reuse_results=True)
    assert again.reused_from == first.job_id() and again.job_id() != first.job_id()
    assert_same_primitive_result(live, again.result())
    assert again.done() and again.status().name == "DONE"

    store.flush()
    stored = store.get(again.job_id())
    assert stored.primitive == "sampler" and stored.reused_from == first.job_id()
    assert PAYLOAD not in stored.manifest["members"]  # the payload is not stored twice
    assert stored.manifest["content_key"] == store.manifest(first.job_id())["content_key"]
    assert_same_primitive_result(live, stored.result())
    assert [j.job_id() for j in store.list(reused=True)] == [again.job_id()]
    assert [j.primitive for j in store.list()] == ["sampler", "sampler"]
    assert store.check() == []


def test_estimator_evs_are_reused(store):
    first = _estimate(reuse_results=True)
    live = first.result()
    again = _estimate(reuse_results=True)
    assert again.reused_from == first.job_id()
    assert_same_primitive_result(live, again.result())
    store.flush()
    stored = store.get(again.job_id())
    assert stored.primitive == "estimator" and stored.reused_from == first.job_id()
    assert_same_primitive_result(live, stored.result())


CHANGES = {
    "sampler parameter value": lambda: _sample(values=0.41, reuse_results=True),
    "sampler shots": lambda: _sample(shots=101, reuse_results=True),
    "sampler seed": lambda: _sample(seed=4, reuse_results=True),
    "estimator parameter value": lambda: _estimate(values=0.41, reuse_results=True),
    "estimator observable": lambda: _estimate(
        observables=[SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XI", 0.5), ("IZ", 1.01)])],
        reuse_results=True),
    "estimator precision": lambda: _estimate(precision=0.021, reuse_results=True),
    "estimator seed": lambda: _estimate(seed=6, reuse_results=True),
}


@pytest.mark.parametrize("change", CHANGES)
def test_one_change_forces_a_run(change):
    kind = _sample if change.startswith("sampler") else _estimate
    kind().result()
    changed = CHANGES[change]()
    assert changed.reused_from is None
    changed.result()
    assert CHANGES[change]().reused_from == changed.job_id()  # the changed job itself serves


@pytest.mark.parametrize("run", [_sample, _estimate])
def test_no_seed_is_never_reused_unless_unseeded(run):
    run(seed=None).result()
    assert run(seed=None, reuse_results=True).reused_from is None
    assert run(seed=None, reuse_results="unseeded").reused_from is not None


def test_off_by_default_and_bad_values_refused():
    _sample().result()
    assert _sample().reused_from is None
    with pytest.raises(qaj.JobStoreError, match="reuse_results"):
        SamplerV2(reuse_results="sometimes")


@pytest.mark.parametrize("level", ["job_context", "env", "settings", "backend_options"])
def test_aer_primitives_under_enable(level, store, monkeypatch, job_store_env):
    qaj.enable()
    kwargs = {}
    if level == "env":
        monkeypatch.setenv("QISKIT_AER_REUSE_RESULTS", "1")
    elif level == "settings":
        (job_store_env / "settings.conf").write_text("[aer]\nreuse_results = true\n")
    with qaj.job_context(reuse_results=True if level == "job_context" else None):
        for run, aer_class in ((_sample, "SamplerV2"), (_estimate, "EstimatorV2")):
            cls = getattr(qiskit_aer.primitives, aer_class)
            key = "sampler_class" if run is _sample else "estimator_class"
            if level == "backend_options":  # the simulator Aer's primitive builds says so
                kwargs = {"options": {"backend_options": {"reuse_results": True}}}
                if run is _estimate:
                    kwargs["options"]["run_options"] = {"seed_simulator": 5}
            first = _call(run, cls, key, kwargs)
            live = first.result()
            again = _call(run, cls, key, kwargs)
            assert again.reused_from == first.job_id()
            assert_same_primitive_result(live, again.result())
    store.flush()
    assert {j.primitive for j in store.list(reused=True)} == {"sampler", "estimator"}


def _call(run, cls, key, kwargs):
    if "options" not in kwargs:
        return run(**{key: cls})
    if run is _sample:
        return cls(seed=3, **kwargs).run([(_ansatz(True), [[0.4], [0.7]])], shots=100)
    pub = (_ansatz(False), OBSERVABLES, [[0.4], [0.9]])
    return cls(**kwargs).run([pub], precision=0.02)


def test_a_reused_primitive_job_in_a_job_context_carries_its_names(store):
    _sample().result()
    with qaj.job_context(job_name="again", job_tags=["ctx"], reuse_results=True) as ctx:
        job = _sample()
    assert job.reused_from is not None
    store.flush()
    stored = store.get(job.job_id())
    assert stored.name == "again" and stored.tags == ["ctx"]
    assert stored.session_id == ctx.session_id


def test_deleting_the_original_keeps_a_primitive_reuse_readable(store):
    first = _estimate(reuse_results=True)
    live = first.result()
    again = _estimate(reuse_results=True)
    assert again.reused_from == first.job_id()
    store.flush()
    assert store.delete(first.job_id())
    stored = store.get(again.job_id())
    assert PAYLOAD in stored.manifest["members"] and stored.reused_from == first.job_id()
    assert_same_primitive_result(live, stored.result())
    assert store.check() == []
