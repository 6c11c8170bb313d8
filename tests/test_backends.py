"""The hook into Aer: drop-in backends, enable()/disable(), save_jobs at every level, execute."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import qiskit_aer
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobError, JobStatus
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit_aer.backends.aerbackend import AerBackend

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import AerSimulator, execute

from .conftest import ghz


def stored_ids(backend) -> set[str]:
    return {j.job_id() for j in backend.local_jobs(limit=None)}


@pytest.mark.parametrize(
    "cls", [qaj.AerSimulator, qaj.QasmSimulator, qaj.StatevectorSimulator, qaj.UnitarySimulator]
)
def test_drop_in_backends_are_aer_backends_and_save(cls):
    backend = cls()
    assert isinstance(backend, getattr(qiskit_aer, cls.__name__))
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    if cls in (qaj.AerSimulator, qaj.QasmSimulator):
        qc.measure_all()
    job = backend.run(qc)
    live = job.result()
    stored = backend.retrieve_job(job.job_id())
    assert stored.result().to_dict() == live.to_dict()
    assert [j.job_id() for j in backend.jobs()] == [job.job_id()]


def test_from_backend_works_and_saves():
    fake = GenericBackendV2(num_qubits=3, seed=1)
    backend = AerSimulator.from_backend(fake)
    assert isinstance(backend, qiskit_aer.AerSimulator)
    job = execute(ghz(3), backend, shots=64, seed_simulator=3, seed_transpiler=1)
    live = job.result()
    assert backend.retrieve_job(job.job_id()).result().get_counts() == live.get_counts()


def test_save_on_by_default_and_off_per_run(backend, bell):
    on = backend.run(bell)
    off = backend.run(bell, save_jobs=False)
    on.result(), off.result()
    assert stored_ids(backend) == {on.job_id()}


def test_save_off_per_backend_and_per_run_override(bell):
    backend = AerSimulator(save_jobs=False)
    off = backend.run(bell)
    forced = backend.run(bell, save_jobs=True)
    off.result(), forced.result()
    assert stored_ids(backend) == {forced.job_id()}
    backend.set_options(save_jobs=True)
    again = backend.run(bell)
    again.result()
    assert again.job_id() in stored_ids(backend)


def test_save_off_globally_by_env(monkeypatch, backend, bell):
    monkeypatch.setenv("QISKIT_AER_SAVE_JOBS", "0")
    backend.run(bell).result()
    assert stored_ids(backend) == set()
    job = backend.run(bell, save_jobs=True)
    job.result()
    assert stored_ids(backend) == {job.job_id()}


def test_save_off_globally_by_settings_conf(job_store_env, backend, bell):
    (job_store_env / "settings.conf").write_text("[aer]\nsave_jobs = false\n")
    backend.run(bell).result()
    assert stored_ids(backend) == set()


def test_invalid_global_setting_names_it(monkeypatch, backend, bell):
    monkeypatch.setenv("QISKIT_AER_SAVE_JOBS", "maybe")
    with pytest.raises(qaj.JobStoreSettingsError, match="QISKIT_AER_SAVE_JOBS"):
        backend.run(bell)


def test_store_options_never_reach_the_simulator(monkeypatch, backend, bell):
    seen = []
    import qiskit_aer.backends.aerbackend as aerbackend

    original = aerbackend.generate_aer_config

    def spy(circuits, backend_options, **run_options):
        seen.append(set(run_options) | set(backend_options.__dict__))
        return original(circuits, backend_options, **run_options)

    monkeypatch.setattr(aerbackend, "generate_aer_config", spy)
    backend.set_options(save_jobs=True)
    backend.run(bell, save_jobs=True, job_name="n", job_tags=["t"], shots=10).result()
    assert seen and not seen[0] & {"save_jobs", "job_name", "job_tags", "_aer_jobstore"}
    assert not hasattr(backend.options, "save_jobs")


def test_result_types_equal_after_retrieval(backend):
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.save_statevector()
    qc.measure_all()
    job = backend.run(qc, shots=50, memory=True, seed_simulator=7)
    live = job.result()
    stored = backend.retrieve_job(job.job_id()).result()
    assert stored.get_counts() == live.get_counts()
    assert stored.get_memory() == live.get_memory()
    assert stored.get_statevector() == live.get_statevector()
    assert stored.to_dict() == live.to_dict()


def test_multi_circuit_job_and_parameter_binds(backend):
    theta = Parameter("theta")
    qc = QuantumCircuit(1, name="rot")
    qc.rx(theta, 0)
    qc.measure_all()
    binds = [{theta: [0.0, 3.14159]}, {theta: [1.0]}]
    job = backend.run([qc, qc.copy("rot2")], parameter_binds=binds, shots=20, seed_simulator=1)
    live = job.result()
    stored = backend.retrieve_job(job.job_id())
    assert stored.result().to_dict() == live.to_dict()
    assert stored.parameter_binds() == binds
    assert [c.name for c in stored.circuits()] == ["rot", "rot2"]
    assert stored.manifest["num_circuits"] == 2
    assert stored.run_options()["shots"] == 20


def test_failed_job_is_stored_as_error(backend):
    qc = QuantumCircuit(1)
    qc.rx(Parameter("a"), 0)
    qc.measure_all()
    job = backend.run(qc)  # parameters but no binds: the simulation raises
    with pytest.raises(Exception, match="parameter"):
        job.result()
    stored = backend.retrieve_job(job.job_id())
    assert stored.status() is JobStatus.ERROR
    assert "parameter" in stored.error_message()
    with pytest.raises(JobError, match="parameter"):
        stored.result()


def test_execute_transpiles_and_saves(backend):
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    job = execute(qc, backend, save_jobs=True, shots=100, seed_simulator=5, optimization_level=1)
    live = job.result()
    assert backend.retrieve_job(job.job_id()).result().get_counts() == live.get_counts()
    job2 = execute(qc, backend, save_jobs=False)
    job2.result()
    assert stored_ids(backend) == {job.job_id()}


def test_execute_refuses_to_silently_not_save_on_plain_aer(bell):
    with pytest.raises(qaj.JobStoreError, match="not store-enabled"):
        execute(bell, qiskit_aer.AerSimulator(), save_jobs=True)
    execute(bell, qiskit_aer.AerSimulator(), save_jobs=False).result()


def test_enable_grafts_and_disable_restores_exactly(bell):
    before = dict(AerBackend.__dict__)
    qaj.enable()
    plain = qiskit_aer.AerSimulator()
    job = plain.run(bell, shots=10)
    job.result()
    assert plain.retrieve_job(job.job_id()).result().get_counts() == job.result().get_counts()
    # the drop-in classes do not save twice while enabled
    dropin = AerSimulator()
    job2 = dropin.run(bell, shots=10)
    job2.result()
    assert len(dropin.local_jobs(limit=None)) == 2
    qaj.disable()
    assert dict(AerBackend.__dict__) == before
    assert not hasattr(qiskit_aer.AerSimulator(), "retrieve_job")
    qiskit_aer.AerSimulator().run(bell, shots=10).result()
    assert len(dropin.local_jobs(limit=None)) == 2


def test_saved_in_one_process_retrieved_in_another(backend, bell):
    script = textwrap.dedent(
        """
        from qiskit import QuantumCircuit
        from qiskit_aer_jobstore import AerSimulator, execute
        qc = QuantumCircuit(2); qc.h(0); qc.cx(0, 1); qc.measure_all()
        job = execute(qc, AerSimulator(), save_jobs=True, shots=200, seed_simulator=11)
        print(job.job_id(), job.result().get_counts())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.split(" ", 1)
    job_id = out[0]
    assert [j.job_id() for j in backend.jobs()] == [job_id]
    assert [j.job_id() for j in backend.local_jobs()] == [job_id]
    assert str(backend.retrieve_job(job_id).result().get_counts()) == out[1].strip()

    job = backend.run(bell, shots=30, seed_simulator=2)
    counts = job.result().get_counts()
    backend.job_store.flush()
    check = (
        "import sys; from qiskit_aer_jobstore import AerSimulator; "
        "print(AerSimulator().retrieve_job(sys.argv[1]).result().get_counts())"
    )
    got = subprocess.run([sys.executable, "-c", check, job.job_id()], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert got == str(counts)


def test_job_saved_at_exit_without_flush():
    script = (
        "from qiskit import QuantumCircuit; from qiskit_aer_jobstore import AerSimulator\n"
        "qc = QuantumCircuit(1); qc.x(0); qc.measure_all()\n"
        "print(AerSimulator().run(qc).job_id())\n"
    )
    job_id = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert AerSimulator().retrieve_job(job_id).result().get_counts() == {"1": 1024}


def test_unknown_id_says_where_it_looked(backend, store):
    with pytest.raises(qaj.JobNotFoundError, match=str(store.path)):
        backend.retrieve_job("no-such-job")
