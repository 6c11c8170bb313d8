"""reuse_results: an identical seeded job is served from the store, never simulated twice;
anything that can change the result forces a fresh run; the reuse is its own stored job."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest
import qiskit_aer
from click.testing import CliRunner
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.providers import JobError, JobStatus
from qiskit_aer.noise import NoiseModel, depolarizing_error

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.cli import cli
from qiskit_aer_jobstore.contentkey import content_key
from qiskit_aer_jobstore.manifest import PAYLOAD

from .conftest import ghz, rewrite_archive
from .test_lifecycle import FailingSimulator, GatedSimulator

# Built the same way here and in a child process: the content key must not depend on the process.
CIRCUIT = """
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
theta = Parameter("theta")
qc = QuantumCircuit(3, name="sweep")
qc.h(0); qc.rx(theta, 1); qc.rz(0.25, 2); qc.cx(0, 1); qc.cx(1, 2)
qc.measure_all()
"""


def _circuit():
    scope: dict = {}
    exec(CIRCUIT, scope)  # noqa: S102 - the same text the child process runs
    return scope["qc"], scope["theta"]


def _noise(p: float = 0.01) -> NoiseModel:
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(p, 1), ["h", "rx"])
    return noise


def _run(backend, qc, theta, **options):
    options.setdefault("shots", 200)
    options.setdefault("seed_simulator", 11)
    binds = options.pop("binds", 0.4)
    return backend.run(qc, parameter_binds=[{theta: [binds]}], **options)


def test_seeded_job_is_reused_in_a_new_process(store):
    script = CIRCUIT + textwrap.dedent(
        """
        import json
        import qiskit_aer_jobstore as qaj
        job = qaj.AerSimulator().run(qc, parameter_binds=[{theta: [0.4]}], shots=200,
                                     seed_simulator=11, memory=True, job_name="first")
        job.result()
        print(job.job_id(), flush=True)
        """
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           check=True, timeout=300)
    original_id = child.stdout.split()[-1]
    backend = qaj.AerSimulator()
    original = backend.retrieve_job(original_id).result()

    qc, theta = _circuit()
    job = _run(backend, qc, theta, memory=True, reuse_results=True, job_name="again")
    assert job.status() is JobStatus.DONE and job.in_final_state()
    assert job.reused_from == original_id and job.job_id() != original_id
    result = job.result()
    assert result.get_counts() == original.get_counts()
    assert result.get_memory() == original.get_memory()
    assert result.results[0].metadata == original.results[0].metadata
    assert result.job_id == job.job_id()

    stored = backend.retrieve_job(job.job_id())
    assert stored.reused_from == original_id and stored.name == "again"
    assert stored.result().get_counts() == original.get_counts()
    assert stored.manifest["content_key"] == store.manifest(original_id)["content_key"]
    assert PAYLOAD not in stored.manifest["members"]  # the payload is not stored twice
    assert [j.job_id() for j in store.list(reused=True)] == [job.job_id()]
    assert [j.job_id() for j in store.list(reused=False)] == [original_id]
    assert backend.retrieve_job(original_id).reused_from is None
    assert store.check() == []


VARIANTS = ("seed", "gate angle", "bind value", "shots", "noise error rate", "method",
            "simulator class", "memory", "circuit name")


def _variant(qc, change):
    other_angle = qc.copy()
    other_angle.data[2] = other_angle.data[2].replace(params=[0.25000000000000006])
    renamed = qc.copy(name="sweep-2")
    return {
        "seed": dict(seed_simulator=12),
        "gate angle": dict(circuit=other_angle),
        "bind value": dict(binds=0.41),
        "shots": dict(shots=201),
        "noise error rate": dict(noise_model=_noise(0.011)),
        "method": dict(method="density_matrix"),
        "simulator class": dict(backend=qaj.QasmSimulator),
        "memory": dict(memory=True),
        "circuit name": dict(circuit=renamed),
    }[change]


@pytest.mark.parametrize("change", VARIANTS)
def test_anything_that_changes_the_result_runs_afresh(change):
    qc, theta = _circuit()
    base = qaj.AerSimulator()
    _run(base, qc, theta, noise_model=_noise(), method="statevector").result()
    options = dict(noise_model=_noise(), method="statevector")
    options.update(_variant(qc, change))
    backend = options.pop("backend", qaj.AerSimulator)()
    circuit = options.pop("circuit", qc)
    fresh = _run(backend, circuit, theta, reuse_results=True, **options)
    assert fresh.reused_from is None
    fresh.result()
    again = _run(backend, circuit, theta, reuse_results=True, **options)
    assert again.reused_from == fresh.job_id()  # the changed job itself is reused


def test_unnamed_circuits_are_reused_under_their_new_names(backend):
    def unnamed():
        qc = QuantumCircuit(2)
        qc.h(0)
        qc.cx(0, 1)
        qc.measure_all()
        return qc

    first, second = unnamed(), unnamed()
    assert first.name != second.name  # Qiskit counts them up: circuit-N
    counts = backend.run(first, shots=30, seed_simulator=1).result().get_counts(first)
    again = backend.run(second, shots=30, seed_simulator=1, reuse_results=True)
    assert again.reused_from is not None
    assert again.result().get_counts(second) == counts
    assert again.result().results[0].header["name"] == second.name


def test_unseeded_jobs_are_reused_only_when_asked(backend, bell):
    first = backend.run(bell, shots=50)
    first.result()
    assert backend.run(bell, shots=50, reuse_results=True).reused_from is None
    assert backend.run(bell, shots=50, reuse_results="unseeded").reused_from is not None


@pytest.mark.parametrize("when", ["before the run", "after the run"])
def test_a_tampered_archive_is_never_served(backend, store, bell, when):
    job = backend.run(bell, shots=60, seed_simulator=3)
    job.result()
    store.flush()
    path = backend.retrieve_job(job.job_id()).archive_path

    def change(members):  # the payload changed, its signed manifest not
        members[PAYLOAD] = members[PAYLOAD][:-1] + b"\x00"

    if when == "before the run":
        rewrite_archive(path, change)
    again = backend.run(bell, shots=60, seed_simulator=3, reuse_results=True)
    # the payload is read when the result is asked for, not before
    assert again.reused_from == job.job_id() and again.status() is JobStatus.DONE
    if when == "after the run":
        store.flush()  # (the writer may have stored the reuse meanwhile: it is replaced)
        rewrite_archive(path, change)
    with pytest.warns(qaj.JobStoreWarning, match="does not verify.*runs instead"):
        result = again.result()
    assert again.reused_from is None and result.get_counts() == job.result().get_counts()
    assert result.job_id == again.job_id()
    store.flush()
    stored = backend.retrieve_job(again.job_id())  # stored as a job that ran
    assert stored.reused_from is None and PAYLOAD in stored.manifest["members"]
    assert stored.result().get_counts() == result.get_counts()


def test_an_untrusted_import_is_never_served(backend, store, bell, tmp_path, monkeypatch):
    job = backend.run(bell, shots=60, seed_simulator=4)
    counts = job.result().get_counts()
    exported = store.export_archive(job.job_id(), tmp_path)
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(tmp_path / "colleague"))
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(tmp_path / "colleague.key"))
    colleague = qaj.JobStore.default()
    assert colleague.import_archive(exported).trusted is False
    again = qaj.AerSimulator().run(bell, shots=60, seed_simulator=4, reuse_results=True)
    assert again.reused_from is None and again.result().get_counts() == counts


def test_a_failed_job_is_never_served(bell):
    backend = FailingSimulator()
    with pytest.raises(RuntimeError):
        backend.run(bell, shots=10, seed_simulator=5).result()
    backend.job_store.flush()
    again = backend.run(bell, shots=10, seed_simulator=5, reuse_results=True)
    assert again.reused_from is None
    with pytest.raises(RuntimeError):
        again.result()


def test_a_cancelled_job_is_never_served(bell):
    gated = GatedSimulator()
    try:
        blocker = gated.run(ghz(2), shots=10)
        assert gated.started.wait(60)
        queued = gated.run(bell, shots=10, seed_simulator=6)
        assert queued.cancel()
    finally:
        gated.gate.set()
    blocker.result()
    assert gated.retrieve_job(queued.job_id()).status() is JobStatus.CANCELLED
    again = gated.run(bell, shots=10, seed_simulator=6, reuse_results=True)
    assert again.reused_from is None and again.result().success


@pytest.mark.parametrize("how", ["delete", "prune"])
def test_deleting_the_original_keeps_every_reuse_readable(backend, store, bell, how):
    original = backend.run(bell, shots=80, seed_simulator=8, memory=True)
    expected = original.result()
    reuses = [backend.run(bell, shots=80, seed_simulator=8, memory=True, reuse_results=True)
              for _ in range(2)]
    assert {r.reused_from for r in reuses} == {original.job_id()}
    store.flush()
    if how == "delete":
        assert backend.delete_job(original.job_id())
    else:
        assert store.prune(keep_last=2) == [original.job_id()]
    for reuse in reuses:
        stored = backend.retrieve_job(reuse.job_id())
        assert stored.reused_from == original.job_id()
        assert stored.result().get_memory() == expected.get_memory()
        assert PAYLOAD in stored.manifest["members"] and "payload_in" not in stored.manifest
    assert store.check() == []
    # a reuse that now holds the result serves the next one
    later = backend.run(bell, shots=80, seed_simulator=8, memory=True, reuse_results=True)
    assert later.reused_from in {r.job_id() for r in reuses}
    assert later.result().get_counts() == expected.get_counts()


def test_a_reuse_read_before_the_original_went_still_reads(backend, store, bell):
    original = backend.run(bell, shots=30, seed_simulator=9)
    original.result()
    reuse = backend.run(bell, shots=30, seed_simulator=9, reuse_results=True)
    store.flush()
    stored = backend.retrieve_job(reuse.job_id())  # its manifest still says payload_in
    backend.delete_job(original.job_id())
    assert stored.result().get_counts() == original.result().get_counts()


def test_a_reuse_whose_own_manifest_was_altered_is_read_untrusted(backend, store, bell):
    original = backend.run(bell, shots=30, seed_simulator=13)
    original.result()
    reuse = backend.run(bell, shots=30, seed_simulator=13, reuse_results=True)
    store.flush()
    assert reuse.reused_from == original.job_id()
    path = backend.retrieve_job(reuse.job_id()).archive_path

    def change(members):  # the pointer's manifest edited after it was signed
        manifest = json.loads(members["manifest.json"])
        manifest["job_name"] = "forged"
        members["manifest.json"] = json.dumps(manifest).encode()

    rewrite_archive(path, change)
    store.reindex()
    stored = backend.retrieve_job(reuse.job_id())
    assert stored.result().get_counts() == original.result().get_counts()
    assert not stored.trusted  # followed only through the original's portable copies


def test_an_exported_reuse_carries_its_result(backend, store, bell, tmp_path):
    original = backend.run(bell, shots=30, seed_simulator=12)
    counts = original.result().get_counts()
    reuse = backend.run(bell, shots=30, seed_simulator=12, reuse_results=True)
    assert reuse.reused_from == original.job_id()
    path = store.export_archive(reuse.job_id(), tmp_path)
    elsewhere = qaj.JobStore(tmp_path / "elsewhere", store.key_path)
    imported = elsewhere.import_archive(path)
    assert imported.reused_from == original.job_id()
    assert imported.result().get_counts() == counts and imported.trusted


def test_a_reuse_in_a_job_context_carries_its_names(backend, store, bell):
    backend.run(bell, shots=40, seed_simulator=10, job_tags=["first"]).result()
    with qaj.job_context(job_name="ctx-run", job_tags=["ctx"], reuse_results=True) as ctx:
        job = backend.run(bell, shots=40, seed_simulator=10, job_tags=["own"])
    assert job.reused_from is not None
    stored = backend.retrieve_job(job.job_id())
    assert stored.name == "ctx-run" and stored.tags == ["ctx", "own"]
    assert stored.session_id == ctx.session_id
    assert [j.job_id() for j in backend.jobs(session_id=ctx.session_id)] == [job.job_id()]


def _twice(backend, bell, **options):
    backend.run(bell, shots=20, seed_simulator=2).result()
    return backend.run(bell, shots=20, seed_simulator=2, **options)


def test_off_by_default(backend, bell, store):
    assert _twice(backend, bell).reused_from is None
    store.flush()  # (a listing shows a job not written yet without its key)
    assert all(j.manifest["content_key"] for j in store.list())  # recorded all the same


@pytest.mark.parametrize("level", ["run", "constructor", "set_options", "env", "settings",
                                   "job_context", "enable"])
def test_each_level_turns_reuse_on(level, bell, monkeypatch, job_store_env):
    backend = qaj.AerSimulator()
    options = {}
    if level == "run":
        options["reuse_results"] = True
    elif level == "constructor":
        backend = qaj.AerSimulator(reuse_results=True)
    elif level == "set_options":
        backend.set_options(reuse_results=True)
    elif level == "env":
        monkeypatch.setenv("QISKIT_AER_REUSE_RESULTS", "1")
    elif level == "settings":
        (job_store_env / "settings.conf").write_text("[aer]\nreuse_results = true\n")
    elif level == "enable":
        qaj.enable()
        backend = qiskit_aer.AerSimulator(reuse_results=True)
    with warnings.catch_warnings(record=True) as caught, qaj.job_context(
            reuse_results=True if level == "job_context" else None):
        warnings.simplefilter("always")
        job = _twice(backend, bell, **options)
    assert job.reused_from is not None
    assert not [w for w in caught if "reuse_results" in str(w.message)]  # never reaches Aer
    assert "reuse_results" not in backend.options.__dict__
    stored = backend.retrieve_job(job.reused_from)
    assert "reuse_results" not in stored.run_options()
    assert "reuse_results" not in stored.backend_options()


def test_the_most_specific_level_wins(bell):
    backend = qaj.AerSimulator(reuse_results=True)
    assert _twice(backend, bell, reuse_results=False).reused_from is None
    backend.set_options(reuse_results=None)
    with qaj.job_context(reuse_results=True):
        assert _twice(qaj.AerSimulator(reuse_results=False), bell).reused_from is None
        assert _twice(backend, bell).reused_from is not None


def test_bad_values_are_refused(bell):
    with pytest.raises(qaj.JobStoreError, match="reuse_results"):
        qaj.AerSimulator(reuse_results="sometimes")
    with pytest.raises(qaj.JobStoreError, match="reuse_results"):
        qaj.AerSimulator().run(bell, reuse_results="sometimes")


def test_saving_off_means_no_reuse(backend, bell):
    assert _twice(backend, bell, reuse_results=True, save_jobs=False).reused_from is None


def test_cli_lists_and_shows_reuses(backend, store, bell):
    original = backend.run(bell, shots=20, seed_simulator=1)
    original.result()
    reuse = backend.run(bell, shots=20, seed_simulator=1, reuse_results=True)
    store.flush()
    runner = CliRunner()
    listed = runner.invoke(cli, ["list", "--local", "--reused", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [row["job_id"] for row in json.loads(listed.output)] == [reuse.job_id()]
    shown = runner.invoke(cli, ["show", reuse.job_id()])
    assert shown.exit_code == 0, shown.output
    assert f"reused the result of job {original.job_id()}" in shown.output
    [row] = json.loads(runner.invoke(cli, ["list", "--local", "--reused", "--json"]).output)
    assert row["reused_from"] == original.job_id()
    everything = json.loads(runner.invoke(cli, ["list", "--local", "--json"]).output)
    assert {r["job_id"]: r["reused_from"] for r in everything} == {
        reuse.job_id(): original.job_id(), original.job_id(): None}
    wide = runner.invoke(cli, ["list", "--local", "--wide"])
    assert "reused_from" in wide.output and original.job_id() in wide.output
    card = backend.retrieve_job(reuse.job_id())._repr_html_()
    assert f"reused the result of job <code>{original.job_id()}</code>" in card
    assert "reused the result" not in backend.retrieve_job(original.job_id())._repr_html_()


def test_content_key_sees_every_change():
    qc = ghz(5)
    options = dict(qaj.AerSimulator().options.__dict__)

    def key(circuit=qc, **run_options):
        return content_key([circuit], None, {"shots": 100, "seed_simulator": 1, **run_options},
                           options, "qiskit_aer.AerSimulator", "aer_simulator")

    # its speed is measured in benchmarks/reuse.py, never asserted here
    theta = Parameter("t")
    unbound = QuantumCircuit(1)
    unbound.rx(theta, 0)
    if_else = QuantumCircuit(1, 1)
    with if_else.if_test((if_else.clbits[0], 1)):
        if_else.x(0)
    flipped = QuantumCircuit(1, 1)
    with flipped.if_test((flipped.clbits[0], 0)):
        flipped.x(0)
    keys = {key(), key(shots=101), key(seed_simulator=2), key(circuit=ghz(4)),
            key(circuit=unbound), key(circuit=if_else), key(circuit=flipped),
            key(circuit=_custom(0.1)), key(circuit=_custom(0.2)), key(circuit=_loose(1)),
            key(circuit=_loose(0))}
    assert len(keys) == 11
    assert key() == key() and key(circuit=_loose(1)) == key(circuit=_loose(1))
    assert key(circuit=_custom(0.1)) == key(circuit=_custom(0.1))


def _custom(angle: float) -> QuantumCircuit:
    """A circuit using a gate made with ``to_gate``: same name whatever its body."""
    body = QuantumCircuit(1, name="mine")
    body.rx(angle, 0)
    qc = QuantumCircuit(1)
    qc.append(body.to_gate(), [0])
    return qc


def _loose(value: int) -> QuantumCircuit:
    """Control flow on bits outside any register (their uid differs each time)."""
    from qiskit.circuit import Clbit, Qubit

    qc = QuantumCircuit([Qubit(), Clbit(), Clbit()])
    qc.measure(0, 1)
    with qc.if_test((qc.clbits[1], value)):
        qc.x(0)
    return qc


def test_a_job_whose_result_was_dropped_is_never_served(bell, monkeypatch):
    monkeypatch.setenv("QISKIT_AER_MAX_JOB_BYTES", "1")
    backend = qaj.AerSimulator()
    with pytest.warns(qaj.JobStoreWarning, match="max_job_bytes"):
        first = backend.run(bell, shots=10, seed_simulator=13)
        first.result()
        backend.job_store.flush()
    assert backend.retrieve_job(first.job_id()).result_dropped
    monkeypatch.delenv("QISKIT_AER_MAX_JOB_BYTES")
    assert backend.run(bell, shots=10, seed_simulator=13, reuse_results=True).reused_from is None


def test_the_team_index_holds_the_content_key(team_env, backend, bell, store):
    from qiskit_aer_jobstore import push, team

    job = backend.run(bell, shots=10, seed_simulator=14)
    job.result()
    store.flush()
    push.PUSHER.flush(30)
    remote = team.require_remote()
    [row] = remote.index.query(qaj.JobFilter(content_key=store.manifest(job.job_id())[
        "content_key"], reused=False))
    assert row["job_id"] == job.job_id() and row["reused_from"] is None
    assert [j.job_id() for j in backend.remote_jobs(reused=False)] == [job.job_id()]
    assert backend.remote_jobs(reused=True) == []


def test_a_reuse_saved_after_its_original_went_holds_the_result(backend, store, bell,
                                                                monkeypatch):
    from qiskit_aer_jobstore import reuse

    original = backend.run(bell, shots=25, seed_simulator=15)
    counts = original.result().get_counts()
    kept = reuse._kept

    def deleted_first(store_, record, source):
        # the original goes while the reuse waits for the writer: no reuse to hand it to yet
        store_.delete_rows([store_.index.get(source)])
        return kept(store_, record, source)

    monkeypatch.setattr(reuse, "_kept", deleted_first)
    job = backend.run(bell, shots=25, seed_simulator=15, reuse_results=True)
    assert job.reused_from == original.job_id()
    store.flush()
    stored = backend.retrieve_job(job.job_id())
    assert stored.result().get_counts() == counts
    assert PAYLOAD in stored.manifest["members"] and "payload_in" not in stored.manifest
    assert [j.job_id() for j in store.list()] == [job.job_id()]


def test_check_reports_a_reuse_whose_original_was_removed_by_hand(backend, store, bell):
    import os

    original = backend.run(bell, shots=20, seed_simulator=16)
    original.result()
    reuse = backend.run(bell, shots=20, seed_simulator=16, reuse_results=True)
    store.flush()
    os.unlink(backend.retrieve_job(original.job_id()).archive_path)  # not through the store
    store.reindex()
    [(archive, why)] = store.check()
    assert reuse.job_id() in archive and original.job_id() in why
    with pytest.raises(JobError, match="deleted before the result"):
        backend.retrieve_job(reuse.job_id()).result()
