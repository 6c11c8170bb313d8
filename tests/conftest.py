"""Shared fixtures: every test runs against a temporary store, key and home folder."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

import qiskit_aer_jobstore as qaj


@pytest.fixture(autouse=True)
def job_store_env(tmp_path, monkeypatch):
    """A fresh store folder, key, settings file and HOME for each test; never the real home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(tmp_path / "aer_jobs"))
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(tmp_path / "aer_jobs.key"))
    monkeypatch.setenv("QISKIT_SETTINGS", str(tmp_path / "settings.conf"))
    for name in ("QISKIT_AER_SAVE_JOBS", "QISKIT_AER_JOBS_DURABILITY",
                 "QISKIT_AER_MAX_STORE_BYTES", "QISKIT_AER_MAX_JOB_BYTES"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    qaj.JobStore.default().flush()
    qaj.disable()


@pytest.fixture
def store(job_store_env) -> qaj.JobStore:
    return qaj.JobStore.default()


@pytest.fixture
def backend() -> qaj.AerSimulator:
    return qaj.AerSimulator()


@pytest.fixture
def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    return qc


def ghz(n: int = 5, name: str | None = None) -> QuantumCircuit:
    qc = QuantumCircuit(n, name=name or f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    qc.measure_all()
    return qc


def rewrite_archive(path, change) -> None:
    """Rewrite the zip at ``path`` after ``change(members)`` edits its {name: bytes} in place."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    change(members)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def layered(n: int, layers: int, seed: int) -> QuantumCircuit:
    """A circuit whose simulation takes a while (rotations and CX ladders), for sweeps."""
    qc = QuantumCircuit(n, name=f"layered{seed}")
    for layer in range(layers):
        for q in range(n):
            qc.rx(0.1 * (q + 1) * (seed + 1) + layer, q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    qc.measure_all()
    return qc


@pytest.fixture(scope="session")
def dask_client():
    """A real two-worker Dask cluster (worker processes), started once for the session."""
    from distributed import Client, LocalCluster

    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client
