"""``aer-jobs`` driven through click's CliRunner (and once as a real process) over stores filled
by the library: listings, filters, show, plot, rm, du, reindex, exit codes and error lines."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from qiskit import QuantumCircuit

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore import settings
from qiskit_aer_jobstore.cli import cli

from .conftest import ghz

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fill(store: qaj.JobStore, backend: qaj.AerSimulator) -> dict[str, str]:
    """A store with jobs of every kind the CLI shows; returns their ids by role."""
    ids = {}
    bell = ghz(2, name="bell")
    job = backend.run(bell, shots=200, job_name="bell-run", job_tags=["bell", "paper"])
    job.result()
    ids["bell"] = job.job_id()
    job = backend.run([ghz(3), ghz(4)], shots=64, seed_simulator=7, job_tags=["paper"])
    job.result()
    ids["pair"] = job.job_id()
    sv = QuantumCircuit(2, name="sv")
    sv.h(0)
    sv.save_statevector()
    job = backend.run(sv, job_tags=["state"])
    job.result()
    ids["statevector"] = job.job_id()
    store.flush()
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=40)
    store.save(
        qaj.JobRecord(
            job_id="old-job",
            backend_name="other_sim",
            circuits=[ghz(2)],
            creation_date=old,
            job_tags=["old"],
        )
    )
    store.save(
        qaj.JobRecord(
            job_id="failed-job",
            backend_name="aer_simulator",
            circuits=[ghz(2)],
            status="ERROR",
            error="AerError: out of memory",
            job_name="bad",
        )
    )
    ids.update(old="old-job", failed="failed-job")
    return ids


@pytest.fixture
def ids(store, backend) -> dict[str, str]:
    return fill(store, backend)


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, (result.output, result.stderr)
    return result


def listed(*args: str, code: int = 0) -> list[str]:
    return [row["job_id"] for row in json.loads(run("list", "--json", *args, code=code).stdout)]


def test_list_table_shows_every_job(ids):
    out = run("list").stdout
    for job_id in ids.values():
        assert job_id[:8] in out
    assert ids["bell"] not in out  # ids shortened as git does; any unique prefix names a job
    assert "bell-run" in out and "bell, paper" in out
    assert "of 5 jobs" not in out  # nothing was left out


HEADERS = [
    "job id",
    "name",
    "backend",
    "status",
    "created (UTC)",
    "circuits",
    "qubits",
    "shots",
    "tags",
    "size",
]


def listing(*args: str, columns: int | None = None, code: int = 0):
    env = {"COLUMNS": str(columns)} if columns else {}
    result = CliRunner().invoke(cli, ["list", *args], env=env)
    assert result.exit_code == code, (result.output, result.stderr)
    return result.stdout


@pytest.mark.parametrize("columns", [100, 120, 200])
def test_list_fits_the_terminal_keeping_every_column(ids, store, columns):
    store.save(
        qaj.JobRecord(
            job_id="a-long-job-id-" + "x" * 40,
            backend_name="aer_simulator_statevector_" + "gpu" * 12 + "_tail",
            job_name="sweep-" + "n" * 60 + "-end",
            job_tags=["t" * 30, "last-tag"],
            circuits=[ghz(2)],
        )
    )
    out = listing(columns=columns)
    lines = out.splitlines()
    assert all(len(line.rstrip()) <= columns for line in lines), out
    assert all(title in lines[0] for title in HEADERS), lines[0]
    long_row = next(line for line in lines if line.startswith("a-long-j"))
    name, backend = long_row.split()[1:3]
    assert long_row.split()[0] == "a-long-j"  # 8 characters
    assert re.fullmatch(r"sw\S*…\S*nd", name) and re.fullmatch(r"ae\S*…\S*il", backend)
    for role in ("bell", "pair", "statevector"):
        assert ids[role][:8] in out


def test_list_wide_and_columns(ids, store):
    wide = listing("--wide", columns=80)
    assert all(job_id in wide for job_id in ids.values())
    assert "method" in wide.splitlines()[0] and "primitive" in wide.splitlines()[0]
    out = listing("--columns", "job_id,status,shots", columns=80)
    assert out.splitlines()[0].split() == ["job", "id", "status", "shots"]
    assert "64" in out and "bell-run" not in out
    whole = listing("--columns", "job_id", "--wide")
    assert ids["pair"] in whole
    bad = CliRunner().invoke(cli, ["list", "--columns", "job_id,colour"])
    assert bad.exit_code == 2 and "colour" in bad.stderr and bad.stderr.count("\n") == 1
    assert (
        json.loads(run("list", "--json", "--columns", "job_id").stdout)[0]["job_id"] in ids.values()
    )


@pytest.mark.parametrize(
    ("args", "footer"),
    [
        (("--limit", "2"), "2 of 5 jobs (use --limit)"),
        (("--limit", "2", "--skip", "1"), "2 of 5 jobs (use --limit)"),
        (("--limit", "2", "--skip", "3"), None),
        (("--limit", "2", "--tag", "paper"), None),
        (("--limit", "1", "--tag", "paper"), "1 of 2 jobs (use --limit)"),
        (("--limit", "5"), None),
        (("--limit", "0"), None),
    ],
)
def test_list_says_when_it_is_cut(ids, args, footer):
    lines = listing(*args).splitlines()
    if footer is None:
        assert "(use --limit)" not in lines[-1]
    else:
        assert lines[-1] == footer


@pytest.mark.parametrize(
    ("args", "roles"),
    [
        ((), ["failed", "statevector", "pair", "bell", "old"]),
        (("--backend", "other_sim"), ["old"]),
        (("--status", "error"), ["failed"]),
        (("--status", "DONE", "--status", "ERROR", "--limit", "2"), ["failed", "statevector"]),
        (("--tag", "paper"), ["pair", "bell"]),
        (("--tag", "paper", "--tag", "state"), ["statevector", "pair", "bell"]),
        (("--tag", "paper", "--tag", "bell", "--tags-and"), ["bell"]),
        (("--name", "bell-run"), ["bell"]),
        (("--circuit", "ghz4"), ["pair"]),
        (("--since", "7d"), ["failed", "statevector", "pair", "bell"]),
        (("--until", "30d"), ["old"]),
        (("--until", (dt.date.today() - dt.timedelta(days=20)).isoformat()), ["old"]),
        (("--limit", "2", "--skip", "1"), ["statevector", "pair"]),
        (("--oldest-first", "--limit", "2"), ["old", "bell"]),
    ],
)
def test_list_filters_match_jobs(ids, args, roles):
    assert listed(*args) == [ids[role] for role in roles]


def test_list_json_fields(ids):
    rows = json.loads(run("list", "--json", "--name", "bell-run").stdout)
    assert rows == [
        {
            "job_id": ids["bell"],
            "job_name": "bell-run",
            "backend_name": "aer_simulator",
            "status": "DONE",
            "creation_date": rows[0]["creation_date"],
            "num_circuits": 1,
            "num_qubits": 2,
            "shots": 200,
            "method": rows[0]["method"],
            "job_tags": ["bell", "paper"],
            "size": os.path.getsize(qaj.JobStore.default().get(ids["bell"]).archive_path),
            "primitive": None,
            "reused_from": None,
        }
    ]
    dt.datetime.fromisoformat(rows[0]["creation_date"])


def test_nothing_matched_exits_1_with_one_line(ids):
    result = run("list", "--json", "--tag", "nowhere", code=1)
    assert json.loads(result.stdout) == []
    assert result.stderr == "aer-jobs: error: no stored job matched\n"
    assert run("du", "--backend", "nowhere", code=1).stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--status", "FINISHED"),
        ("list", "--since", "yesterday"),
        ("list", "--limit", "-1"),
        ("list", "--bogus"),
        ("frobnicate",),
        ("show", "../etc/passwd"),
        ("rm",),
        ("plot", "some-job"),
        ("--store", "/no/such/folder", "list"),
    ],
)
def test_bad_usage_exits_2_with_one_line(store, args):
    result = run(*args, code=2)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("aer-jobs: error: ")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("show", "missing-job"),
        ("plot", "missing-job", "-o", "x.png"),
        ("watch", "missing-job"),
        ("export", "missing-job"),
        ("rerun", "missing-job"),
    ],
)
def test_not_found_exits_1(ids, args, tmp_path):
    result = run(*args, code=1)
    assert result.stderr.startswith("aer-jobs: error: No job with id 'missing-job'")
    assert "`aer-jobs list` shows the stored jobs" in result.stderr
    assert "JobStore().list()" not in result.stderr  # the Python API's advice is not for here
    assert result.stderr.count("\n") == 1


def test_debug_prints_the_traceback(ids):
    result = run("--debug", "show", "missing-job", code=1)
    assert "Traceback" in result.stderr and "JobNotFoundError" in result.stderr
    assert result.stderr.rstrip().endswith("`aer-jobs list` shows the stored jobs.")


PREFIXED = ("abc123-one", "abc123-two", "abd_x", "abdZx", "ABC999")


@pytest.fixture
def prefixed(store) -> None:
    """Jobs whose ids share prefixes, or differ only where LIKE has wildcards or case."""
    for job_id in PREFIXED:
        store.save(qaj.JobRecord(job_id=job_id, backend_name="aer_simulator", circuits=[ghz(2)]))


@pytest.mark.parametrize(
    ("prefix", "job_id"),
    [
        ("abc123-o", "abc123-one"),
        ("abc123-two", "abc123-two"),
        ("abd_", "abd_x"),  # '_' is no wildcard
        ("abdZ", "abdZx"),
        ("ABC", "ABC999"),  # case counts
        ("a", None),
        ("abc", None),
        ("abd", None),
        ("abc9", "missing"),
        ("abd%", "invalid"),
        ("zzz", "missing"),
    ],
)
def test_store_resolves_a_prefix(store, prefixed, prefix, job_id):
    if job_id == "missing":
        with pytest.raises(qaj.JobNotFoundError):
            store.resolve(prefix)
    elif job_id == "invalid":
        with pytest.raises(qaj.InvalidJobIdError):
            store.resolve(prefix)
    elif job_id is None:
        with pytest.raises(qaj.AmbiguousJobIdError) as caught:
            store.resolve(prefix)
        assert caught.value.matches == sorted(j for j in PREFIXED if j.startswith(prefix))
    else:
        assert store.resolve(prefix) == job_id


def test_an_ambiguous_prefix_exits_2_listing_the_ids(prefixed, store):
    for command in (("show",), ("rm",), ("export",), ("watch",)):
        result = run(*command, "abc", code=2)
        assert result.stderr.count("\n") == 1 and "ambiguous" in result.stderr
        assert "abc123-one, abc123-two" in result.stderr and "ABC999" not in result.stderr
    assert store.count() == len(PREFIXED)  # rm deleted nothing
    result = run("rm", "abc123-o", "abc", code=2)
    assert store.count() == len(PREFIXED)  # not even the prefix that was unique
    assert run("show", "abc9", code=1).stderr.startswith("aer-jobs: error: No job with id 'abc9'")


@pytest.mark.parametrize(
    "command",
    [
        ("show", "--json"),
        ("watch", "--json"),
        ("plot", "--json", "-o", "{tmp}/x.png"),
        ("export", "--json", "-o", "{tmp}"),
        ("rerun", "--json"),
        ("rm", "--json"),
    ],
)
def test_commands_take_a_unique_prefix(ids, tmp_path, command):
    full = ids["pair"]
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    out = run(*args, full[:8]).stdout
    assert full in out
    if command[0] == "rm":
        assert json.loads(out) == {"deleted": [full], "not_found": []}


def test_show_text(ids):
    out = run("show", ids["bell"]).stdout
    assert ids["bell"] in out and "bell-run" in out and "qiskit_aer=" in out
    assert "┤ H ├" in out  # the circuit drawn as text
    assert "counts: bell" in out and "00" in out and "11" in out
    assert "shots" in out


def test_show_json(ids, store):
    data = json.loads(run("show", "--json", "--max-circuits", "0", ids["pair"]).stdout)
    assert data["manifest"]["job_id"] == ids["pair"]
    assert data["run_options"]["shots"] == 64 and data["run_options"]["seed_simulator"] == 7
    assert len(data["circuits"]) == 2 and "┤ H ├" in data["circuits"][0]
    stored = store.get(ids["pair"]).result()
    assert [(e["index"], e["name"], e["counts"]) for e in data["experiments"]] == [
        (0, "ghz3", stored.get_counts(0)),
        (1, "ghz4", stored.get_counts(1)),
    ]
    assert data["experiments"][0]["header"]["memory_slots"] == 3
    assert "counts" not in data  # experiments replace the counts keyed by name
    assert data["error"] is None
    assert "shots" not in data["backend_options"]  # only options changed from the defaults
    everything = json.loads(run("show", "--json", "--all-options", ids["pair"]).stdout)
    assert everything["backend_options"]["shots"] == 1024


def test_show_json_keeps_experiments_sharing_a_name(store, backend):
    circuits = []
    for i in range(4):
        qc = ghz(2, name="same" if i % 2 else "shared")
        qc.metadata = {"xval": i / 2}
        if i == 3:
            qc.x(0)  # after the measurements: only its drawing differs
        circuits.append(qc)
    circuits[2] = ghz(3, name="shared")
    circuits[2].metadata = {"xval": 1.0}
    job = backend.run(circuits, shots=50, seed_simulator=5)
    live = job.result()
    store.flush()
    data = json.loads(run("show", "--json", job.job_id()).stdout)
    found = data["experiments"]
    assert [(e["index"], e["name"]) for e in found] == [
        (0, "shared"),
        (1, "same"),
        (2, "shared"),
        (3, "same"),
    ]
    assert [e["counts"] for e in found] == [live.get_counts(i) for i in range(4)]
    assert [e["header"]["metadata"] for e in found] == [{"xval": x} for x in (0, 0.5, 1.0, 1.5)]
    out = run("show", "--max-circuits", "3", job.job_id()).stdout
    assert "metadata {'xval': 0.5}" in out and "metadata {'xval': 1.5}" not in out
    assert out.count("counts: ") == 3 and "1 more experiments (--max-circuits 0)" in out
    assert run("show", "--max-circuits", "0", job.job_id()).stdout.count("counts: ") == 4


def test_show_a_statevector_job_names_its_data(ids):
    data = json.loads(run("show", "--json", ids["statevector"]).stdout)
    [experiment] = data["experiments"]
    assert "counts" not in experiment
    amplitudes = experiment["data"]["statevector"]
    assert len(amplitudes) == 4 and amplitudes[0] == pytest.approx([2**-0.5, 0])
    assert "data: sv: statevector" in run("show", ids["statevector"]).stdout


@pytest.mark.parametrize("trusted", [True, False])
def test_show_an_estimator_job(store, tmp_path, trusted):
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp

    from qiskit_aer_jobstore.primitives import EstimatorV2

    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    observables = [[SparsePauliOp("Z")], [SparsePauliOp("X")]]
    job = EstimatorV2().run([(qc, observables, [[0.4], [1.0]])])
    evs = job.result()[0].data.evs
    store.flush()
    args = ("show", job.job_id())
    if not trusted:  # a colleague's job: read from its portable copies, without its pubs
        path = store.export_archive(job.job_id(), tmp_path)
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        env = {"QISKIT_AER_JOBS_DIR": str(theirs), "QISKIT_AER_JOBS_KEY": str(tmp_path / "k")}
        assert CliRunner().invoke(cli, ["import", str(path)], env=env).exit_code == 0
        shown = CliRunner().invoke(cli, ["show", "--json", job.job_id()], env=env)
        assert shown.exit_code == 0, shown.stderr
        [pub] = json.loads(shown.stdout)["experiments"]
        assert pub["data"]["evs"] == evs.tolist() and "stds" in pub["data"]
        text = CliRunner().invoke(cli, list(args), env=env).stdout
        assert "evs: pub 0" in text and f"{evs[0][1]:.6g}" in text
        return
    [pub] = json.loads(run("show", "--json", job.job_id()).stdout)["experiments"]
    assert pub["data"]["evs"] == evs.tolist()
    assert pub["data"]["observables"] == [[{"Z": 1.0}], [{"X": 1.0}]]
    assert pub["data"]["parameters"] == ["theta"]
    assert pub["data"]["parameter_values"] == [[0.4], [1.0]]
    out = run(*args).stdout
    assert "evs: pub 0" in out and "observable" in out
    assert "1*Z" in out and "theta=0.4" in out and f"{evs[0][1]:.6g}" in out


def test_show_limits_circuits_and_outcomes(ids):
    out = run("show", "--max-circuits", "1", "--top", "1", ids["pair"]).stdout
    assert "circuit ghz3" in out and "circuit ghz4" not in out
    assert "1 more circuits" in out and "1 more outcomes" in out


def test_show_failed_job(ids):
    out = run("show", ids["failed"]).stdout
    assert "AerError: out of memory" in out
    data = json.loads(run("show", "--json", ids["failed"]).stdout)
    assert data["experiments"] == [] and "out of memory" in data["error"]


def test_plot_writes_a_png(ids, tmp_path):
    from matplotlib.image import imread

    for role in ("bell", "pair"):
        path = tmp_path / f"{role}.png"
        result = run("plot", ids[role], "-o", str(path))
        assert str(path) in result.stdout
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    data = json.loads(
        run(
            "plot", "--json", ids["pair"], "-o", str(tmp_path / "one.png"), "--experiment", "1"
        ).stdout
    )
    assert data == {"job_id": ids["pair"], "path": str(tmp_path / "one.png")}


@pytest.mark.parametrize(
    ("role", "extra", "message"),
    [
        ("statevector", (), "has no counts to plot"),
        ("pair", ("--experiment", "2"), "experiment 2 does not exist"),
        ("failed", (), "ended with status ERROR"),
    ],
)
def test_plot_refuses_what_it_cannot_draw(ids, tmp_path, role, extra, message):
    path = tmp_path / "x.png"
    result = run("plot", ids[role], "-o", str(path), *extra, code=1)
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not path.exists()


def test_rm_deletes_and_reports_missing(ids, store):
    result = run("rm", ids["bell"], ids["old"])
    assert result.stdout.splitlines() == [f"Deleted {ids['bell']}", f"Deleted {ids['old']}"]
    assert ids["bell"] not in listed() and ids["old"] not in listed()
    result = run("rm", "--json", ids["pair"], "missing-job", code=1)
    assert json.loads(result.stdout) == {"deleted": [ids["pair"]], "not_found": ["missing-job"]}
    assert "missing-job" in result.stderr
    assert store.count() == 2


def test_du_by_backend_and_month(ids, store):
    data = json.loads(run("du", "--json").stdout)
    old_month = store.get(ids["old"]).creation_date().strftime("%Y-%m")
    this_month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    groups = {(g["backend_name"], g["month"]): g["jobs"] for g in data["usage"]}
    assert groups == {("aer_simulator", this_month): 4, ("other_sim", old_month): 1}
    assert data["total"] == {"jobs": 5, "bytes": store.size()}
    assert sum(g["bytes"] for g in data["usage"]) == store.size()
    only_paper = json.loads(run("du", "--json", "--tag", "paper").stdout)
    assert only_paper["total"]["jobs"] == 2
    out = run("du").stdout
    assert "other_sim" in out and old_month in out and "total" in out


def test_reindex_lists_damaged_archives(ids, store):
    (store.path / "20200101T000000000000Z_broken.zip").write_bytes(b"not a zip")
    result = run("reindex")
    assert f"Indexed 5 jobs in {store.path}" in result.stdout
    assert "skipped 20200101T000000000000Z_broken.zip" in result.stderr
    data = json.loads(run("reindex", "--json").stdout)
    assert data["jobs"] == 5 and [s["archive"] for s in data["skipped"]] == [
        "20200101T000000000000Z_broken.zip"
    ]
    assert (store.path / "20200101T000000000000Z_broken.zip").exists()


def test_warnings_are_one_line(ids, store):
    (store.path / "20200101T000000000000Z_broken.zip").write_bytes(b"not a zip")
    result = run("list", "--tag", "old")
    assert "aer-jobs: warning: Skipped a damaged archive" in result.stderr
    assert result.stderr.count("\n") == 1


def test_store_option_names_another_store(tmp_path, backend):
    other = qaj.JobStore(tmp_path / "elsewhere")
    other.save(qaj.JobRecord(job_id="elsewhere-1", backend_name="aer_simulator"))
    assert listed("--tag", "x", code=1) == []
    result = run("--store", str(other.path), "list", "--json")
    assert [row["job_id"] for row in json.loads(result.stdout)] == ["elsewhere-1"]


def test_a_real_process_lists_json(ids):
    # python -m runs the module the aer-jobs console script points at
    out = subprocess.run(
        [sys.executable, "-m", "qiskit_aer_jobstore.cli", "list", "--json", "--limit", "0"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
        timeout=120,
    ).stdout
    assert [row["job_id"] for row in json.loads(out)] == listed()
    failed = subprocess.run(
        [sys.executable, "-m", "qiskit_aer_jobstore.cli", "show", "missing-job"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * 86400),
        ("12h", 43200),
        ("2w", 14 * 86400),
        ("90m", 5400),
        ("45", 45),
        (" 1.5 H ", 5400),
        (dt.timedelta(hours=1), 3600),
        (7, 7),
    ],
)
def test_durations_parse(text, seconds):
    assert settings.parse_duration(text, "--older-than").total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7x", "-3d", "d", -1])
def test_bad_durations_say_what_to_give(text):
    with pytest.raises(qaj.JobStoreSettingsError, match="--older-than"):
        settings.parse_duration(text, "--older-than")


def test_prune(ids, store):
    result = run("prune", "--keep-last", "2", "--dry-run", "--json")
    assert json.loads(result.stdout) == {
        "deleted": [ids["old"], ids["bell"], ids["pair"]],
        "dry_run": True,
    }
    assert store.count() == 5
    result = run("prune", "--older-than", "30d")
    assert f"Deleted {ids['old']}" in result.stdout and "Deleted 1 job;" in result.stdout
    assert ids["old"] not in listed()
    data = json.loads(run("prune", "--max-size", "1", "--json").stdout)
    assert len(data["deleted"]) == 4 and store.count() == 0


@pytest.mark.parametrize(
    "args",
    [(), ("--older-than", "soon"), ("--max-size", "lots"), ("--keep-last", "-1")],
)
def test_prune_bad_usage(ids, store, args):
    result = run("prune", *args, code=2)
    assert result.stderr.count("\n") == 1 and store.count() == 5


def test_export_then_import_into_another_store(ids, store, tmp_path):
    path = tmp_path / "bell.zip"
    assert run("export", ids["bell"], "-o", str(path)).stdout.startswith(f"Exported {ids['bell']}")
    folder = tmp_path / "out"
    folder.mkdir()
    exported = json.loads(run("export", "--json", ids["bell"], "-o", str(folder)).stdout)["path"]
    assert os.path.dirname(exported) == str(folder)
    assert open(exported, "rb").read() == path.read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    data = json.loads(run("--store", str(other), "import", "--json", str(path)).stdout)
    assert data["job_id"] == ids["bell"] and data["path"].startswith(str(other))
    assert [
        row["job_id"] for row in json.loads(run("--store", str(other), "list", "--json").stdout)
    ] == [ids["bell"]]
    assert (
        json.loads(run("--store", str(other), "show", "--json", ids["bell"]).stdout)["experiments"]
        == json.loads(run("show", "--json", ids["bell"]).stdout)["experiments"]
    )


@pytest.mark.parametrize("trust", [False, True])
def test_import_from_someone_else(ids, tmp_path, trust):
    path = tmp_path / "bell.zip"
    run("export", ids["bell"], "-o", str(path))
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    env = {"QISKIT_AER_JOBS_DIR": str(theirs), "QISKIT_AER_JOBS_KEY": str(tmp_path / "their.key")}
    args = ["import", str(path)] + (["--trust"] if trust else [])
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.stderr
    shown = CliRunner().invoke(cli, ["show", "--json", ids["bell"]], env=env)
    assert shown.exit_code == 0, shown.stderr
    experiments = json.loads(shown.stdout)["experiments"]
    assert [e["name"] for e in experiments] == ["bell"]
    assert sum(experiments[0]["counts"].values()) == 200


def test_import_refuses_what_is_not_an_archive(store, tmp_path):
    assert run("import", str(tmp_path / "missing.zip"), code=2).stderr.count("\n") == 1
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all")
    result = run("import", str(junk), code=1)
    assert "not a readable job archive" in result.stderr and result.stderr.count("\n") == 1


def test_check(ids, store):
    assert run("check").stdout == f"No problems in {store.path}\n"
    assert json.loads(run("check", "--json").stdout) == {
        "problems": [],
        "untrusted": [],
        "fixed": False,
    }
    broken = "20200101T000000000000Z_broken.zip"
    (store.path / broken).write_bytes(b"not a zip")
    result = run("check", code=1)
    assert result.stdout.startswith(f"{broken}: ") and "1 problem(s)" in result.stderr
    data = json.loads(run("check", "--json", code=1).stdout)
    assert [p["archive"] for p in data["problems"]] == [broken]


def test_check_counts_untrusted_imports_but_passes(ids, store, tmp_path):
    theirs = qaj.JobStore(tmp_path / "theirs", tmp_path / "their.key")
    theirs.save(qaj.JobRecord(job_id="their-1", backend_name="sim", circuits=[ghz(2)]))
    store.import_archive(theirs.export_archive("their-1", tmp_path))
    result = run("check")
    assert result.stdout.splitlines() == [
        f"No problems in {store.path}",
        "1 untrusted job(s), not signed with this store's key: read from their portable "
        "copies only (`aer-jobs import --trust` re-signs one)",
    ]
    data = json.loads(run("check", "--json").stdout)
    assert data["problems"] == [] and data["untrusted"] == ["their-1"]


def test_check_reports_progress(ids, store):
    seen = []
    assert store.check(progress=lambda done, total: seen.append((done, total))) == []
    assert seen == [(i, 5) for i in range(1, 6)]


def test_rerun_gives_the_same_counts(ids, store):
    data = json.loads(run("rerun", "--json", ids["pair"]).stdout)
    assert data["job_id"] == ids["pair"] and data["status"] == "DONE" and data["equal"] is True
    new = store.get(data["rerun_job_id"])
    assert new.result().get_counts() == store.get(ids["pair"]).result().get_counts()
    result = run("rerun", "--shots", "10", ids["bell"])
    new_id = result.stdout.split(" as ")[1].split()[0]
    assert result.stdout == (
        f"Reran {ids['bell']} as {new_id} (DONE): the result is different from the stored one\n"
    )
    seeded = run("rerun", ids["pair"][:8]).stdout
    assert seeded.endswith("(DONE): the result is equal to the stored one\n")
    assert store.get(new_id).manifest["shots"] == 10
    assert run("rerun", "missing-job", code=1).stderr.count("\n") == 1


def test_rerun_of_primitive_jobs(store, backend):
    from qiskit.circuit import Parameter
    from qiskit.quantum_info import SparsePauliOp

    from qiskit_aer_jobstore.primitives import EstimatorV2, SamplerV2

    theta = Parameter("theta")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    sampled = SamplerV2(seed=2).run([(qc.measure_all(inplace=False), [[0.4], [1.9]])], shots=30)
    estimated = EstimatorV2().run([(qc, SparsePauliOp("Z"), [0.4])])
    live = sampled.result()
    estimated.result()
    store.flush()
    data = json.loads(run("rerun", "--json", sampled.job_id()).stdout)
    assert data["job_id"] == sampled.job_id() and data["status"] == "DONE" and data["equal"]
    new = store.get(data["rerun_job_id"])
    assert new.primitive == "sampler" and new.result()[0].data.meas == live[0].data.meas
    out = run("rerun", "--shots", "5", sampled.job_id()).stdout
    assert store.get(out.split(" as ")[1].split()[0]).manifest["shots"] == 5
    assert json.loads(run("rerun", "--json", estimated.job_id()).stdout)["equal"] is True
    assert "different" in run("rerun", "--shots", "7", sampled.job_id()).stdout
    refused = run("rerun", "--shots", "5", estimated.job_id(), code=1)
    assert "no shots" in refused.stderr
    store.flush()
    # the two jobs, three sampler reruns and one estimator rerun
    assert len(backend.local_jobs(limit=None)) == 6


def _blocked_sweep(backend, pool, gate):
    """A 6-piece sweep on a one-thread pool that first waits for ``gate``."""
    from .conftest import layered

    pool.submit(gate.wait, 60)
    circuits = [layered(8, 4, seed) for seed in range(6)]
    return backend.run(circuits, shots=20, seed_simulator=3, executor=pool, max_job_size=1)


def test_watch_follows_a_sweep_to_the_end(store, backend):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = _blocked_sweep(backend, pool, gate)
        store.flush()
        data = json.loads(run("show", "--json", job.job_id()).stdout)
        assert data["progress"] == {"done": 0, "total": 6, "failed": 0}
        waited = run("watch", "--timeout", "0.3", "--interval", "0.1", job.job_id(), code=1)
        assert "0/6" in waited.stderr  # the progress bar, on stderr
        assert waited.stderr.splitlines()[-1].startswith("aer-jobs: error: ")
        assert "is still RUNNING after 0.3 s" in waited.stderr
        gate.set()
        result = run("watch", "--json", "--interval", "0.1", job.job_id())
    assert json.loads(result.stdout) == {
        "job_id": job.job_id(),
        "status": "DONE",
        "done": 6,
        "total": 6,
        "failed": 0,
        "error": None,
    }
    assert run("watch", job.job_id()).stdout == f"{job.job_id()}: DONE (6/6 pieces done)\n"
    data = json.loads(run("show", "--json", job.job_id()).stdout)
    assert data["progress"] == {"done": 6, "total": 6, "failed": 0}
    assert [p["status"] for p in data["sub_jobs"]] == ["DONE"] * 6
    assert "6/6 done" in run("show", job.job_id()).stdout


def test_watch_a_cancelled_sweep_says_how_to_finish_it(store, backend):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = _blocked_sweep(backend, pool, gate)
        assert job.cancel()
        deadline = time.monotonic() + 30
        while job.status().name != "CANCELLED":  # every piece cancelled before any ran
            assert time.monotonic() < deadline
            time.sleep(0.01)
        gate.set()
    store.flush()
    result = run("watch", job.job_id(), code=1)
    assert "ended CANCELLED" in result.stderr and "resume()" in result.stderr
    assert "0/6 done" in run("show", job.job_id()).stdout


def test_show_and_watch_a_job_not_split(ids):
    assert "pieces" not in run("show", ids["bell"]).stdout
    data = json.loads(run("watch", "--json", ids["bell"]).stdout)
    assert (data["status"], data["done"], data["total"]) == ("DONE", 1, 1)
    failed = run("watch", ids["failed"], code=1).stderr
    assert "ended ERROR: AerError: out of memory" in failed and "resume" not in failed


@pytest.mark.parametrize("command", ["reindex", "check"])
def test_long_commands_show_a_progress_bar_on_a_terminal(ids, command, monkeypatch):
    assert run(command).stderr == ""  # not a terminal: no bar, no stray line
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: treat stderr as a terminal
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    bar = run(command).stderr
    assert ("indexing" if command == "reindex" else "checking") in bar and "5/5" in bar


def test_reindex_reports_progress(ids, store):
    seen = []
    assert store.reindex(progress=lambda done, total: seen.append((done, total))) == []
    assert seen == [(i, 5) for i in range(1, 6)]


def test_the_installed_console_script_runs(ids, store):
    import shutil

    script = shutil.which("aer-jobs")
    assert script, "the aer-jobs console script is not installed (pip install -e .)"
    out = subprocess.run(
        [script, "--store", str(store.path), "list", "--json", "--limit", "0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert {row["job_id"] for row in json.loads(out)} == set(ids.values())


def test_list_primitive_jobs(ids, store):
    from qiskit_aer_jobstore.primitives import SamplerV2

    job = SamplerV2(seed=3).run([ghz(2)], shots=50)
    job.result()
    store.flush()
    rows = json.loads(run("list", "--json", "--primitive", "sampler").stdout)
    assert [(r["job_id"], r["primitive"]) for r in rows] == [(job.job_id(), "sampler")]
    assert run("list", "--primitive", "estimator", code=1).stderr.count("\n") == 1
    assert "'annealer' is not one of" in run("list", "--primitive", "annealer", code=2).stderr
