"""``aer-jobs`` commands that look after the store: rm, prune, du, export, import, reindex,
check."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.filesize import decimal
from rich.table import Table

from .. import settings
from ..exceptions import JobStoreWarning
from .base import (
    NothingFound,
    Parsed,
    checked_ids,
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


@contextlib.contextmanager
def progress_bar(what: str, hidden: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a terminal's stderr (gone when done; none with --json) and the
    ``progress(done, total)`` callback that moves it."""
    # here, not at the top: a tenth of a listing's imports, which only the bars need
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    out = Console(stderr=True)
    hidden = hidden or not out.is_interactive  # no bar (nor stray blank line) in a pipe
    with Progress(*columns, console=out, transient=True, disable=hidden) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@cli.command()
@click.argument("job_ids", nargs=-1, required=True)
@json_option
def rm(job_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete jobs (exit code 1 if one was not found)."""
    store = open_store()
    found, missing = [], []
    for prefix in checked_ids(job_ids):  # all resolved first: an ambiguous one deletes nothing
        try:
            found.append(resolved(store, prefix))
        except NothingFound:
            missing.append(prefix)
    deleted = [job_id for job_id in dict.fromkeys(found) if store.delete(job_id)]
    if as_json:
        echo_json({"deleted": deleted, "not_found": missing})
    else:
        for job_id in deleted:
            click.echo(f"Deleted {job_id}")
    if missing:
        raise NothingFound(
            f"no job with id {', '.join(missing)} (or an id starting with it) in {store.path}: "
            "`aer-jobs list` shows the stored jobs"
        )


@cli.command()
@filter_options
@json_option
def du(as_json: bool, **filters: Any) -> None:
    """Disk use by backend and month (exit code 1 if no job matched)."""
    rows = open_store().usage(**filters_of(**filters))
    total = {"jobs": sum(r["jobs"] for r in rows), "bytes": sum(r["bytes"] for r in rows)}
    if as_json:
        echo_json({"usage": rows, "total": total})
    elif rows:
        table = Table("backend", "month", "jobs", "size", box=box.SIMPLE_HEAD)
        for row in rows:
            table.add_row(
                row["backend_name"], row["month"], str(row["jobs"]), decimal(row["bytes"])
            )
        table.add_section()
        table.add_row("total", "", str(total["jobs"]), decimal(total["bytes"]), style="bold")
        console().print(table)
    if not rows:
        raise NothingFound("no stored job matched")


@cli.command()
@json_option
def reindex(as_json: bool) -> None:
    """Rebuild the index from the archives; unreadable archives are listed, never deleted."""
    store = open_store()
    with warnings.catch_warnings(), progress_bar("indexing", as_json) as advance:
        warnings.simplefilter("ignore", JobStoreWarning)  # the problems are listed below
        problems = store.reindex(progress=advance)
    count = store.count()
    if as_json:
        echo_json({"jobs": count, "skipped": [{"archive": a, "reason": r} for a, r in problems]})
        return
    click.echo(f"Indexed {count} job{'s' if count != 1 else ''} in {store.path}")
    for archive, reason in problems:
        click.echo(f"aer-jobs: skipped {archive}: {one_line(reason)}", err=True)


@cli.command()
@click.option(
    "--older-than",
    type=Parsed("DURATION", settings.parse_duration),
    help="Delete jobs created longer ago than this (30d, 12h, 2w).",
)
@click.option("--keep-last", type=click.IntRange(min=0), help="Delete all but the newest N jobs.")
@click.option(
    "--max-size",
    type=Parsed("SIZE", settings.parse_size),
    help="Then delete the oldest jobs until the store holds at most this much (1GiB, 500MB).",
)
@click.option("--dry-run", is_flag=True, help="Only say which jobs would be deleted.")
@json_option
def prune(older_than, keep_last, max_size, dry_run: bool, as_json: bool) -> None:
    """Delete jobs by age, count or total size."""
    if older_than is None and keep_last is None and max_size is None:
        raise click.UsageError("give at least one of --older-than, --keep-last, --max-size")
    store = open_store()
    deleted = store.prune(
        older_than=older_than, keep_last=keep_last, max_bytes=max_size, dry_run=dry_run
    )
    if as_json:
        echo_json({"deleted": deleted, "dry_run": dry_run})
        return
    verb = "Would delete" if dry_run else "Deleted"
    for job_id in deleted:
        click.echo(f"{verb} {job_id}")
    click.echo(
        f"{verb} {len(deleted)} job{'s' if len(deleted) != 1 else ''}; "
        f"the store holds {decimal(store.size())}"
    )


@cli.command()
@click.argument("job_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="The archive file to write, or a folder to put it in.",
)
@json_option
def export(job_id: str, output: Path, as_json: bool) -> None:
    """Copy a job's archive out of the store, to share it."""
    store = open_store()
    job_id = resolved(store, job_id)
    path = store.export_archive(job_id, output)
    if as_json:
        echo_json({"job_id": job_id, "path": str(path)})
    else:
        click.echo(f"Exported {job_id} to {path}")


@cli.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    is_flag=True,
    help="Re-sign it with this store's key so it is read whole (only for authors you trust).",
)
@json_option
def import_job(archive: Path, trust: bool, as_json: bool) -> None:
    """Copy a job archive (an export, a colleague's) into the store."""
    job = open_store().import_archive(archive, trust=trust)
    if as_json:
        echo_json({"job_id": job.job_id(), "trusted": trust, "path": job.archive_path})
    else:
        click.echo(f"Imported {job.job_id()} to {job.archive_path}")


@cli.command()
@click.option("--fix", is_flag=True, help="Remove stale temp files and re-sync the index.")
@json_option
def check(fix: bool, as_json: bool) -> None:
    """Verify every archive without unpickling (exit code 1 if problems were found)."""
    store = open_store()
    with progress_bar("checking", as_json) as advance:
        problems = store.check(fix=fix, progress=advance)
    if as_json:
        echo_json(
            {
                "problems": [{"archive": a, "reason": r} for a, r in problems],
                "untrusted": problems.untrusted,
                "fixed": fix,
            }
        )
    else:
        for archive, reason in problems:
            click.echo(f"{archive}: {one_line(reason)}")
        if not problems:
            click.echo(f"No problems in {store.path}")
        if problems.untrusted:
            click.echo(
                f"{len(problems.untrusted)} untrusted job(s), not signed with this store's key: "
                "read from their portable copies only (`aer-jobs import --trust` re-signs one)"
            )
    if problems:
        raise NothingFound(f"{len(problems)} problem(s) in {store.path}")
