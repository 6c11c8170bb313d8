"""aer-jobs ui in a real browser: Debian's headless Chromium driven by Playwright, against the
real server (``aer-jobs ui --no-browser`` in a subprocess) on a store of real Aer jobs. Saves
the README's screenshots to docs/screenshots/. Skipped only when Chromium or Playwright is
missing (``apt-get install chromium``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit_aer.noise import NoiseModel, depolarizing_error

from .conftest import ghz

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the test extra has it
    sync_playwright = None

pytestmark = pytest.mark.skipif(
    sync_playwright is None or not os.access(CHROMIUM, os.X_OK),
    reason="the browser test needs Chromium at /usr/bin/chromium (apt-get install chromium) "
    "and the playwright package (pip install -e '.[test]')",
)


def ry(angle: float) -> QuantumCircuit:
    qc = QuantumCircuit(2, name="ansatz")
    qc.ry(angle, 0)
    qc.cx(0, 1)
    qc.ry(angle / 2, 1)
    qc.measure_all()
    return qc


@pytest.fixture
def filled(store, backend):
    """A few real Aer jobs: tagged ones, a noisy one, a pair that differ by one angle."""
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(0.04, 2), ["cx"])
    ids = {}
    for n in (2, 3):
        backend.run(ghz(n), shots=1000, seed_simulator=n, job_name=f"ghz-{n}",
                    job_tags=["calibration"]).result()
    ids["tagged"] = backend.run(ghz(4), shots=2000, seed_simulator=7, job_name="ghz-4 paper",
                                job_tags=["paper", "ghz"]).job_id()
    ids["noisy"] = backend.run(ghz(4), shots=2000, seed_simulator=7, noise_model=noise,
                               job_name="ghz-4 noisy", job_tags=["paper", "noise"]).job_id()
    ids["a"] = backend.run(ry(0.8), shots=4000, seed_simulator=11, job_name="ansatz θ=0.8",
                           job_tags=["scan"]).job_id()
    ids["b"] = backend.run(ry(0.9), shots=4000, seed_simulator=11, job_name="ansatz θ=0.9",
                           job_tags=["scan"]).job_id()
    store.flush()
    return ids


@pytest.fixture
def server(filled, store):
    """``aer-jobs ui --no-browser --port 0`` on the test's store; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qiskit_aer_jobstore.cli", "ui", "--no-browser", "--port", "0",
         "--store", str(store.path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, proc.stderr.read()
        url = line.split()[2]
        import urllib.request

        deadline = time.monotonic() + 60
        while True:  # wait until uvicorn answers
            try:
                urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_table_filter_job_and_diff_in_chromium(server, filled, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(server)
            assert page.locator("table.jobs tbody tr").count() == 6
            page.screenshot(path=str(tmp_path / "table.png"))

            page.fill("input[name=job_tags]", "paper")
            page.click("form.filters button[type=submit]")
            page.wait_for_url("**job_tags=paper**")
            assert page.locator("table.jobs tbody tr").count() == 2

            page.click(f"a[href$='/jobs/{filled['noisy']}']")
            page.wait_for_url(f"**/jobs/{filled['noisy']}")
            assert page.locator(".histogram svg").count() == 1
            drawing = page.locator(".circuit img.drawing")
            assert drawing.count() == 1
            page.wait_for_function(  # the SVG is drawn by its own request
                "document.querySelector('.circuit img.drawing').naturalWidth > 0", timeout=60000)
            assert "cx" in page.locator(".noise, .options").first.inner_text()
            page.screenshot(path=str(tmp_path / "job.png"), full_page=True)

            page.goto(server)
            page.check(f"input[value='{filled['a']}']")
            page.check(f"input[value='{filled['b']}']")
            page.click("button.diff")
            page.wait_for_url(f"**/diff/{filled['a']}/{filled['b']}")
            assert page.locator(".overlaid svg").count() == 1
            assert "ry(0.8)" in page.content() and "ry(0.9)" in page.content()
            page.screenshot(path=str(tmp_path / "diff.png"), full_page=True)
        finally:
            browser.close()
    for name in ("table.png", "job.png", "diff.png"):  # the README's pictures, kept fresh
        shutil.copyfile(tmp_path / name, SHOTS / name)
