"""``StoredAerJob.diff`` and ``aer-jobs diff``: jobs that differ by one angle, by noise, not at
all; statevector and estimator jobs; shot noise told from a change; untrusted jobs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.noise import NoiseModel, depolarizing_error

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.archive import ArchiveReader
from qiskit_aer_jobstore.cli import cli
from qiskit_aer_jobstore.compare import shot_noise_tvd, tvd
from qiskit_aer_jobstore.diff import diff_jobs
from qiskit_aer_jobstore.primitives import EstimatorV2, SamplerV2

HOSTILE = "<script>alert(1)</script>"


def rotated(theta: float, name: str = "rot") -> QuantumCircuit:
    circuit = QuantumCircuit(2, name=name)
    circuit.rx(theta, 0)
    circuit.cx(0, 1)
    circuit.measure_all()
    return circuit


def stored(store, job):
    job.result()
    store.flush()
    return store.get(job.job_id())


@pytest.fixture
def pair(store, backend):
    """Three jobs of the same two circuits: A, A again (same seed), and B with one angle."""
    a = stored(store, backend.run([rotated(0.3), rotated(1.0)], shots=2000, seed_simulator=5))
    again = stored(store, backend.run([rotated(0.3), rotated(1.0)], shots=2000, seed_simulator=5))
    b = stored(store, backend.run([rotated(1.2), rotated(1.0)], shots=2000, seed_simulator=6))
    return a, again, b


def test_jobs_that_do_not_differ_are_equal(pair):
    a, again, _ = pair
    found = a.diff(again)
    assert found.equal and found.same_inputs and found.verdict == "inputs same; results equal"
    assert all(c["equal"] for c in found.circuits)
    assert [e["tvd"] for e in found.experiments] == [0.0, 0.0]
    assert {e["verdict"] for e in found.experiments} == {"equal"}
    assert found.experiments[0]["hellinger_fidelity"] == pytest.approx(1.0)


def test_one_gate_angle_is_found_and_its_counts_differ_beyond_shot_noise(pair):
    a, _, b = pair
    found = diff_jobs(a, b)
    assert not found.equal and not found.same_inputs
    changed, same = found.circuits
    assert same["equal"] and not changed["equal"]
    assert changed["changes"]["instructions"] == [
        {"index": 0, "a": "rx(0.3) q[0]", "b": "rx(1.2) q[0]"}
    ]
    assert "gate_counts" not in changed["changes"]  # the same gates, one angle changed
    assert found.options["run_options"]["changed"] == {"seed_simulator": ["5", "6"]}
    first, second = found.experiments
    assert first["verdict"] == "differs" and first["tvd"] > 3 * first["shot_noise_tvd"]
    # same circuit, other seed: a difference of the size shot noise makes
    assert second["verdict"] == "within shot noise" and 0 < second["tvd"]
    assert second["shots"] == [2000, 2000]
    text = str(found)
    assert "rx(0.3) q[0] -> rx(1.2) q[0]" in text and "within shot noise" in text


def test_a_changed_error_rate_shows_in_the_noise_model(store, backend):
    def noisy(p):
        model = NoiseModel()
        model.add_all_qubit_quantum_error(depolarizing_error(p, 2), ["cx"])
        model.add_quantum_error(depolarizing_error(0.001, 1), ["rx"], [0])
        return model

    circuits = [rotated(0.3)]
    low = stored(
        store, backend.run(circuits, shots=4000, seed_simulator=1, noise_model=noisy(0.01))
    )
    high = stored(
        store, backend.run(circuits, shots=4000, seed_simulator=1, noise_model=noisy(0.3))
    )
    found = low.diff(high)
    noise = found.noise_model
    assert not noise["equal"] and not noise["added"] and not noise["removed"]
    assert list(noise["changed"]) == ["cx on all qubits"]
    before, after = noise["changed"]["cx on all qubits"]
    assert "16 terms" in before and "0.009375" in before and "0.2813" in after
    assert all(c["equal"] for c in found.circuits)
    assert found.experiments[0]["verdict"] == "differs"
    assert "cx on all qubits: 16 terms" in str(found)
    assert low.diff(low).noise_model == {"equal": True, "added": {}, "removed": {}, "changed": {}}


def test_statevector_jobs_compare_by_largest_difference(store, backend):
    def state(theta):
        circuit = QuantumCircuit(1, name="sv")
        circuit.ry(theta, 0)
        circuit.save_statevector()
        circuit.save_density_matrix()
        return circuit

    a = stored(store, backend.run(state(0.2)))
    b = stored(store, backend.run(state(0.5)))
    c = stored(store, backend.run(state(0.2)))
    (entry,) = a.diff(b).experiments
    assert entry["tvd"] is None and entry["verdict"] == "differs"
    sv = entry["data"]["statevector"]["max_abs_difference"]
    largest = max(abs(math.cos(0.1) - math.cos(0.25)), abs(math.sin(0.1) - math.sin(0.25)))
    assert sv == pytest.approx(largest, rel=1e-6)
    assert entry["data"]["density_matrix"]["verdict"] == "differs"
    assert entry["max_abs_difference"] == max(
        entry["data"][k]["max_abs_difference"] for k in ("statevector", "density_matrix")
    )
    same = a.diff(c)
    assert same.equal and same.experiments[0]["data"]["statevector"]["max_abs_difference"] == 0


def _estimated(store, observables, values):
    circuit = QuantumCircuit(1, name="est")
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    circuit.ry(theta, 0)
    return stored(store, EstimatorV2().run([(circuit, observables, values)]))


def test_estimator_jobs_compare_their_expectation_values(store):
    a = _estimated(store, SparsePauliOp("Z"), [[0.1], [0.4]])
    b = _estimated(store, SparsePauliOp("Z"), [[0.1], [0.9]])
    found = a.diff(b)
    (entry,) = found.experiments
    evs = entry["data"]["evs"]
    assert evs["verdict"] == "differs"
    assert evs["max_abs_difference"] == pytest.approx(abs(math.cos(0.4) - math.cos(0.9)))
    assert found.parameter_binds["equal"]  # an estimator's values are in its pubs' results
    assert a.diff(_estimated(store, SparsePauliOp("Z"), [[0.1], [0.4]])).equal
    json.dumps(found.to_dict())


def test_sampler_jobs_compare_counts_per_register(store):
    circuit = QuantumCircuit(2, name="two-registers")
    circuit.h(0)
    circuit.cx(0, 1)
    measured = circuit.copy()
    measured.add_register(*[__import__("qiskit").ClassicalRegister(1, n) for n in ("x", "y")])
    measured.measure(0, measured.cregs[0][0])
    measured.measure(1, measured.cregs[1][0])
    a = stored(store, SamplerV2(seed=3).run([measured], shots=500))
    b = stored(store, SamplerV2(seed=4).run([measured], shots=500))
    (entry,) = a.diff(b).experiments
    assert set(entry["registers"]) == {"x", "y"}
    assert entry["verdict"] == "within shot noise"
    assert all(r["verdict"] == "within shot noise" for r in entry["registers"].values())
    assert a.diff(a).equal


def test_shot_noise_level_matches_sampling():
    """The formula against what two samples of one distribution really show."""
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    shots = 1000
    seen = []
    for _ in range(400):
        a, b = (dict(zip("abcd", rng.multinomial(shots, p).tolist())) for _ in range(2))
        seen.append(tvd(a, b))
    expected = shot_noise_tvd(
        dict(zip("abcd", (p * shots).astype(int).tolist())), {"a": 500, "b": 300, "c": 150, "d": 50}
    )
    assert np.mean(seen) == pytest.approx(expected, rel=0.1)
    assert np.mean(np.array(seen) > 3 * expected) < 0.01  # "differs" on noise: rarely


def test_untrusted_job_is_diffed_without_unpickling(pair, store, monkeypatch):
    a, _, b = pair
    expected = a.diff(b).to_dict()

    def refuse(*_a, **_k):
        raise AssertionError("unpickled")

    monkeypatch.setattr(ArchiveReader, "payload", refuse)
    untrusted = store.get(a.job_id(), trusted=False)
    found = untrusted.diff(store.get(b.job_id(), trusted=False))
    assert found.to_dict()["experiments"] == expected["experiments"]
    assert found.circuits == expected["circuits"]


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def test_cli_diff_json_and_prefixes(pair):
    a, again, b = pair
    data = json.loads(run("diff", "--json", a.job_id()[:8], b.job_id()).stdout)
    assert data["a"] == a.job_id() and data["b"] == b.job_id()
    assert data["equal"] is False and data["verdict"] == "inputs differ; results differ"
    keys = {"index", "name", "tvd", "hellinger_fidelity", "shot_noise_tvd", "verdict"}
    assert all(keys <= set(e) for e in data["experiments"])
    assert [e["index"] for e in data["experiments"]] == [0, 1]
    assert data["experiments"][0]["verdict"] == "differs"
    same = json.loads(run("diff", "--json", a.job_id(), again.job_id()[:10]).stdout)
    assert same["equal"] is True and same["experiments"][0]["tvd"] == 0


def test_cli_diff_reads_as_text(pair):
    a, _, b = pair
    out = run("diff", a.job_id(), b.job_id()[:8]).stdout
    assert "inputs differ; results differ" in out
    assert "rx(0.3) q[0] -> rx(1.2) q[0]" in out
    assert "within shot noise" in out and "differs" in out and "hellinger" in out


def test_cli_diff_of_a_missing_job_says_how_to_find_one(pair):
    a, _, _ = pair
    missing = run("diff", a.job_id(), "nosuchjob", code=1)
    assert "aer-jobs list" in missing.stderr and "Traceback" not in missing.output
    assert missing.stderr.count("\n") == 1


def test_diff_html_is_escaped_and_overlays_histograms(store, backend):
    a = stored(store, backend.run(rotated(0.3, HOSTILE), shots=100, seed_simulator=1))
    b = stored(store, backend.run(rotated(0.9, HOSTILE), shots=100, seed_simulator=1))
    page = a.diff(b)._repr_html_()
    assert "<script" not in page and "&lt;script&gt;" in page
    assert page.count("class='aer-histogram'") == 1
    assert "JobDiff" in page


def test_a_job_without_result_is_not_comparable_but_its_inputs_are(pair, store):
    a, _, _ = pair
    store.save(
        qaj.JobRecord(
            job_id="failed-1",
            backend_name="aer_simulator",
            circuits=[rotated(0.3), rotated(1.0)],
            status="ERROR",
            error="AerError: out of memory",
        )
    )
    found = a.diff(store.get("failed-1"))
    assert found.results_verdict == "not comparable" and not found.equal
    assert found.experiments == [] and "out of memory" in found.results_error["b"]
    assert all(c["equal"] for c in found.circuits)
    out = run("diff", a.job_id(), "failed-1").stdout
    assert "B has no results" in out and "out of memory" in out
