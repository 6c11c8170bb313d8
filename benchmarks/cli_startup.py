"""``aer-jobs list`` as a whole process, on a store of 10,000 real jobs, beside a yardstick.

Run ``python benchmarks/cli_startup.py`` (a minute or two: it seeds the store with
``run.py``'s real archives). Times, as whole processes started one after the other in rounds
(after a warm-up each): ``python -m qiskit_aer_jobstore.cli list`` of this checkout, of an
older checkout if ``--before DIR`` names one, ``sqlite-utils`` running the listing's query on
the same index (if installed: ``pip install sqlite-utils``; as installed, and with pandas and
numpy hidden from it), and ``python -c pass``. Prints a
Markdown section and writes it into BENCHMARKS.md. Speed is measured here, never asserted in
tests (``tests/test_cli_quick.py`` checks what the commands import).

Options: ``--jobs N`` (default 10000), ``--store DIR`` (reuse a seeded folder), ``--before DIR``
(a checkout of the code to compare with), ``--repeat N`` (rounds, default 15), ``--out FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The listing's own query (index/sqlite.py): the newest 20 rows, what `aer-jobs list` reads.
QUERY = (
    "select job_id, job_name, backend_name, status, created, num_circuits, num_qubits, shots, "
    "size, manifest from jobs order by created desc, job_id desc limit 20"
)
TARGET_S = 0.2
# sqlite-utils' CLI as in an environment without pandas and numpy (it imports them if found)
WITHOUT_PANDAS = (
    "import sys; sys.modules['pandas'] = sys.modules['numpy'] = None; "
    "from sqlite_utils.cli import cli; cli()"
)


def environment(**changes: str) -> dict[str, str]:
    """This process's environment with bytecode cached, as for an installed package (the
    development machine sets PYTHONDONTWRITEBYTECODE, which recompiles every module a run)."""
    env = dict(os.environ, PYTHONSAFEPATH="1", **changes)  # PYTHONPATH, not the cwd, decides
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def aer_jobs(code: Path) -> tuple[list[str], dict[str, str]]:
    """``aer-jobs list`` run from the checkout ``code``, as the console script runs it."""
    return [sys.executable, "-m", "qiskit_aer_jobstore.cli", "list"], environment(
        PYTHONPATH=str(code))


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - start


def import_costs(code: Path, runs: int = 3) -> dict[str, float]:
    """Cumulative seconds of the main imports of ``aer-jobs list`` (-X importtime, the least
    of ``runs`` runs)."""
    names = ("site", "click", "rich.console", "rich.table", "qiskit_aer_jobstore.store",
             "qiskit_aer_jobstore.cli")
    command, env = aer_jobs(code)
    found: dict[str, float] = {}
    for _ in range(runs):
        done = subprocess.run([command[0], "-X", "importtime", *command[1:]], env=env,
                              capture_output=True, text=True, check=False)
        for line in done.stderr.splitlines():
            parts = line.split("|")
            if line.startswith("import time:") and len(parts) == 3:
                name = parts[2].strip()
                if name in names and parts[1].strip().isdigit():
                    seconds = int(parts[1]) / 1e6
                    found[name] = min(found.get(name, seconds), seconds)
    return {name: found[name] for name in names if name in found}


def commit_of(code: Path) -> str:
    done = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or str(code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--store", type=Path)
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare with")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "benchmarks"))
    sys.path.insert(0, str(ROOT))
    from run import configure, seed, write_section  # run.py's store, seeding and sections

    folder = args.store or Path(tempfile.mkdtemp(prefix="aer-cli-bench-"))
    configure(folder, durability="normal")
    seeded = seed(folder, args.jobs)
    index = folder / "store" / "index.sqlite"

    commands = {"`aer-jobs list`, after": aer_jobs(ROOT)}
    if args.before is not None:
        commands["`aer-jobs list`, before"] = aer_jobs(args.before)
    if shutil.which("sqlite-utils"):
        # sqlite-utils imports pandas and numpy when it finds them (this venv has pandas for
        # the [pandas] extra): timed as installed here, and as in a venv of its own
        commands["`sqlite-utils` the same query, here (imports pandas, numpy)"] = (
            ["sqlite-utils", str(index), QUERY, "--table"], environment())
        commands["`sqlite-utils` the same query, without pandas and numpy"] = (
            [sys.executable, "-c", WITHOUT_PANDAS, str(index), QUERY, "--table"], environment())
    commands["`python -c pass`"] = ([sys.executable, "-c", "pass"], environment())

    for command, env in commands.values():  # warm-up: caches, .pyc files
        wall(command, env)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeat):  # rounds: a drift of the shared machine hits every command
        for label, (command, env) in commands.items():
            times[label].append(wall(command, env))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    import qiskit
    import qiskit_aer

    import qiskit_aer_jobstore as qaj

    store = qaj.JobStore()
    diffs = []
    for _ in range(7):  # what every new process's first listing does (see the note below)
        start = time.perf_counter()
        store.sync(store.blobs.version())
        diffs.append(time.perf_counter() - start)
    diff = statistics.median(diffs)

    after = statistics.median(times["`aer-jobs list`, after"])
    lines = [
        "## `aer-jobs list` startup (`benchmarks/cli_startup.py`)",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC by "
        f"`python benchmarks/cli_startup.py{' --before ...' if args.before else ''}` on "
        f"{platform.system()} {platform.release()}, {os.cpu_count()} cores (load {load:.1f}); "
        f"Python {platform.python_version()}, qiskit {qiskit.__version__}, qiskit-aer "
        f"{qiskit_aer.__version__}. A store of {args.jobs:,} real jobs"
        f"{f' (seeded in {seeded:.0f} s)' if seeded else ''}; each command a whole process, "
        f"{args.repeat} rounds after a warm-up, wall seconds. After: {commit_of(ROOT)}"
        f"{f'; before: {commit_of(args.before)}' if args.before else ''}.",
        "",
        "| command | median | min | max |",
        "|---|---|---|---|",
    ]
    for label, runs in times.items():
        lines.append(f"| {label} | {statistics.median(runs):.3f} s | {min(runs):.3f} s | "
                     f"{max(runs):.3f} s |")
    costs = ", ".join(f"`{name}` {seconds * 1e3:.0f} ms"
                      for name, seconds in import_costs(ROOT).items())
    met = "met" if after <= TARGET_S else "**MISSED**"
    lines += [
        "",
        f"Target `aer-jobs list` <= {TARGET_S} s: {met} ({after:.3f} s at the median). "
        f"What it imports (-X importtime, cumulative, least of 3 runs): {costs}. Its first "
        f"listing diffs the folder against the index ({diff * 1e3:.0f} ms in-process at the "
        "median): the store does so when the folder's mtime changed since the last diff, "
        "which the index's own WAL files do whenever a process closes the index, or when the "
        "last diff is over 30 s old.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(args.out, text, "benchmarks/cli_startup.py")


if __name__ == "__main__":
    main()
