"""``aer-jobs`` commands that look at jobs: list, show, plot, rerun."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from qiskit.providers import JobError
from rich import box
from rich.table import Table

from ..notebook import (
    SUMMARY_FIELDS,
    cell,
    changed_backend_options,
    experiment_counts,
    header,
    plot_counts,
    summary,
)
from .base import (
    NothingFound,
    checked_ids,
    cli,
    console,
    echo_json,
    filter_options,
    filters_of,
    json_option,
    one_line,
    open_store,
)


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
@json_option
def list_jobs(limit: int, skip: int, oldest_first: bool, as_json: bool, **filters: Any) -> None:
    """List stored jobs, newest first (exit code 1 if none matched)."""
    jobs = open_store().list(
        limit=limit or None, skip=skip, descending=not oldest_first, **filters_of(**filters)
    )
    rows = [summary(job) for job in jobs]
    if as_json:
        echo_json(rows)
    elif rows:
        out = console()
        narrow = ("job_id", "job_name", "backend_name", "status", "creation_date")
        fields = [f for f in SUMMARY_FIELDS if f != "method" and (out.width >= 140 or f in narrow)]
        table = Table(*[header(f) for f in fields], box=box.SIMPLE_HEAD, pad_edge=False)
        for column, field in zip(table.columns, fields):
            column.no_wrap = field in ("job_id", "status", "creation_date")
        for row in rows:
            table.add_row(*[cell(row, f) for f in fields])
        out.print(table)
    if not rows:
        raise NothingFound("no stored job matched")


@cli.command()
@click.argument("job_id")
@click.option(
    "--max-circuits",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Draw at most this many circuits (0: all).",
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
@json_option
def show(job_id: str, max_circuits: int, top: int, all_options: bool, as_json: bool) -> None:
    """Show a job: manifest, options, circuits drawn as text, counts."""
    job = open_store().get(checked_ids((job_id,))[0])
    circuits = job.circuits()
    shown = circuits if max_circuits == 0 else circuits[:max_circuits]
    drawings = [str(c.draw(output="text", fold=-1)) for c in shown]
    try:
        counts, error = experiment_counts(job), job.error_message()
    except JobError as exc:
        counts, error = [], str(exc)
    backend_options = job.backend_options() if all_options else changed_backend_options(job)
    options = {"run_options": job.run_options(), "backend_options": backend_options}
    if as_json:
        echo_json(
            {
                "manifest": job.manifest,
                **options,
                "circuits": drawings,
                "counts": {name: c for name, c in counts},
                "error": error,
            }
        )
        return
    out = console()
    facts = Table.grid(padding=(0, 2))
    for key, value in job.manifest.items():
        if key not in ("members", "versions") and value not in (None, [], ""):
            facts.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    facts.add_row("versions", " ".join(f"{k}={v}" for k, v in job.manifest["versions"].items()))
    out.print(facts)
    for title, values in options.items():
        if values:
            note = "" if all_options or title == "run_options" else " (not default)"
            out.print(f"\n[bold]{title}[/bold]{note}")
            grid = Table.grid(padding=(0, 2))
            for key, value in sorted(values.items()):
                text = one_line(repr(value))
                grid.add_row(key, text if len(text) <= 100 else text[:97] + "...")
            out.print(grid)
    for circuit, drawing in zip(shown, drawings):
        out.print(f"\n[bold]circuit {circuit.name}[/bold]")
        out.print(drawing, markup=False, crop=False)
    if len(shown) < len(circuits):
        out.print(f"... {len(circuits) - len(shown)} more circuits (--max-circuits 0)")
    for name, values in counts:
        table = Table("outcome", "count", title=f"counts: {name}", title_justify="left")
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        for outcome, n in ranked if top == 0 else ranked[:top]:
            table.add_row(outcome, str(n))
        if top and len(ranked) > top:
            table.caption = f"{len(ranked) - top} more outcomes (--top 0)"
        out.print(table)
    if error:
        out.print(f"\n[bold red]error[/bold red] {error}", markup=True)


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
    import matplotlib

    matplotlib.use("Agg")  # a terminal has no display
    path = plot_counts(open_store().get(checked_ids((job_id,))[0]), output, experiment)
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

    The new job is saved to the store the settings name, like any other job.
    """
    store = open_store()
    new = store.get(checked_ids((job_id,))[0]).rerun(**({"shots": shots} if shots else {}))
    new.result()
    store.flush()
    if as_json:
        echo_json({"job_id": job_id, "rerun_job_id": new.job_id(), "status": new.status().name})
    else:
        click.echo(f"Reran {job_id} as {new.job_id()} ({new.status().name})")
