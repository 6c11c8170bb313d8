"""Stored jobs for people: summaries, HTML for Jupyter, DataFrames and counts histograms.

The command line (:mod:`qiskit_aer_jobstore.cli`) and the notebook show the same things, built
here: one summary row per job, read from its manifest alone (no archive is opened).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from qiskit.providers import JobError

from .exceptions import JobStoreError
from .job import StoredAerJob
from .listing import SUMMARY_FIELDS, JobList, summary, to_dataframe

__all__ = [
    "SUMMARY_FIELDS",
    "JobList",
    "cell",
    "changed_backend_options",
    "experiment_counts",
    "header",
    "job_card_html",
    "jobs_table_html",
    "plot_counts",
    "summary",
    "to_dataframe",
]

_HEADERS = {
    "job_id": "job id",
    "job_name": "name",
    "backend_name": "backend",
    "creation_date": "created (UTC)",
    "num_circuits": "circuits",
    "num_qubits": "qubits",
    "job_tags": "tags",
    "location": "where",
}


def header(field: str) -> str:
    """The column title of a summary field."""
    return _HEADERS.get(field, field)


def cell(row: dict[str, Any], field: str) -> str:
    """A summary value as text for a table cell."""
    value = row[field]
    if value is None:
        return ""
    if field == "job_tags":
        return ", ".join(value)
    if field == "creation_date":
        return value[:16].replace("T", " ")
    if field == "size":
        # only sizes need it: listings stay cheap to import
        from rich.filesize import decimal

        return decimal(value)
    return str(value)


def jobs_table_html(jobs: Iterable[StoredAerJob]) -> str:
    """An HTML table of job summaries."""
    rows = [summary(job) | {"location": job.location} for job in jobs]
    if not rows:
        return "<p><em>No stored jobs.</em></p>"
    # The "where" column only once a team store is in play.
    fields = SUMMARY_FIELDS + (("location",) if {r["location"] for r in rows} != {"local"} else ())
    head = "".join(f"<th>{html.escape(header(f))}</th>" for f in fields)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(row, f))}</td>" for f in fields) + "</tr>"
        for row in rows
    )
    return (
        f"<table class='aer-jobs'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{len(rows)} job{'s' if len(rows) != 1 else ''}</p>"
    )


def job_card_html(job: StoredAerJob) -> str:
    """A compact HTML card for one job: its summary, error and archive path."""
    row = summary(job)
    colour = {"DONE": "#2e7d32", "ERROR": "#c62828", "CANCELLED": "#6d6d6d"}.get(
        row["status"], "#1565c0"
    )
    lines = "".join(
        f"<tr><th style='text-align:left'>{html.escape(header(f))}</th>"
        f"<td style='text-align:left'>{html.escape(cell(row, f))}</td></tr>"
        for f in SUMMARY_FIELDS
        if f not in ("job_id", "status") and row[f] not in (None, [], "")
    )
    experiment = job.manifest.get("experiment")
    if isinstance(experiment, dict) and experiment.get("experiment_type"):
        where = experiment.get("physical_qubits")
        text = str(experiment["experiment_type"]) + (f" on qubits {where}" if where else "")
        lines += f"<tr><th style='text-align:left'>experiment</th><td>{html.escape(text)}</td></tr>"
    progress = job.progress()
    if progress.total > 1:
        lines += f"<tr><th style='text-align:left'>pieces</th><td>{progress}</td></tr>"
    error = job.error_message()
    if error:
        lines += f"<tr><th>error</th><td>{html.escape(error)}</td></tr>"
    if job.archive_path:
        lines += f"<tr><th>archive</th><td><code>{html.escape(job.archive_path)}</code></td></tr>"
    return (
        "<div class='aer-job' style='border:1px solid #ccc;border-radius:6px;padding:6px 10px;"
        "display:inline-block'>"
        f"<b>StoredAerJob</b> <code>{html.escape(row['job_id'])}</code> "
        f"<span style='color:{colour};font-weight:bold'>{html.escape(row['status'])}</span>"
        f"<table>{lines}</table></div>"
    )


def changed_backend_options(job: StoredAerJob) -> dict[str, Any]:
    """The job's backend options that differ from the defaults of its simulator class."""
    defaults = getattr(type(job.backend()), "_default_options", None)
    default = dict(defaults().items()) if callable(defaults) else {}
    changed = {}
    for key, value in job.backend_options().items():
        try:
            same = key in default and bool(default[key] == value)
        except Exception:  # arrays and noise models do not compare to a bool
            same = False
        if not same:
            changed[key] = value
    return changed


def experiment_counts(job: StoredAerJob) -> list[tuple[str, dict[str, int]]]:
    """``(experiment name, counts)`` for each experiment of a job that measured something.

    Works for backend jobs (a ``Result``) and sampler jobs (a ``PrimitiveResult``).

    Raises:
        JobError: the job failed and has no result.
    """
    if not job.in_final_state():
        raise JobError(
            f"Aer job {job.job_id()} is still {job.status().name}: it has no counts yet "
            f"(follow it with 'aer-jobs watch {job.job_id()}')."
        )
    result = job.result()
    found: list[tuple[str, dict[str, int]]] = []
    if hasattr(result, "get_counts"):
        for i, experiment in enumerate(getattr(result, "results", [])):
            head = getattr(experiment, "header", None) or {}
            name = head.get("name") if isinstance(head, dict) else getattr(head, "name", None)
            data = getattr(experiment, "data", None)
            slots = head.get("memory_slots") if isinstance(head, dict) else None
            if getattr(data, "counts", None) is None or slots == 0:
                continue  # nothing was measured (get_counts would invent {"0": shots})
            counts = result.get_counts(i)
            found.append((name or f"experiment {i}", dict(counts)))
        return found
    for i, pub_result in enumerate(result if isinstance(result, Iterable) else []):
        data = getattr(pub_result, "data", None)
        for register in list(data.keys()) if hasattr(data, "keys") else []:
            field = getattr(data, register)
            if hasattr(field, "get_counts"):
                found.append((f"pub {i}: {register}", dict(field.get_counts())))
    return found


def plot_counts(job: StoredAerJob, path: str | Path, experiment: int | None = None) -> Path:
    """Save a histogram of a job's counts (``qiskit.visualization.plot_histogram``) to ``path``.

    Args:
        job: the stored job.
        path: the image file; its suffix picks the format (``.png``, ``.svg``, ``.pdf``).
        experiment: only this experiment (0-based among those with counts); default all.

    Returns:
        The path written.

    Raises:
        JobStoreError: matplotlib is missing, the job has no counts, or no such experiment.
    """
    try:
        # optional (the [plot] extra), and slow to import
        import matplotlib.pyplot as plt
    except ImportError:
        raise JobStoreError(
            "Plotting needs matplotlib: pip install 'qiskit-aer-jobstore[plot]'."
        ) from None
    from qiskit.visualization import plot_histogram

    found = experiment_counts(job)
    if not found:
        raise JobStoreError(
            f"Aer job {job.job_id()} has no counts to plot: its circuits measure nothing."
        )
    if experiment is not None:
        if not 0 <= experiment < len(found):
            raise JobStoreError(
                f"Aer job {job.job_id()} has {len(found)} experiment(s) with counts; "
                f"experiment {experiment} does not exist (they are numbered from 0)."
            )
        found = [found[experiment]]
    names = [name for name, _ in found]
    figure = plot_histogram(
        [counts for _, counts in found],
        legend=names if len(found) > 1 else None,
        title=f"{job.job_id()}" + (f" ({names[0]})" if len(found) == 1 else ""),
    )
    path = Path(path)
    try:
        figure.savefig(path, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path
