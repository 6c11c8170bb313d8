"""``aer-jobs`` commands that look at jobs: list, show, watch, plot, rerun."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from ..notebook import (
    SUMMARY_FIELDS,
    changed_backend_options,
    estimator_rows,
    experiments,
    jsonable,
    plot_counts,
    summary,
    summary_table,
)
from ..team import jobs_everywhere, remote_store, require_remote
from .base import (
    NothingFound,
    cli,
    console,
    echo_json,
    filter_options,
    filters_of,
    json_option,
    one_line,
    open_store,
    resolved,
)

COLUMNS = (*SUMMARY_FIELDS, "primitive", "reused_from", "location")
DEFAULT_COLUMNS = [f for f in SUMMARY_FIELDS if f != "method"]


def columns_of(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in COLUMNS]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown column(s) {', '.join(unknown) or '(none given)'}; "
            f"the columns are {', '.join(COLUMNS)}",
            param_hint="--columns",
        )
    return names


@cli.command("list")
@filter_options
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="At most this many jobs (0: all).",
)
@click.option("--skip", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@click.option("--oldest-first", is_flag=True, help="Oldest first (default: newest first).")
@click.option(
    "--local",
    "where",
    flag_value="local",
    help="Only this machine's store (default: this machine and the team store, if one is set).",
)
@click.option("--remote", "where", flag_value="remote", help="Only the team store.")
@click.option(
    "--wide", is_flag=True, help="All columns, whole ids and values (wider than the terminal)."
)
@click.option(
    "--columns",
    metavar="NAME,...",
    help=f"These columns, in this order (of {', '.join(COLUMNS)}).",
)
@json_option
def list_jobs(
    limit: int,
    skip: int,
    oldest_first: bool,
    where: str | None,
    wide: bool,
    columns: str | None,
    as_json: bool,
    **filters: Any,
) -> None:
    """List stored jobs, newest first (exit code 1 if none matched).

    The table fits the terminal: ids shortened to 8 characters (any unique prefix names a
    job), long values cut in the middle; --wide shows everything. With a team store
    configured, jobs of both stores are listed, each once, with a "where" column: local,
    remote or both.
    """
    fields = columns_of(columns)
    query = dict(limit=limit or None, skip=skip, descending=not oldest_first)
    query.update(filters_of(**filters))
    team = require_remote() if where == "remote" else None
    with_location = where == "remote" or (where is None and remote_store() is not None)
    if not with_location:  # this machine's store alone: its index rows, no job (nor Qiskit) made
        rows = open_store().summaries(**query)
    else:
        jobs = team.list(**query) if team is not None else jobs_everywhere(open_store(), **query)
        rows = [summary(job) | {"location": job.location} for job in jobs]
    if as_json:
        echo_json(rows)
    elif rows:
        out = console()
        if fields is None:
            fields = list(COLUMNS[:-1] if wide else DEFAULT_COLUMNS)
            fields += ["location"] if with_location else []
        head, *cells = summary_table(rows, fields, None if wide else out.width)
        table = Table(*head, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        for column in table.columns:
            column.no_wrap = True
        for line in cells:
            table.add_row(*line)
        if wide:
            needed = sum(max(map(len, column)) for column in zip(head, *cells))
            out = Console(soft_wrap=False, highlight=False, width=needed + 3 * len(head))
        out.print(table, markup=False)
        if limit and len(rows) == limit:
            # both stores: their overlap is unknown without listing them all
            counted = team if team is not None else None if with_location else open_store()
            total = None if counted is None else counted.count(**query)
            if total is None:
                out.print(f"{len(rows)} jobs listed, maybe more (use --limit)", markup=False)
            elif total > skip + len(rows):
                out.print(f"{len(rows)} of {total} jobs (use --limit)", markup=False)
    if not rows:
        raise NothingFound("no stored job matched")


@cli.command()
@click.argument("job_id")
@click.option(
    "--max-circuits",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Draw at most this many circuits, and show the counts of as many (0: all).",
)
@click.option(
    "--top",
    type=click.IntRange(min=0),
    default=16,
    show_default=True,
    help="Show the most frequent outcomes of each experiment (0: all).",
)
@click.option(
    "--all-options",
    is_flag=True,
    help="All backend options (default: those that differ from the defaults).",
)
@click.option(
    "--manifest",
    "manifest_only",
    is_flag=True,
    help="Only the manifest: quick, reads no circuits or result from the archive.",
)
@json_option
def show(
    job_id: str, max_circuits: int, top: int, all_options: bool, manifest_only: bool,
    as_json: bool,
) -> None:
    """Show a job: manifest, options, circuits drawn as text, counts."""
    store = open_store()
    job_id = resolved(store, job_id)
    if manifest_only:
        manifest = store.manifest(job_id)
        if as_json:
            echo_json({"manifest": manifest})
        else:
            console().print(manifest_grid(manifest))
        return
    # Qiskit here, not at the top: a job's circuits and result need it, listings do not
    from qiskit.providers import JobError

    job = store.get(job_id)
    circuits = job.circuits()
    shown = circuits if max_circuits == 0 else circuits[:max_circuits]
    drawings = [str(c.draw(output="text", fold=-1)) for c in shown]
    running = not job.in_final_state()
    try:
        found, error = ([], None) if running else (experiments(job), job.error_message())
    except JobError as exc:
        found, error = [], str(exc)
    backend_options = job.backend_options() if all_options else changed_backend_options(job)
    options = {"run_options": job.run_options(), "backend_options": backend_options}
    pieces = job.sub_jobs()
    if as_json:
        echo_json(
            {
                "manifest": job.manifest,
                **options,
                "circuits": drawings,
                "experiments": found,
                "error": error,
                "progress": job.progress()._asdict(),
                "sub_jobs": pieces,
            }
        )
        return
    out = console()
    facts = manifest_grid(job.manifest)
    if pieces:
        facts.add_row("pieces", progress_line(job.progress()))
    out.print(facts)
    if job.reused_from:
        out.print(f"\nreused the result of job {job.reused_from} (reuse_results: not "
                  "simulated again)", markup=False)
    for title, values in options.items():
        if values:
            note = "" if all_options or title == "run_options" else " (not default)"
            out.print(f"\n[bold]{title}[/bold]{note}")
            grid = Table.grid(padding=(0, 2))
            for key, value in sorted(values.items()):
                grid.add_row(key, clipped(repr(value)))
            out.print(grid)
    for circuit, drawing in zip(shown, drawings):
        out.print(f"\n[bold]circuit {circuit.name}[/bold]")
        if circuit.metadata:
            out.print(f"metadata {clipped(repr(jsonable(circuit.metadata)))}", markup=False)
        out.print(drawing, markup=False, crop=False)
    if len(shown) < len(circuits):
        out.print(f"... {len(circuits) - len(shown)} more circuits (--max-circuits 0)")
    listed = found if max_circuits == 0 else found[:max_circuits]
    for experiment in listed:
        print_experiment(out, experiment, top)
    if len(listed) < len(found):
        out.print(f"... {len(found) - len(listed)} more experiments (--max-circuits 0)")
    if error:
        out.print(f"\n[bold red]error[/bold red] {error}", markup=True)
    if running:
        out.print(f"\nNo counts yet: the job is {job.status().name} (aer-jobs watch {job_id}).")


def manifest_grid(manifest: dict[str, Any]) -> Table:
    """A job's manifest as a two-column grid (its members left out)."""
    facts = Table.grid(padding=(0, 2))
    for key, value in manifest.items():
        if key not in ("members", "versions", "payload_in") and value not in (None, [], ""):
            facts.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    versions = manifest.get("versions") or {}
    facts.add_row("versions", " ".join(f"{k}={v}" for k, v in versions.items()))
    return facts


def clipped(text: str, width: int = 100) -> str:
    text = one_line(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def print_experiment(out: Console, experiment: dict[str, Any], top: int) -> None:
    """One experiment of ``notebook.experiments``: its counts, an estimator pub's values, or
    the names of what else it saved."""
    name = experiment["name"]
    if "counts" in experiment:
        table = Table("outcome", "count", title=f"counts: {name}", title_justify="left")
        ranked = sorted(experiment["counts"].items(), key=lambda kv: (-kv[1], kv[0]))
        for outcome, n in ranked if top == 0 else ranked[:top]:
            table.add_row(outcome, str(n))
        if top and len(ranked) > top:
            table.caption = f"{len(ranked) - top} more outcomes (--top 0)"
        out.print(table)
    elif "evs" in experiment["data"]:
        table = Table(
            "observable", "parameters", "ev", "std", title=f"evs: {name}", title_justify="left"
        )
        rows = estimator_rows(experiment)
        for row in rows if top == 0 else rows[:top]:
            table.add_row(
                row["observable"], row["parameters"], f"{row['ev']:.6g}", f"{row['std']:.3g}"
            )
        if top and len(rows) > top:
            table.caption = f"{len(rows) - top} more values (--top 0)"
        out.print(table)
    elif experiment["data"]:
        out.print(f"data: {name}: {', '.join(experiment['data'])} (--json shows them)")


def progress_line(progress: Any) -> Table:
    """A split job's pieces as a bar and counts (``Progress(done, total, failed)``)."""
    from rich.progress_bar import ProgressBar  # here: a listing draws no bar, nor imports one

    line = Table.grid(padding=(0, 1))
    bar = ProgressBar(total=progress.total, completed=progress.done, width=30)
    line.add_row(bar, str(progress))
    return line


FINAL = ("DONE", "ERROR", "CANCELLED")  # JobStatus names: this module imports no Qiskit


@cli.command()
@click.argument("job_id")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between looks at the store.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help="Give up after this many seconds (exit code 1; the job runs on).",
)
@json_option
def watch(job_id: str, interval: float, timeout: float | None, as_json: bool) -> None:
    """Follow a job until it ends, with a progress bar of its pieces.

    Works from any process: it reads the store, where a sweep saves each piece as it lands.
    Exit code 0 when the job is done, 1 when it failed, was cancelled or was interrupted
    (a split job can then be finished with StoredAerJob.resume()).
    """
    store = open_store()
    store.refresh()  # a job left RUNNING by a dead process shows as interrupted
    job_id = resolved(store, job_id)
    job = store.get(job_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    # here, not at the top: a tenth of a listing's imports, which only watch needs
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=as_json) as bar:
        task = bar.add_task(job_id, total=None, state="")
        while True:
            done, total, failed = job.progress()
            status = job.status()
            state = status.name + (f", {failed} failed" if failed else "")
            bar.update(task, completed=done, total=total, state=state)
            if status.name in FINAL or (deadline is not None and time.monotonic() >= deadline):
                break
            time.sleep(interval)
            store.refresh()
            job = store.get(job_id)
    report = {"job_id": job_id, "status": status.name, "done": done, "total": total}
    if as_json:
        echo_json(report | {"failed": failed, "error": job.error_message()})
    else:
        click.echo(f"{job_id}: {status.name} ({done}/{total} pieces done)")
    if status.name != "DONE":
        if status.name not in FINAL:
            raise NothingFound(f"{job_id} is still {status.name} after {timeout:g} s")
        hint = " Finish it with StoredAerJob.resume()." if total > 1 and done < total else ""
        raise NothingFound(f"{job_id} ended {status.name}: {job.error_message() or ''}{hint}")


@cli.command()
@click.argument("job_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Image file (.png, .svg, .pdf).",
)
@click.option("--experiment", type=click.IntRange(min=0), help="Only this experiment (from 0).")
@json_option
def plot(job_id: str, output: Path, experiment: int | None, as_json: bool) -> None:
    """Save a histogram of a job's counts to an image file (needs the plot extra)."""
    # optional (the [plot] extra), and slow to import: only plot needs it
    import matplotlib

    matplotlib.use("Agg")  # a terminal has no display
    store = open_store()
    job_id = resolved(store, job_id)
    path = plot_counts(store.get(job_id), output, experiment)
    if as_json:
        echo_json({"job_id": job_id, "path": str(path)})
    else:
        click.echo(f"Saved the counts of {job_id} to {path}")


@cli.command()
@click.argument("job_id")
@click.option("--shots", type=click.IntRange(min=1), help="Run with this many shots instead.")
@json_option
def rerun(job_id: str, shots: int | None, as_json: bool) -> None:
    """Run a stored job's circuits again, as they ran (same options, noise and seed).

    A SamplerV2 or EstimatorV2 job runs its pubs again through the same primitive (an
    estimator job has no shots: --shots is refused). The new job is saved to the store the
    settings name, like any other job. Says whether its result equals the stored one
    (counts, bitstrings, evs exactly; "equal" in --json: true, false, or null if the stored
    job has no result).
    """
    # the execution layer (Qiskit, Aer) here, not at the top: listings need none of it
    from qiskit.providers import JobError

    from ..reproduce import same_result

    store = open_store()
    job_id = resolved(store, job_id)
    stored = store.get(job_id)
    new = stored.rerun(**({"shots": shots} if shots else {}))
    result = new.result()
    try:
        equal: bool | None = same_result(stored.result(), result)
    except JobError:  # the stored job failed: nothing to compare with
        equal = None
    store.flush()
    status = new.status().name
    if as_json:
        echo_json(
            {"job_id": job_id, "rerun_job_id": new.job_id(), "status": status, "equal": equal}
        )
    else:
        same = {True: "equal to", False: "different from", None: "not comparable to"}[equal]
        click.echo(
            f"Reran {job_id} as {new.job_id()} ({status}): the result is {same} the stored one"
        )
