"""``aer-jobs`` commands for the team store (PostgreSQL + S3): push, pull.

``aer-jobs list --remote`` lists the team store; ``aer-jobs list`` lists both stores.
"""

from __future__ import annotations

import click

from ..exceptions import JobStoreUnavailableError
from ..team import require_remote
from .base import NothingFound, cli, echo_json, json_option, one_line, open_store, resolved


@cli.command()
@click.option(
    "--all",
    "all_jobs",
    is_flag=True,
    help="Queue every local job first (jobs the team store already has are not sent again).",
)
@json_option
def push(all_jobs: bool, as_json: bool) -> None:
    """Send the jobs queued for the team store (exit code 1 if it cannot be reached).

    Jobs are queued when an automatic push failed (server down, wrong credentials) or, with
    push_jobs = manual, on every save. A push is idempotent: a job goes out once.
    """
    store = open_store()
    try:
        result = store.push(all_jobs=all_jobs)
    except JobStoreUnavailableError as exc:
        if as_json:
            echo_json({"pushed": [], "error": one_line(str(exc)), "queued": store.queued()})
        raise NothingFound(f"{exc} Try again with 'aer-jobs push' once it is back.") from exc
    if as_json:
        echo_json(
            {
                "pushed": result.pushed,
                "unchanged": result.unchanged,
                "failed": [{"job_id": j, "reason": r} for j, r in result.failed],
                "queued": result.remaining,
            }
        )
    else:
        for job_id in result.pushed:
            click.echo(f"Pushed {job_id}")
        for job_id, reason in result.failed:
            click.echo(f"aer-jobs: not pushed {job_id}: {one_line(reason)}", err=True)
        click.echo(
            f"Pushed {len(result.pushed)} job{'s' if len(result.pushed) != 1 else ''}"
            + (f", {len(result.unchanged)} already there" if result.unchanged else "")
            + f"; {result.remaining} queued"
        )
    if result.failed:
        raise NothingFound(f"{len(result.failed)} job(s) could not be pushed and stay queued")


@cli.command()
@click.argument("job_ids", nargs=-1, required=True)
@json_option
def pull(job_ids: tuple[str, ...], as_json: bool) -> None:
    """Copy jobs from the team store into this machine's store (each verified first).

    An archive not signed with this store's key is kept but read through its portable copies
    only (nothing of it is unpickled).
    """
    store = open_store()
    pulled = []
    team = require_remote()
    for job_id in [resolved(team, prefix) for prefix in job_ids]:
        job = store.pull(job_id)
        pulled.append({"job_id": job_id, "path": job.archive_path})
        if not as_json:
            click.echo(f"Pulled {job_id} to {job.archive_path}")
    if as_json:
        echo_json(pulled)
