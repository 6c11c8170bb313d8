"""``aer-jobs``: the job store from a terminal. A thin layer of click commands over ``JobStore``.

Exit codes: 0 ok, 1 not found / nothing matched / failed, 2 bad usage. Errors are one line on
stderr; ``--debug`` adds the traceback. Every command that outputs data takes ``--json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any

import click
from qiskit.providers import JobError, JobStatus
from rich import box
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from . import __version__, settings
from .exceptions import InvalidJobIdError, JobStoreError, JobStoreSettingsError
from .notebook import (
    SUMMARY_FIELDS,
    cell,
    changed_backend_options,
    experiment_counts,
    header,
    plot_counts,
    summary,
)
from .store import JobStore, validate_job_id

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
_AGE_RE = re.compile(r"\s*\d+(?:\.\d+)?\s*[smhdw]\s*", re.IGNORECASE)


class NothingFound(click.ClickException):
    """Nothing matched, or the named job does not exist (exit code 1)."""

    exit_code = EXIT_NOT_FOUND


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _text(exc: BaseException) -> str:
    """An exception's message (QiskitError's str() is its message's repr)."""
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) else str(exc)


class AerJobsGroup(click.Group):
    """Runs a command and turns every failure into one line on stderr and an exit code."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            code = self._run(argv, prog_name or "aer-jobs", complete_var, debug, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, argv, prog_name, complete_var, debug, **extra) -> int:
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else 0
        except click.ClickException as exc:
            message = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see '{exc.ctx.command_path} --help')"
            return _fail(message, exc.exit_code, debug)
        except click.Abort:
            return _fail("aborted", 1, debug)
        except (InvalidJobIdError, JobStoreSettingsError) as exc:
            return _fail(_text(exc), EXIT_USAGE, debug)
        except (JobStoreError, JobError) as exc:
            return _fail(_text(exc), EXIT_NOT_FOUND, debug)
        except Exception as exc:  # anything else still gets one line unless --debug
            hint = "" if debug else " (run with --debug for the traceback)"
            return _fail(f"{type(exc).__name__}: {_text(exc)}{hint}", 1, debug)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=sys.stderr)
    click.echo(f"aer-jobs: error: {_one_line(message)}", err=True)
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"aer-jobs: warning: {_one_line(str(message))}", err=True)


# -- option types --------------------------------------------------------------------------
class When(click.ParamType):
    """An ISO date or time (naive: local time), or an age such as ``7d`` (that long ago)."""

    name = "DATE|AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> _dt.datetime:
        if isinstance(value, _dt.datetime):
            return value
        if _AGE_RE.fullmatch(value):
            age = settings.parse_duration(value, f"--{param.name if param else 'since'}")
            return _dt.datetime.now(_dt.timezone.utc) - age
        try:
            return _dt.datetime.fromisoformat(value)
        except ValueError:
            self.fail(
                f"{value!r} is neither an ISO date (2026-11-01, 2026-11-01T14:30) nor an age "
                "(30m, 12h, 7d, 2w)",
                param,
                ctx,
            )


class Parsed(click.ParamType):
    """A value parsed by one of the store's settings parsers (sizes, durations)."""

    def __init__(self, name: str, parse: Any):
        self.name = name
        self._parse = parse

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            return self._parse(value, f"--{param.name.replace('_', '-') if param else self.name}")
        except JobStoreSettingsError as exc:
            self.fail(_text(exc), param, ctx)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def filter_options(func):
    """The filters of ``jobs()`` as options."""
    statuses = click.Choice(list(JobStatus.__members__), case_sensitive=False)
    options = [
        click.option("--backend", help="Only jobs run on this backend (e.g. aer_simulator)."),
        click.option("--status", multiple=True, type=statuses, help="Only this status (repeat)."),
        click.option("--tag", multiple=True, help="Only jobs with this tag (repeat: any of them)."),
        click.option("--tags-and", is_flag=True, help="With several --tag: jobs with all of them."),
        click.option("--name", help="Only jobs with this job name."),
        click.option("--method", help="Only jobs of this simulation method."),
        click.option("--circuit", help="Only jobs with a circuit of this name."),
        click.option("--since", type=When(), help="Created at or after: ISO date or age (7d)."),
        click.option("--until", type=When(), help="Created at or before: ISO date or age."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(backend, status, tag, tags_and, name, method, circuit, since, until) -> dict:
    return {
        "backend_name": backend,
        "status": [s.upper() for s in status] or None,
        "job_tags": list(tag) or None,
        "job_tags_operator": "AND" if tags_and else "OR",
        "job_name": name,
        "method": method,
        "circuit_name": circuit,
        "created_after": since,
        "created_before": until,
    }


def _store() -> JobStore:
    path = click.get_current_context().find_root().params.get("store_path")
    return JobStore(path) if path is not None else JobStore.default()


def _console() -> Console:
    # Piped output is read by people too: do not squeeze tables into 80 columns.
    wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(soft_wrap=False, highlight=False, width=200 if wide else None)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _job_ids(ids: tuple[str, ...]) -> list[str]:
    for job_id in ids:
        try:
            validate_job_id(job_id)
        except InvalidJobIdError as exc:
            raise click.BadParameter(_text(exc), param_hint="JOB_ID") from None
    return list(ids)


# -- commands ------------------------------------------------------------------------------
@click.group(cls=AerJobsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    "store_path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The store folder (default: QISKIT_AER_JOBS_DIR, jobs_dir in settings.conf, "
    "or ~/.qiskit/aer_jobs).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(__version__, prog_name="aer-jobs")
def cli(store_path: Path | None, debug: bool) -> None:
    """List, inspect, plot, export and clean up stored Qiskit Aer jobs."""


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
    jobs = _store().list(
        limit=limit or None, skip=skip, descending=not oldest_first, **_filters(**filters)
    )
    rows = [summary(job) for job in jobs]
    if as_json:
        _echo_json(rows)
    elif rows:
        console = _console()
        narrow = ("job_id", "job_name", "backend_name", "status", "creation_date")
        fields = [
            f for f in SUMMARY_FIELDS if f != "method" and (console.width >= 140 or f in narrow)
        ]
        table = Table(*[header(f) for f in fields], box=box.SIMPLE_HEAD, pad_edge=False)
        for column, field in zip(table.columns, fields):
            column.no_wrap = field in ("job_id", "status", "creation_date")
        for row in rows:
            table.add_row(*[cell(row, f) for f in fields])
        console.print(table)
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
    job = _store().get(_job_ids((job_id,))[0])
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
        _echo_json(
            {
                "manifest": job.manifest,
                **options,
                "circuits": drawings,
                "counts": {name: c for name, c in counts},
                "error": error,
            }
        )
        return
    console = _console()
    facts = Table.grid(padding=(0, 2))
    for key, value in job.manifest.items():
        if key not in ("members", "versions") and value not in (None, [], ""):
            facts.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    facts.add_row("versions", " ".join(f"{k}={v}" for k, v in job.manifest["versions"].items()))
    console.print(facts)
    for title, values in options.items():
        if values:
            note = "" if all_options or title == "run_options" else " (not default)"
            console.print(f"\n[bold]{title}[/bold]{note}")
            grid = Table.grid(padding=(0, 2))
            for key, value in sorted(values.items()):
                text = _one_line(repr(value))
                grid.add_row(key, text if len(text) <= 100 else text[:97] + "...")
            console.print(grid)
    for circuit, drawing in zip(shown, drawings):
        console.print(f"\n[bold]circuit {circuit.name}[/bold]")
        console.print(drawing, markup=False, crop=False)
    if len(shown) < len(circuits):
        console.print(f"... {len(circuits) - len(shown)} more circuits (--max-circuits 0)")
    for name, values in counts:
        table = Table("outcome", "count", title=f"counts: {name}", title_justify="left")
        ranked = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        for outcome, n in ranked if top == 0 else ranked[:top]:
            table.add_row(outcome, str(n))
        if top and len(ranked) > top:
            table.caption = f"{len(ranked) - top} more outcomes (--top 0)"
        console.print(table)
    if error:
        console.print(f"\n[bold red]error[/bold red] {error}", markup=True)


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
    path = plot_counts(_store().get(_job_ids((job_id,))[0]), output, experiment)
    if as_json:
        _echo_json({"job_id": job_id, "path": str(path)})
    else:
        click.echo(f"Saved the counts of {job_id} to {path}")


@cli.command()
@click.argument("job_ids", nargs=-1, required=True)
@json_option
def rm(job_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete jobs (exit code 1 if one was not found)."""
    store = _store()
    deleted, missing = [], []
    for job_id in _job_ids(job_ids):
        (deleted if store.delete(job_id) else missing).append(job_id)
    if as_json:
        _echo_json({"deleted": deleted, "not_found": missing})
    else:
        for job_id in deleted:
            click.echo(f"Deleted {job_id}")
    if missing:
        raise NothingFound(f"no job with id {', '.join(missing)} in {store.path}")


@cli.command()
@filter_options
@json_option
def du(as_json: bool, **filters: Any) -> None:
    """Disk use by backend and month (exit code 1 if no job matched)."""
    rows = _store().usage(**_filters(**filters))
    total = {"jobs": sum(r["jobs"] for r in rows), "bytes": sum(r["bytes"] for r in rows)}
    if as_json:
        _echo_json({"usage": rows, "total": total})
    elif rows:
        table = Table("backend", "month", "jobs", "size", box=box.SIMPLE_HEAD)
        for row in rows:
            table.add_row(
                row["backend_name"], row["month"], str(row["jobs"]), decimal(row["bytes"])
            )
        table.add_section()
        table.add_row("total", "", str(total["jobs"]), decimal(total["bytes"]), style="bold")
        _console().print(table)
    if not rows:
        raise NothingFound("no stored job matched")


@cli.command()
@json_option
def reindex(as_json: bool) -> None:
    """Rebuild the index from the archives; unreadable archives are listed, never deleted."""
    from .writer import JobStoreWarning

    store = _store()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JobStoreWarning)  # the problems are listed below
        problems = store.reindex()
    count = store.count()
    if as_json:
        _echo_json({"jobs": count, "skipped": [{"archive": a, "reason": r} for a, r in problems]})
        return
    click.echo(f"Indexed {count} job{'s' if count != 1 else ''} in {store.path}")
    for archive, reason in problems:
        click.echo(f"aer-jobs: skipped {archive}: {_one_line(reason)}", err=True)


def main() -> None:
    """The ``aer-jobs`` console script."""
    cli.main(prog_name="aer-jobs")


if __name__ == "__main__":
    main()
