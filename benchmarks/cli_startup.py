"""``aer-jobs list`` as a whole process, on a store of 10,000 real jobs, beside a yardstick.

Run ``python benchmarks/cli_startup.py`` (a minute or two: it seeds the store with
``run.py``'s real archives). Times, as whole processes started one after the other in rounds
(after a warm-up each): ``python -m qiskit_aer_jobstore.cli list`` of this checkout, of an
older checkout if ``--before DIR`` names one, ``sqlite-utils`` running the listing's query on
the same index (if installed: ``pip install sqlite-utils``), and ``python -c pass``. Prints a
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


def aer_jobs(code: Path) -> tuple[list[str], dict[str, str]]:
    """``aer-jobs list`` run from the checkout ``code``, as the console script runs it."""
    env = dict(os.environ, PYTHONPATH=str(code))
    return [sys.executable, "-m", "qiskit_aer_jobstore.cli", "list"], env


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - start


def import_costs(code: Path, top: int = 6) -> list[tuple[str, float]]:
    """The top-level imports of ``aer-jobs list`` and their cumulative seconds (-X importtime)."""
    command, env = aer_jobs(code)
    done = subprocess.run([command[0], "-X", "importtime", *command[1:]], env=env,
                          capture_output=True, text=True, check=False)
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        if name.startswith(" ") and not name.startswith("  "):  # depth 0: " name"
            try:
                found.append((name.strip(), int(cumulative) / 1e6))
            except ValueError:  # the header line
                continue
    return sorted(found, key=lambda item: -item[1])[:top]


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
        commands["`sqlite-utils` the same query (yardstick)"] = (
            ["sqlite-utils", str(index), QUERY, "--table"], dict(os.environ))
    commands["`python -c pass`"] = ([sys.executable, "-c", "pass"], dict(os.environ))

    for command, env in commands.values():  # warm-up: caches, .pyc files
        wall(command, env)
    times: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.repeat):  # rounds: a drift of the shared machine hits every command
        for label, (command, env) in commands.items():
            times[label].append(wall(command, env))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    import qiskit
    import qiskit_aer

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
    costs = ", ".join(f"`{name}` {seconds * 1e3:.0f} ms" for name, seconds in import_costs(ROOT))
    met = "met" if after <= TARGET_S else "**MISSED**"
    lines += [
        "",
        f"Target `aer-jobs list` <= {TARGET_S} s: {met} ({after:.3f} s at the median). "
        f"Its largest imports now (-X importtime, cumulative, one run): {costs}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_section(args.out, text, "benchmarks/cli_startup.py")


if __name__ == "__main__":
    main()
