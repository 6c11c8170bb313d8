"""aer-jobs ui through Starlette's test client: every route, filters, keyset pages, sorting,
escaping, id prefixes, the JSON twins, read-only refusal, write mode's CSRF check, and
untrusted jobs whose circuits are parsed in a child process."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from urllib.parse import parse_qsl

import pytest
from qiskit import QuantumCircuit, qpy
from qiskit.quantum_info import SparsePauliOp
from qiskit_aer.noise import NoiseModel, depolarizing_error
from starlette.testclient import TestClient

import qiskit_aer_jobstore as qaj
from qiskit_aer_jobstore.cli.ui import is_loopback
from qiskit_aer_jobstore.manifest import MANIFEST
from qiskit_aer_jobstore.primitives import EstimatorV2
from qiskit_aer_jobstore.web import create_app

from .conftest import ghz, rewrite_archive

EVIL = "<script>alert(1)</script>"


def client(store: qaj.JobStore, write: bool = False, **kwargs) -> TestClient:
    return TestClient(create_app(store, write=write, **kwargs), base_url="http://127.0.0.1")


def rx(angle: float) -> QuantumCircuit:
    qc = QuantumCircuit(1, name="rx")
    qc.rx(angle, 0)
    qc.measure_all()
    return qc


@pytest.fixture
def jobs(store, backend, bell):
    """A tagged job with a hostile name, a noisy one, and a pair that differ by one angle."""
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(0.05, 2), ["cx"])
    made = {
        "tagged": backend.run(bell, shots=100, seed_simulator=1, job_name=EVIL,
                              job_tags=["paper", "<b>bold</b>"]),
        "noisy": backend.run(ghz(3), shots=200, seed_simulator=2, noise_model=noise,
                             job_tags=["noise"]),
        "a": backend.run(rx(0.3), shots=500, seed_simulator=3, job_name="angle"),
        "b": backend.run(rx(0.4), shots=500, seed_simulator=3, job_name="angle"),
    }
    for job in made.values():
        job.result()
    store.flush()
    return {k: j.job_id() for k, j in made.items()}


def many(store, n: int) -> list[str]:
    """``n`` ended jobs (manifests only), one a second, with shots and names that vary."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    ids = []
    for i in range(n):
        record = qaj.JobRecord(
            job_id=f"many-{i:03d}", backend_name="aer_simulator", status="DONE",
            creation_date=start + dt.timedelta(seconds=i), end_date=start,
            job_name=f"n{i % 4}", job_tags=["even"] if i % 2 == 0 else [],
            run_options={"shots": 10 * (i % 5)}, manifest_only=True,
        )
        store.save(record)
        ids.append(record.job_id)
    return ids


def test_table_lists_every_job_with_links(jobs, store):
    page = client(store).get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for job_id in jobs.values():
        assert f'href="/jobs/{job_id}"' in page.text
        assert f'name="job" value="{job_id}"' in page.text  # the checkboxes to diff two
    data = client(store).get("/api/jobs").json()
    assert data["total"] == 4 and {j["job_id"] for j in data["jobs"]} == set(jobs.values())
    assert client(store).get("/?format=json").json()["total"] == 4


@pytest.mark.parametrize(
    "query, expected",
    [
        ("job_tags=paper", {"tagged"}),
        ("job_tags=paper,noise", {"tagged", "noisy"}),
        ("job_tags=paper&job_tags=noise", {"tagged", "noisy"}),
        ("job_tags=paper&job_tags=noise&job_tags_operator=AND", set()),
        ("job_name=angle", {"a", "b"}),
        ("num_qubits=3", {"noisy"}),
        ("num_qubits=2..", {"tagged", "noisy"}),
        ("shots=..200", {"tagged", "noisy"}),
        ("status=DONE,ERROR", {"tagged", "noisy", "a", "b"}),
        ("status=ERROR", set()),
        ("created_after=1d", {"tagged", "noisy", "a", "b"}),
        ("created_before=2000-01-01", set()),
        ("backend_name=aer_simulator&reused=false", {"tagged", "noisy", "a", "b"}),
    ],
)
def test_filters_are_jobs_filter_names(jobs, store, query, expected):
    data = client(store).get(f"/api/jobs?{query}").json()
    names = {k for k, v in jobs.items() if v in {j["job_id"] for j in data["jobs"]}}
    assert names == expected and data["total"] == len(expected)


@pytest.mark.parametrize(
    "query, said",
    [
        ("bogus=1", "Unknown parameter"), ("status=NOPE", "Invalid status"),
        ("num_qubits=x", "Invalid num_qubits"), ("limit=0", "Invalid limit"),
        ("after=nonsense", "cursor"), ("sort=manifest", "Invalid sort"),
        ("created_after=yesterday", "created_after"), ("reused=maybe", "Invalid reused"),
        ("location=mars", "Invalid location"),
    ],
)
def test_bad_parameters_are_a_400_that_says_why(store, query, said):
    answer = client(store).get(f"/api/jobs?{query}")
    assert answer.status_code == 400 and said in answer.json()["error"]
    assert client(store).get(f"/?{query}").status_code == 400


def walk(app: TestClient, query: str, key: str = "next", cursor: str | None = None):
    pages = []
    while True:
        params = parse_qsl(query)  # httpx's params= replaces a URL's query: pass them all
        if cursor is not None:
            params.append(("after" if key == "next" else "before", cursor))
        data = app.get("/api/jobs", params=params).json()
        pages.append([j["job_id"] for j in data["jobs"]])
        cursor = data[key]
        if cursor is None:
            return pages, data


def test_keyset_pages_do_not_overlap_and_end(store):
    ids = many(store, 23)
    app = client(store)
    pages, last = walk(app, "limit=5")
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3] and last["previous"] is not None
    assert [j for p in pages for j in p] == ids[::-1]  # newest first, each job once
    # back from the last page with the previous links, to the first page
    data = app.get("/api/jobs", params={"limit": 5, "after": app.get("/api/jobs?limit=5").json()[
        "next"]}).json()
    back = app.get("/api/jobs", params={"limit": 5, "before": data["previous"]}).json()
    assert [j["job_id"] for j in back["jobs"]] == pages[0] and back["previous"] is None
    filtered, _ = walk(app, "limit=4&job_tags=even&sort=shots&order=asc")
    flat = [j for p in filtered for j in p]
    assert sorted(flat) == sorted(ids[::2]) and len(set(flat)) == len(flat)


def test_filtered_totals_stop_at_the_cap(store, monkeypatch):
    from qiskit_aer_jobstore.web import query

    many(store, 12)
    monkeypatch.setattr(query, "COUNT_CAP", 5)
    app = client(store)
    filtered = app.get("/api/jobs?job_tags=even").json()
    assert (filtered["total"], filtered["total_exact"]) == (5, False)
    assert "of 5+ jobs" in app.get("/?job_tags=even").text
    everything = app.get("/api/jobs").json()  # all jobs: counted exactly
    assert (everything["total"], everything["total_exact"]) == (12, True)


@pytest.mark.parametrize("sort", ["shots", "job_name", "created", "job_id", "size"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_sorting_by_a_column(store, sort, order):
    many(store, 12)
    field = {"created": "creation_date"}.get(sort, sort)
    pages, _ = walk(client(store), f"limit=5&sort={sort}&order={order}")
    rows = {j["job_id"]: j for j in client(store).get("/api/jobs?limit=500").json()["jobs"]}
    values = [(rows[j][field], j) for p in pages for j in p]
    assert values == sorted(values, reverse=order == "desc") and len(values) == 12
    assert f"sort={sort}" in client(store).get(f"/?sort={sort}&order={order}").text


def test_every_value_is_escaped(jobs, store):
    for url in ("/", f"/jobs/{jobs['tagged']}", "/?job_tags=<b>bold</b>"):
        text = client(store).get(url).text
        assert EVIL not in text and "<b>bold</b>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text or "&lt;b&gt;bold" in text


def test_job_page_shows_circuits_histograms_and_options(jobs, store):
    page = client(store).get(f"/jobs/{jobs['tagged']}")
    assert page.status_code == 200
    assert 'class="histogram"><svg' in page.text and 'class="drawing"' in page.text
    assert "shots" in page.text and "paper" in page.text and 'http-equiv="refresh"' not in page.text
    data = client(store).get(f"/api/jobs/{jobs['tagged']}").json()
    assert data["experiments"][0]["counts"] == {"00": 53, "11": 47} or sum(
        data["experiments"][0]["counts"].values()) == 100
    assert data["circuits"]["count"] == 1 and data["circuits"]["circuits"][0]["ops"]["cx"] == 1
    assert data["trusted"] is True and "svg" not in json.dumps(data["circuits"]["circuits"][0])
    assert client(store).get(f"/jobs/{jobs['tagged']}?format=json").json() == data
    drawn = client(store).get(f"/jobs/{jobs['tagged'][:8]}/circuits/0.svg")
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/svg+xml"
    assert drawn.text.lstrip().startswith(("<?xml", "<svg")) and "<script" not in drawn.text
    assert client(store).get(f"/jobs/{jobs['tagged']}/circuits/5.svg").status_code == 422


def test_noisy_job_shows_its_noise_model(jobs, store):
    data = client(store).get(f"/api/jobs/{jobs['noisy']}").json()
    assert data["noise_model"]["instructions with errors"] == ["cx"]
    assert "instructions with errors" in client(store).get(f"/jobs/{jobs['noisy']}").text


def test_estimator_job_shows_evs_and_stds(store):
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    job = EstimatorV2().run([(qc, [SparsePauliOp("ZZ"), SparsePauliOp("XI")])])
    job.result()
    store.flush()
    data = client(store).get(f"/api/jobs/{job.job_id()}").json()
    rows = data["experiments"][0]["estimator"]
    assert [round(r["ev"], 6) for r in rows] == [1.0, 0.0] and rows[0]["observable"]
    assert "evs" in client(store).get(f"/jobs/{job.job_id()}").text or "ev</th>" in (
        client(store).get(f"/jobs/{job.job_id()}").text)


def test_split_job_shows_its_pieces(store, backend):
    job = backend.run([ghz(2), ghz(3), ghz(4)], shots=50, seed_simulator=5, max_job_size=1)
    job.result()
    store.flush()
    data = client(store).get(f"/api/jobs/{job.job_id()}").json()
    assert data["progress"]["total"] == 3 and data["progress"]["done"] == 3
    assert len(data["sub_jobs"]) == 3
    assert "<progress" in client(store).get(f"/jobs/{job.job_id()}").text


def test_running_job_page_refreshes(store):
    store.save(qaj.JobRecord(job_id="still-running", backend_name="aer_simulator",
                             status="RUNNING", manifest_only=True))
    page = client(store).get("/jobs/still-running")
    assert page.status_code == 200 and 'http-equiv="refresh"' in page.text
    assert client(store).get("/api/jobs/still-running").json()["final"] is False


def test_prefixes_ambiguity_and_not_found(store):
    for job_id in ("abc-1", "abc-2", "xyz-1"):
        store.save(qaj.JobRecord(job_id=job_id, backend_name="aer_simulator",
                                 manifest_only=True))
    app = client(store)
    assert app.get("/api/jobs/xy").json()["job_id"] == "xyz-1"
    ambiguous = app.get("/jobs/abc")
    assert ambiguous.status_code == 409 and "abc-1" in ambiguous.text and "abc-2" in ambiguous.text
    assert app.get("/api/jobs/abc").json()["matches"] == ["abc-1", "abc-2"]
    missing = app.get("/jobs/nope")
    assert missing.status_code == 404 and "No job" in missing.text
    assert app.get("/api/jobs/nope").status_code == 404
    assert app.get("/jobs/a%20b").status_code == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("url", ["/", "/jobs/{id}", "/jobs/{id}/delete", "/jobs/{id}/tags"])
def test_read_only_refuses_every_change(jobs, store, method, url):
    answer = client(store).request(method, url.format(id=jobs["a"]))
    assert answer.status_code == 405 and "--write" in answer.text
    assert store.count() == 4


def test_write_mode_needs_the_csrf_token(jobs, store):
    app = client(store, write=True)
    page = app.get(f"/jobs/{jobs['a']}").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    url = f"/jobs/{jobs['a']}/delete"
    assert app.post(url).status_code == 403
    assert app.post(url, data={"csrf_token": "guess"}).status_code == 403
    assert store.count() == 4
    tags = app.post(f"/jobs/{jobs['a']}/tags", data={"csrf_token": token, "job_tags": "x, y"},
                    follow_redirects=False)
    assert tags.status_code == 303 and store.get(jobs["a"]).tags == ["x", "y"]
    assert app.post(url, data={"csrf_token": token}).status_code == 400  # not confirmed
    gone = app.post(url, data={"csrf_token": token, "confirm": "on"}, follow_redirects=False)
    assert gone.status_code == 303 and store.count() == 3
    assert app.delete(url).status_code == 405  # only POSTs, even in write mode
    assert client(store, write=True).post(  # another server, another token
        f"/jobs/{jobs['b']}/delete", data={"csrf_token": token, "confirm": "on"}
    ).status_code == 403


def untrusted(store, tmp_path, job_id: str, qpy_bytes: bytes | None = None) -> qaj.JobStore:
    """A second store holding ``job_id`` as an untrusted import (signed by the first store's
    key), its circuits.qpy replaced by ``qpy_bytes`` if given."""
    path = store.export_archive(job_id, tmp_path / "exported")
    if qpy_bytes is not None:
        def change(items):
            items["circuits.qpy"] = qpy_bytes
            manifest = json.loads(items[MANIFEST])
            manifest["members"]["circuits.qpy"] = {
                "size": len(qpy_bytes), "sha256": hashlib.sha256(qpy_bytes).hexdigest()}
            items[MANIFEST] = json.dumps(manifest).encode()

        rewrite_archive(path, change)
    other = qaj.JobStore(tmp_path / "other", tmp_path / "other.key")
    other.import_archive(path)
    return other


def test_untrusted_job_circuits_are_parsed_in_a_child(jobs, store, tmp_path, monkeypatch):
    other = untrusted(store, tmp_path, jobs["tagged"])
    monkeypatch.setattr(qpy, "load", lambda *a, **k: pytest.fail("QPY parsed in the server"))
    page = client(other).get(f"/jobs/{jobs['tagged']}")
    assert page.status_code == 200 and "untrusted" in page.text
    assert 'class="drawing"' in page.text and 'class="histogram"><svg' in page.text
    data = client(other).get(f"/api/jobs/{jobs['tagged']}").json()
    assert data["trusted"] is False and data["circuits"]["circuits"][0]["ops"]["cx"] == 1
    drawn = client(other).get(f"/jobs/{jobs['tagged']}/circuits/0.svg")
    assert drawn.status_code == 200 and "<svg" in drawn.text


def hostile_qpy() -> bytes:
    """QPY whose length field at byte 110 makes Qiskit 2.x's reader abort the process (an
    allocation failure in Rust): what SECURITY.md warns of."""
    out = io.BytesIO()
    qc = QuantumCircuit(2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    qpy.dump(qc, out)
    data = out.getvalue()
    return data[:110] + b"\xff" * 7 + b"\x7f" + data[118:]


@pytest.mark.parametrize("payload", [b"garbage", b"", "hostile"])
def test_a_hostile_circuits_qpy_does_not_take_the_server_down(jobs, store, tmp_path, payload):
    other = untrusted(store, tmp_path, jobs["tagged"], hostile_qpy() if payload == "hostile"
                      else payload)
    app = client(other)
    data = app.get(f"/api/jobs/{jobs['tagged']}").json()
    assert data["circuits"]["circuits"] == [] and data["circuits"]["error"]
    assert sum(data["experiments"][0]["counts"].values()) == 100  # the rest is still read
    page = app.get(f"/jobs/{jobs['tagged']}")
    assert page.status_code == 200 and "circuits" in page.text
    assert app.get(f"/jobs/{jobs['tagged']}/circuits/0.svg").status_code == 422
    assert app.get("/").status_code == 200  # still serving


def test_only_loopback_host_names_are_answered(jobs, store):
    assert client(store).get("/", headers={"host": "evil.example"}).status_code == 400
    assert client(store).get("/", headers={"host": "localhost:8765"}).status_code == 200
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_works_offline_with_its_own_assets(jobs, store):
    app = client(store)
    page = app.get(f"/jobs/{jobs['tagged']}").text + app.get("/").text
    assert not re.search(r'(src|href)="(https?:)?//(?!127\.0\.0\.1)', page)
    css = app.get("/static/style.css")
    assert css.status_code == 200 and "table.jobs" in css.text
    assert "script-src 'none'" in app.get("/").headers["content-security-policy"]


def test_team_store_section_pages_with_keyset_on_postgres(store, backend, team_env):
    made = [backend.run(ghz(2), shots=10 + i, job_tags=["team"]) for i in range(5)]
    for job in made:
        job.result()
    store.push()
    app = client(store)
    assert "team store" in app.get("/").text
    pages, _ = walk(app, "location=remote&limit=2")
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [j for p in pages for j in p] == [j.job_id() for j in made][::-1]
    by_shots, _ = walk(app, "location=remote&limit=2&sort=shots&order=asc")
    assert [j for p in by_shots for j in p] == [j.job_id() for j in made]
    job_id = made[0].job_id()
    assert app.get(f"/api/jobs/{job_id[:8]}?location=remote").json()["location"] == "remote"
    assert 'class="histogram"><svg' in app.get(f"/jobs/{job_id}?location=remote").text


def test_remote_without_a_team_store_says_what_to_set(store):
    answer = client(store).get("/api/jobs?location=remote")
    assert answer.status_code == 400 and "remote_index" in answer.json()["error"]


def test_diff_page_overlays_histograms_and_has_a_json_twin(jobs, store):
    app = client(store)
    page = app.get(f"/diff/{jobs['a'][:8]}/{jobs['b']}")
    assert page.status_code == 200 and 'class="overlaid"' in page.text and "<svg" in page.text
    assert "rx(0.3)" in page.text and "rx(0.4)" in page.text  # the one changed angle
    data = app.get(f"/api/diff/{jobs['a']}/{jobs['b']}").json()
    assert data["a"] == jobs["a"] and data["experiments"][0]["index"] == 0
    assert 0 < data["experiments"][0]["tvd"] < 0.2 and data["same_inputs"] is False
    assert app.get(f"/diff/{jobs['a']}/{jobs['b']}?format=json").json() == data
    same = app.get(f"/api/diff/{jobs['a']}/{jobs['a']}").json()
    assert same["equal"] is True and same["experiments"][0]["tvd"] == 0
    picked = app.get(f"/diff?job={jobs['b']}&job={jobs['a']}", follow_redirects=False)
    assert picked.status_code == 303 and picked.headers["location"].endswith(
        f"/diff/{jobs['a']}/{jobs['b']}")
    assert app.get(f"/diff?job={jobs['a']}").status_code == 400
    assert app.get(f"/diff/{jobs['a']}/nope").status_code == 404


def test_untrusted_diff_runs_in_a_child(jobs, store, tmp_path, monkeypatch):
    other = untrusted(store, tmp_path, jobs["a"])
    other.import_archive(store.export_archive(jobs["b"], tmp_path / "b"))
    monkeypatch.setattr(qpy, "load", lambda *a, **k: pytest.fail("QPY parsed in the server"))
    data = client(other).get(f"/api/diff/{jobs['a']}/{jobs['b']}").json()
    assert data["experiments"][0]["tvd"] > 0 and not data["circuits"][0]["equal"]
    page = client(other).get(f"/diff/{jobs['a']}/{jobs['b']}")
    assert page.status_code == 200 and "untrusted" in page.text and "<svg" in page.text


def test_a_hostile_archive_in_a_diff_does_not_take_the_server_down(jobs, store, tmp_path):
    other = untrusted(store, tmp_path, jobs["a"], hostile_qpy())
    other.import_archive(store.export_archive(jobs["b"], tmp_path / "b"))
    app = client(other)
    page = app.get(f"/diff/{jobs['a']}/{jobs['b']}")
    assert page.status_code == 200 and "unharmed" in page.text
    assert app.get("/").status_code == 200


def test_ui_without_the_extra_says_what_to_install(tmp_path):
    """Run ``aer-jobs ui`` where starlette cannot be imported (a meta path finder hides it)."""
    code = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('starlette', 'uvicorn'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from qiskit_aer_jobstore.cli import main\n"
        "sys.argv = ['aer-jobs', 'ui', '--no-browser']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert 'pip install "qiskit-aer-jobstore[ui]"' in proc.stderr
