"""Real clients under ``enable()``: Aer's primitives, qiskit-ibm-runtime's local testing mode,
qiskit-experiments and qiskit-algorithms. Every job stored once, under the id the client hands
out, and back equal to the live one, in this process and in a new one."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import json
import pickle

import numpy as np
import pytest
import qiskit_aer
import qiskit_aer.primitives as aer_primitives
from qiskit import QuantumCircuit
from qiskit.circuit.library import n_local
from qiskit.providers import JobStatus
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler import generate_preset_pass_manager

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import primitives as store_primitives

from .conftest import in_new_process
from .test_primitives import _ansatz, assert_same_primitive_result

rt = pytest.importorskip("qiskit_ibm_runtime")
fake_provider = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
local_service = pytest.importorskip("qiskit_ibm_runtime.fake_provider.local_service")
experiments = pytest.importorskip("qiskit_experiments.library")
framework = pytest.importorskip("qiskit_experiments.framework")
algorithms = pytest.importorskip("qiskit_algorithms")
optimizers = pytest.importorskip("qiskit_algorithms.optimizers")

# runtime's top-level SamplerV2 / EstimatorV2 are deprecated since 0.50 (still what users run)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHOTS = 50

# In a new process: each job id in argv retrieved; its result pickled, and what it says of itself.
RETRIEVE = """
import base64, json, pickle, sys
import qiskit_aer_jobstore as qaj
jobs = {i: qaj.AerSimulator().retrieve_job(i) for i in sys.argv[1:]}
print(json.dumps({i: {"result": base64.b64encode(pickle.dumps(j.result())).decode(),
                      "backend_name": j.backend_name, "tags": j.tags}
                  for i, j in jobs.items()}))
"""


def unpickle(text: str):
    return pickle.loads(base64.b64decode(text))


def stored_ids(**filters) -> list[str]:
    qaj.JobStore.default().flush()
    return [j.job_id() for j in qaj.JobStore().list(limit=None, **filters)]


def same_bits(a, b) -> bool:
    """Sampler results with the same bits, shot for shot, in every pub and register."""
    return len(a) == len(b) and all(
        list(x.data.keys()) == list(y.data.keys())
        and all(np.array_equal(x.data[k].array, y.data[k].array) for k in x.data.keys())
        for x, y in zip(a, b)
    )


def assert_stored_once_as_live(job, live) -> qaj.StoredAerJob:
    """``job`` is the store's only job, under its own id, with its live result, here and in a
    new process; the stored job."""
    qaj.JobStore.default().flush()
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert stored_ids() == [job.job_id()]
    assert_same_primitive_result(live, stored.result())
    there = in_new_process("-c", RETRIEVE, job.job_id())[job.job_id()]
    assert_same_primitive_result(live, unpickle(there["result"]))
    assert there["backend_name"] == stored.backend_name and there["tags"] == stored.tags
    return stored


# -- Aer's own primitives under enable() -----------------------------------------------------
def primitive_job(kind: str, module, **run_options):
    """A seeded sampler job (two pubs) or estimator job (no shots; precision 0.05, so Aer adds
    noise drawn with ``seed_simulator``) of the primitives in ``module`` (Aer's or the store's),
    with ``run_options`` in its options."""
    if kind == "sampler":
        sampler = module.SamplerV2(seed=11, options={"run_options": run_options})
        return sampler.run([(_ansatz(True), [[0.1], [0.7]]), (_ansatz(True), [1.2])], shots=SHOTS)
    observables = [SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XI", 0.5), ("IZ", 1.0)])]
    estimator = module.EstimatorV2(options={"run_options": {"seed_simulator": 5, **run_options}})
    return estimator.run([(_ansatz(False), observables, [[0.2], [0.9]])], precision=0.05)


@pytest.mark.parametrize("kind", ["sampler", "estimator"])
def test_aer_primitive_job_is_stored_once_under_its_id(kind):
    qaj.enable()
    job = primitive_job(kind, aer_primitives)
    live = job.result()
    stored = assert_stored_once_as_live(job, live)
    assert stored.primitive == kind
    if kind == "estimator":
        assert stored.manifest["shots"] is None and stored.manifest["precision"] == 0.05
        again = stored.rerun().result()
        assert np.array_equal(again[0].data.evs, live[0].data.evs)
        assert np.array_equal(again[0].data.stds, live[0].data.stds)
    else:
        assert same_bits(stored.rerun().result(), live)


@pytest.mark.parametrize("kind", ["sampler", "estimator"])
@pytest.mark.parametrize("module", [aer_primitives, store_primitives], ids=["aer", "store"])
def test_primitive_options_name_and_tag_the_job(kind, module):
    qaj.enable()
    job = primitive_job(kind, module, job_name="n", job_tags=["t"])
    job.result()
    assert stored_ids() == [job.job_id()]
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert stored.name == "n" and stored.tags == ["t"]


# -- qiskit-ibm-runtime's local testing mode ----------------------------------------------------
@functools.cache
def isa(measure: bool) -> QuantumCircuit:
    """A Bell pair transpiled for FakeManilaV2."""
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    if measure:
        qc.measure_all()
    pm = generate_preset_pass_manager(
        backend=fake_provider.FakeManilaV2(), optimization_level=1, seed_transpiler=1
    )
    return pm.run(qc)


def runtime_job(kind: str, mode, tags=("rt",)):
    """A seeded job of runtime's SamplerV2 or EstimatorV2 on ``mode``, tagged ``tags``."""
    primitive = (rt.SamplerV2 if kind == "sampler" else rt.EstimatorV2)(mode=mode)
    primitive.options.simulator.seed_simulator = 7
    primitive.options.environment.job_tags = list(tags)
    if kind == "sampler":
        return primitive.run([isa(True)], shots=SHOTS)
    circuit = isa(False)
    return primitive.run([(circuit, SparsePauliOp("ZZ").apply_layout(circuit.layout))],
                         precision=0.1)


@contextlib.contextmanager
def runtime_mode(name: str):
    """What runtime's primitives take as ``mode``: a fake device, an AerSimulator, or a local
    Session / Batch on the fake device."""
    if name == "fake":
        yield fake_provider.FakeManilaV2()
    elif name == "aer":
        yield qiskit_aer.AerSimulator()
    else:
        session_class = rt.Session if name == "session" else rt.Batch
        with session_class(backend=fake_provider.FakeManilaV2()) as session:
            yield session


@pytest.mark.parametrize(
    ("kind", "mode"),
    [(kind, mode) for mode in ("fake", "aer", "session", "batch")
     for kind in ("sampler", "estimator")],
)
def test_runtime_job_is_stored_once_under_its_id(kind, mode):
    qaj.enable()
    with runtime_mode(mode) as m:
        job = runtime_job(kind, m)
        live = job.result()
    stored = assert_stored_once_as_live(job, live)
    device = "aer_simulator" if mode == "aer" else "fake_manila"
    assert stored.backend_name == device
    assert stored.backend().name == device  # rebuilt, not the AerSimulator it came through
    assert stored.tags == ["rt"]


@pytest.mark.parametrize("session_class", ["Session", "Batch"])
def test_session_jobs_share_its_session_id(session_class):
    qaj.enable()
    fake = fake_provider.FakeManilaV2()
    before = runtime_job("sampler", fake)
    before.result()
    with getattr(rt, session_class)(backend=fake) as session:
        jobs = [runtime_job("sampler", session), runtime_job("estimator", session)]
        jobs.append(runtime_job("sampler", None))  # mode=None: the session of the with block
        for job in jobs:
            job.result()
        assert isinstance(session.session_id, str) and session.session_id
    ids = {job.job_id() for job in jobs}
    assert set(stored_ids()) == {before.job_id(), *ids}
    for job in jobs:
        assert qaj.AerSimulator().retrieve_job(job.job_id()).session_id == session.session_id
    listed = qaj.AerSimulator.from_backend(fake).jobs(session_id=session.session_id, limit=None)
    assert sorted(j.job_id() for j in listed) == sorted(ids)
    assert set(stored_ids(session_id=session.session_id)) == ids


def test_fake_device_jobs_are_named_after_the_device():
    qaj.enable()
    fake = fake_provider.FakeManilaV2()
    through_runtime = runtime_job("sampler", fake)
    through_runtime.result()
    direct = qaj.AerSimulator.from_backend(fake).run(isa(True), shots=SHOTS, seed_simulator=7)
    direct.result()
    ids = {through_runtime.job_id(), direct.job_id()}
    assert set(stored_ids()) == ids
    assert set(stored_ids(backend_name="fake_manila")) == ids
    device = qaj.AerSimulator.from_backend(fake_provider.FakeManilaV2())
    assert {j.job_id() for j in device.jobs(limit=None)} == ids
    assert qaj.AerSimulator().jobs(limit=None) == []


def test_runtime_jobs_follow_the_save_jobs_setting(monkeypatch):
    qaj.enable()
    monkeypatch.setenv("QISKIT_AER_SAVE_JOBS", "0")
    runtime_job("sampler", fake_provider.FakeManilaV2()).result()
    qaj.JobStore.default().flush()
    assert qaj.JobStore.default().list(limit=None) == []


def test_rerun_of_a_seeded_runtime_sampler_job():
    qaj.enable()
    job = runtime_job("sampler", fake_provider.FakeManilaV2())
    live = job.result()
    qaj.JobStore.default().flush()
    again = qaj.AerSimulator().retrieve_job(job.job_id()).rerun()
    assert same_bits(again.result(), live)


def test_executor_sampler_job_is_stored_once_under_its_id():
    executor_sampler = pytest.importorskip("qiskit_ibm_runtime.executor_sampler")
    qaj.enable()
    sampler = executor_sampler.Sampler(mode=fake_provider.FakeManilaV2())
    sampler.options.simulator.seed_simulator = 7
    job = sampler.run([isa(True)], shots=SHOTS)
    assert_stored_once_as_live(job, job.result())


def test_runtime_job_in_a_job_context():
    qaj.enable()
    with qaj.job_context(job_name="block", job_tags=["b"]) as ctx:
        job = runtime_job("sampler", fake_provider.FakeManilaV2())
        job.result()
    qaj.JobStore.default().flush()
    stored = qaj.AerSimulator().retrieve_job(job.job_id())
    assert stored.name == "block" and sorted(stored.tags) == ["b", "rt"]
    assert stored.session_id == ctx.session_id


# -- runtime's own way back: QiskitRuntimeLocalService.jobs / job / delete_job ----------------
def test_local_service_lists_and_returns_runtime_jobs():
    qaj.enable()
    fake = fake_provider.FakeManilaV2()
    qaj.AerSimulator().run(isa(True), shots=SHOTS).result()  # neither a plain Aer job
    store_primitives.SamplerV2(seed=1).run([isa(True)], shots=SHOTS).result()  # nor the store's
    live = {}

    def run(name, kind, mode, tags):
        job = runtime_job(kind, mode, tags)
        live[name] = (job.job_id(), job.result())

    run("s1", "sampler", fake, ["a", "b"])
    run("e1", "estimator", fake, ["a"])
    middle = dt.datetime.now()  # naive local time, as runtime takes it
    run("s2", "sampler", qiskit_aer.AerSimulator(), [])
    with rt.Session(backend=fake) as session:
        run("s3", "sampler", session, [])
    qaj.JobStore.default().flush()
    ids = {name: job_id for name, (job_id, _) in live.items()}
    service = local_service.QiskitRuntimeLocalService()

    def listed(**filters) -> list[str]:
        by_id = {job_id: name for name, job_id in ids.items()}
        return [by_id.get(j.job_id(), j.job_id()) for j in service.jobs(**filters)]

    assert listed() == ["s3", "s2", "e1", "s1"]  # only runtime jobs, newest first
    assert listed(descending=False) == ["s1", "e1", "s2", "s3"]
    assert listed(limit=2, skip=1) == ["s2", "e1"]
    assert listed(backend_name="fake_manila") == ["s3", "e1", "s1"]
    assert listed(program_id="estimator") == ["e1"]
    assert listed(job_tags=["a", "b"]) == ["s1"]  # jobs with all of them
    assert listed(job_tags=["a"]) == ["e1", "s1"]
    assert listed(session_id=session.session_id) == ["s3"]
    assert listed(pending=True) == [] and listed(pending=False) == listed()
    assert listed(created_after=middle) == ["s3", "s2"]
    assert listed(created_before=middle) == ["e1", "s1"]

    for name, kind, tags in [("s1", "sampler", ["a", "b"]), ("e1", "estimator", ["a"])]:
        job = rt.QiskitRuntimeService(channel="local").job(ids[name])
        assert job.job_id() == ids[name] and job.status() == JobStatus.DONE
        assert isinstance(job.creation_date(), dt.datetime)
        assert job.tags == tags and job.primitive_id == kind
        assert job.backend().name == "fake_manila"
        assert_same_primitive_result(live[name][1], job.result())
    assert service.job(ids["s3"]).session_id == session.session_id

    service.delete_job(ids["s1"])
    with pytest.raises(qaj.JobNotFoundError):
        service.job(ids["s1"])
    assert listed() == ["s3", "s2", "e1"]


def test_disable_takes_the_service_methods_away():
    qaj.enable()
    names = ("jobs", "job", "delete_job")
    assert all(hasattr(local_service.QiskitRuntimeLocalService, n) for n in names)
    qaj.disable()
    assert not any(hasattr(local_service.QiskitRuntimeLocalService, n) for n in names)


# -- qiskit-experiments ---------------------------------------------------------------------
DELAYS = [1e-6, 5e-5, 1e-4, 1.5e-4, 2e-4]

# In a new process: the experiment (its config in argv[1]) analysed again from the stored jobs.
REANALYSE = """
import base64, json, pickle, sys
import qiskit_aer_jobstore as qaj
from qiskit_experiments.framework import ExperimentData, ExperimentDecoder
experiment = json.loads(sys.argv[1], cls=ExperimentDecoder).experiment()
data = ExperimentData(experiment=experiment)
data.add_jobs([qaj.AerSimulator().retrieve_job(i) for i in sys.argv[2:]])
data.block_for_results()
results = experiment.analysis.run(data).block_for_results().analysis_results(dataframe=True)
values = dict(zip(results["name"], results["value"]))
print(json.dumps(base64.b64encode(pickle.dumps(values)).decode()))
"""


def experiment(kind: str):
    if kind == "T1":
        return experiments.T1(physical_qubits=(0,), delays=DELAYS)
    qc = QuantumCircuit(1)
    qc.h(0)
    return experiments.StateTomography(qc, physical_qubits=(0,))


def assert_same_value(a, b) -> None:
    if hasattr(a, "nominal_value"):  # a ufloat
        assert (b.nominal_value, b.std_dev) == (a.nominal_value, a.std_dev)
    elif hasattr(a, "data"):  # a DensityMatrix
        assert type(b) is type(a) and np.array_equal(b.data, a.data)
    else:
        assert b == a


@pytest.mark.parametrize("backend_run", [False, True], ids=["sampler", "backend_run"])
@pytest.mark.parametrize("kind", ["T1", "StateTomography"])
def test_experiment_reanalysed_in_a_new_process_from_its_job_ids(kind, backend_run):
    qaj.enable()
    data = experiment(kind).run(
        fake_provider.FakeManilaV2(), shots=100, seed_simulator=7, backend_run=backend_run
    ).block_for_results()
    assert data.status().name == "DONE" and data.job_ids
    results = data.analysis_results(dataframe=True)
    live = dict(zip(results["name"], results["value"]))
    qaj.JobStore.default().flush()
    for job_id in data.job_ids:
        qaj.AerSimulator().retrieve_job(job_id)
    config = json.dumps(experiment(kind).config(), cls=framework.ExperimentEncoder)
    again = unpickle(in_new_process("-c", REANALYSE, config, *data.job_ids))
    assert sorted(again) == sorted(live)
    for name, value in live.items():
        assert_same_value(value, again[name])


# -- qiskit-algorithms ----------------------------------------------------------------------
# In a new process: how many jobs each filter (argv[1], JSON) lists, and their primitives.
COUNT = """
import json, sys
import qiskit_aer_jobstore as qaj
out = {name: sorted(j.primitive or "" for j in qaj.JobStore().list(limit=None, **filters))
       for name, filters in json.loads(sys.argv[1]).items()}
print(json.dumps(out))
"""


def test_vqe_jobs_found_by_the_blocks_name_tags_and_session():
    qaj.enable()
    estimator = aer_primitives.EstimatorV2()
    calls = []
    run = estimator.run

    def counted(*args, **kwargs):
        calls.append(1)
        return run(*args, **kwargs)

    estimator.run = counted
    hamiltonian = SparsePauliOp.from_list([("ZZ", 1.0), ("XI", 0.5), ("IX", 0.5)])
    ansatz = n_local(2, "ry", "cz", reps=1)
    vqe = algorithms.VQE(estimator, ansatz, optimizers.COBYLA(maxiter=8),
                         initial_point=[0.1] * ansatz.num_parameters)
    with qaj.job_context(job_name="vqe-h2", job_tags=["h2", "cobyla"]) as ctx:
        vqe.compute_minimum_eigenvalue(hamiltonian)
    count = len(calls)
    assert count >= 8
    run([(ansatz, hamiltonian, [0.1] * ansatz.num_parameters)]).result()  # outside the block
    filters = {
        "name": {"job_name": "vqe-h2"},
        "tags": {"job_tags": ["h2", "cobyla"], "job_tags_operator": "AND"},
        "session": {"session_id": ctx.session_id},
    }
    assert len(stored_ids()) == count + 1  # one per estimator job, none for the backend's
    found = {name: qaj.JobStore().list(limit=None, **f) for name, f in filters.items()}
    ids = {name: sorted(j.job_id() for j in jobs) for name, jobs in found.items()}
    assert len(ids["name"]) == count and ids["tags"] == ids["name"] == ids["session"]
    assert all(j.primitive == "estimator" for j in found["name"])
    there = in_new_process("-c", COUNT, json.dumps(filters))
    assert there == {name: ["estimator"] * count for name in filters}
