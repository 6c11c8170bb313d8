"""A quick ``aer-jobs``: commands that read only the index or manifests (list, du, show
--manifest, rm, prune, check) import neither Qiskit, nor Aer, nor numpy, whose imports took most
of a listing's time. Each runs in a fresh process over a store of real saved jobs; the process
then reports which of those it imported. No timings here: benchmarks/cli_startup.py has them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qiskit.exceptions import QiskitError
from qiskit.providers import JobStatus

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.listing import summary
from qiskit_aer_jobstore.manifest import JOB_STATUSES

from .conftest import ghz

ROOT = Path(qaj.__file__).resolve().parent.parent  # the package this test imports
HEAVY = ("qiskit", "qiskit_aer", "numpy")
# Runs the CLI as the console script does, then says which heavy packages it imported.
CLI_THEN_MODULES = f"""
import json, sys
from qiskit_aer_jobstore.cli import cli
code = cli.main(sys.argv[1:], prog_name="aer-jobs", standalone_mode=False)
heavy = {HEAVY}
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & set(heavy))
print(json.dumps({{"code": code, "imported": loaded}}), file=sys.stderr)
"""


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """``python -c code args`` in a fresh process over this test's store (conftest's env)."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, PYTHONPATH=path, PYTHONSAFEPATH="1")  # not the cwd's package
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def quick(*args: str) -> tuple[int, str]:
    """Run ``aer-jobs args``; fail if it imported Qiskit, Aer or numpy. Returns (code, stdout)."""
    done = run_python(CLI_THEN_MODULES, *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["imported"] == [], f"aer-jobs {' '.join(args)} imported {report['imported']}"
    return report["code"], done.stdout


@pytest.fixture
def saved(store, backend) -> list[str]:
    """Three real jobs in the store, oldest first."""
    ids = []
    for n, tags in ((2, ["bell"]), (3, ["ghz"]), (4, ["ghz", "big"])):
        job = backend.run(ghz(n), shots=50, seed_simulator=n, job_tags=tags)
        job.result()
        ids.append(job.job_id())
    store.flush()
    return ids


def test_list_imports_no_qiskit(saved):
    code, out = quick("list", "--json")
    assert code == 0
    assert [row["job_id"] for row in json.loads(out)] == saved[::-1]
    code, out = quick("list", "--tag", "big")
    assert code == 0 and saved[2][:8] in out and saved[0][:8] not in out


def test_list_rows_are_the_summaries_of_the_jobs(store, saved):
    assert store.summaries(limit=None) == [summary(job) for job in store.list(limit=None)]


def test_du_imports_no_qiskit(saved):
    code, out = quick("du", "--json")
    assert code == 0 and json.loads(out)["total"]["jobs"] == 3


def test_show_manifest_imports_no_qiskit(store, saved):
    code, out = quick("show", saved[1][:8], "--manifest", "--json")
    assert code == 0
    manifest = json.loads(out)["manifest"]
    assert manifest == store.get(saved[1]).manifest and manifest["job_tags"] == ["ghz"]
    code, out = quick("show", saved[1], "--manifest")
    assert code == 0 and "aer_simulator" in out and "versions" in out


def test_check_imports_no_qiskit(saved):
    code, out = quick("check", "--json")
    assert code == 0 and json.loads(out)["problems"] == []


def test_prune_and_rm_import_no_qiskit(store, saved):
    code, out = quick("prune", "--keep-last", "1", "--dry-run", "--json")
    assert code == 0 and sorted(json.loads(out)["deleted"]) == sorted(saved[:2])
    assert len(store.list()) == 3
    code, _ = quick("rm", saved[0][:8])
    assert code == 0
    assert [job.job_id() for job in store.list()] == saved[:0:-1]


def test_a_command_that_needs_qiskit_still_gets_it(saved):
    """show (without --manifest) reads circuits and counts: it imports Qiskit itself."""
    done = run_python(CLI_THEN_MODULES, "show", saved[0], "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["experiments"][0]["counts"]
    assert "qiskit" in json.loads(done.stderr.strip().splitlines()[-1])["imported"]


def test_the_package_imports_lazily_and_keeps_its_names():
    code = (
        "import sys, qiskit_aer_jobstore as qaj\n"
        "assert not {m.split('.')[0] for m in sys.modules} & {'qiskit', 'qiskit_aer'}\n"
        "assert set(qaj.__all__) <= set(dir(qaj))\n"
        "from qiskit_aer_jobstore import AerSimulator, JobStore, StoredAerJob, execute\n"
        "assert all(getattr(qaj, name) is not None for name in qaj.__all__)\n"
        "print('ok')\n"
    )
    done = run_python(code)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        qaj.nothing_here  # noqa: B018


def test_a_job_from_the_store_alone_reruns(saved):
    """The Runner is loaded when a stored job first needs it, not by importing the package."""
    code = (
        "import sys\n"
        "from qiskit_aer_jobstore import JobStore\n"
        "job = JobStore.default().get(sys.argv[1]).rerun()\n"
        "print(sum(job.result().get_counts().values()))\n"
    )
    done = run_python(code, saved[0])
    assert done.returncode == 0 and done.stdout == "50\n", done.stderr


def test_job_store_errors_are_qiskit_errors_whichever_is_imported_first():
    assert issubclass(qaj.JobNotFoundError, QiskitError)  # Qiskit first (this process)
    assert issubclass(qaj.InvalidJobIdError, ValueError)
    code = (
        "import sys\n"
        "from qiskit_aer_jobstore.exceptions import JobNotFoundError, JobStoreError\n"
        "early = JobNotFoundError('not', 'here')\n"
        "assert 'qiskit' not in sys.modules and str(early) == early.message == 'not here'\n"
        "from qiskit.exceptions import QiskitError\n"
        "assert issubclass(JobNotFoundError, QiskitError) and isinstance(early, QiskitError)\n"
        "try:\n"
        "    raise JobStoreError('caught')\n"
        "except QiskitError as exc:\n"
        "    print(exc)\n"
    )
    done = run_python(code)
    assert done.returncode == 0 and done.stdout == "caught\n", done.stderr


def test_the_status_names_are_qiskits():
    assert list(JOB_STATUSES) == list(JobStatus.__members__)
