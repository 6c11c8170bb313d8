"""The ``aer-jobs`` group and what its commands share: error handling, option types, the
filters of ``jobs()`` as options, the store, the console and JSON output."""

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
from rich.console import Console

from .. import settings
from ..exceptions import (
    InvalidJobIdError,
    JobNotFoundError,
    JobStoreError,
    JobStoreSettingsError,
)
from ..manifest import JOB_STATUSES, validate_job_id
from ..store import JobStore
from ..version import __version__

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
_AGE_RE = re.compile(r"\s*\d+(?:\.\d+)?\s*[smhdw]\s*", re.IGNORECASE)


class NothingFound(click.ClickException):
    """Nothing matched, or the named job does not exist (exit code 1)."""

    exit_code = EXIT_NOT_FOUND


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def message_of(exc: BaseException) -> str:
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
            return _fail(message_of(exc), EXIT_USAGE, debug)
        except JobStoreError as exc:
            return _fail(message_of(exc), EXIT_NOT_FOUND, debug)
        except Exception as exc:  # anything else still gets one line unless --debug
            if is_job_error(exc):
                return _fail(message_of(exc), EXIT_NOT_FOUND, debug)
            hint = "" if debug else " (run with --debug for the traceback)"
            return _fail(f"{type(exc).__name__}: {message_of(exc)}{hint}", 1, debug)


def is_job_error(exc: BaseException) -> bool:
    """Whether ``exc`` is Qiskit's ``JobError``, without importing Qiskit: a command that never
    imported it (``list``, ``du``, ...) cannot have raised one."""
    errors = sys.modules.get("qiskit.providers.exceptions")
    return errors is not None and isinstance(exc, errors.JobError)


def _fail(message: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc(file=sys.stderr)
    click.echo(f"aer-jobs: error: {one_line(message)}", err=True)
    return code


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"aer-jobs: warning: {one_line(str(message))}", err=True)


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
            self.fail(message_of(exc), param, ctx)


def json_option(func):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(func)


def filter_options(func):
    """The filters of ``jobs()`` as options."""
    statuses = click.Choice(list(JOB_STATUSES), case_sensitive=False)
    options = [
        click.option(
            "--backend", help="Only jobs run on this backend or device (e.g. fake_manila)."
        ),
        click.option("--status", multiple=True, type=statuses, help="Only this status (repeat)."),
        click.option("--tag", multiple=True, help="Only jobs with this tag (repeat: any of them)."),
        click.option("--tags-and", is_flag=True, help="With several --tag: jobs with all of them."),
        click.option("--name", help="Only jobs with this job name."),
        click.option("--method", help="Only jobs of this simulation method."),
        click.option("--circuit", help="Only jobs with a circuit of this name."),
        click.option(
            "--primitive",
            type=click.Choice(["sampler", "estimator", "executor"]),
            help="Only jobs of this primitive (SamplerV2 / EstimatorV2).",
        ),
        click.option(
            "--session", help="Only jobs of this session (job_context, or a runtime Session)."
        ),
        click.option("--reused", is_flag=True,
                     help="Only jobs served from a stored one (reuse_results), not run."),
        click.option("--since", type=When(), help="Created at or after: ISO date or age (7d)."),
        click.option("--until", type=When(), help="Created at or before: ISO date or age."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def filters_of(
    backend, status, tag, tags_and, name, method, circuit, primitive, session, since, until,
    reused=False,
) -> dict:
    return {
        "backend_name": backend,
        "status": [s.upper() for s in status] or None,
        "job_tags": list(tag) or None,
        "job_tags_operator": "AND" if tags_and else "OR",
        "job_name": name,
        "method": method,
        "circuit_name": circuit,
        "primitive": primitive,
        "session_id": session,
        "reused": True if reused else None,
        "created_after": since,
        "created_before": until,
    }


def open_store() -> JobStore:
    path = click.get_current_context().find_root().params.get("store_path")
    return JobStore(path) if path is not None else JobStore.default()


def console() -> Console:
    # Piped output is read by people too: do not squeeze tables into 80 columns.
    wide = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return Console(soft_wrap=False, highlight=False, width=200 if wide else None)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def checked_ids(ids: tuple[str, ...]) -> list[str]:
    for job_id in ids:
        try:
            validate_job_id(job_id)
        except InvalidJobIdError as exc:
            raise click.BadParameter(message_of(exc), param_hint="JOB_ID") from None
    return list(ids)


def resolved(store: Any, prefix: str) -> str:
    """The whole id of the one job of ``store`` whose id starts with ``prefix``; a prefix that
    matches nothing is NothingFound (exit code 1), an ambiguous one bad usage (exit code 2)."""
    checked_ids((prefix,))
    try:
        return store.resolve(prefix)
    except JobNotFoundError as exc:
        where = f"the job store {store.path}" if isinstance(store, JobStore) else "the team store"
        raise NothingFound(
            f"No job with id {prefix!r} (or an id starting with it) in {where}: "
            "`aer-jobs list` shows the stored jobs."
        ) from exc


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


def main() -> None:
    """The ``aer-jobs`` console script."""
    cli.main(prog_name="aer-jobs")
