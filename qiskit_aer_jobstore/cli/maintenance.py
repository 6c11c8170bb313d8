"""``aer-jobs`` commands that look after the store: rm, du, reindex."""

from __future__ import annotations

import warnings
from typing import Any

import click
from rich import box
from rich.filesize import decimal
from rich.table import Table

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


@cli.command()
@click.argument("job_ids", nargs=-1, required=True)
@json_option
def rm(job_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete jobs (exit code 1 if one was not found)."""
    store = open_store()
    deleted, missing = [], []
    for job_id in checked_ids(job_ids):
        (deleted if store.delete(job_id) else missing).append(job_id)
    if as_json:
        echo_json({"deleted": deleted, "not_found": missing})
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
    from ..writer import JobStoreWarning

    store = open_store()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JobStoreWarning)  # the problems are listed below
        problems = store.reindex()
    count = store.count()
    if as_json:
        echo_json({"jobs": count, "skipped": [{"archive": a, "reason": r} for a, r in problems]})
        return
    click.echo(f"Indexed {count} job{'s' if count != 1 else ''} in {store.path}")
    for archive, reason in problems:
        click.echo(f"aer-jobs: skipped {archive}: {one_line(reason)}", err=True)
