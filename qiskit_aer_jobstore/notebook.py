"""Stored jobs for people: summaries, HTML for Jupyter, DataFrames and counts histograms.

The command line (:mod:`qiskit_aer_jobstore.cli`) and the notebook show the same things, built
here: one summary row per job, read from its manifest alone (no archive is opened).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cards import card_pictures_html, sortable_table_html, sparklines, status_colour
from .exceptions import JobStoreError
from .listing import SUMMARY_FIELDS, JobList, summary, to_dataframe

__all__ = [
    "SUMMARY_FIELDS",
    "JobList",
    "cell",
    "changed_backend_options",
    "ellipsize",
    "experiment_counts",
    "estimator_rows",
    "experiments",
    "header",
    "jsonable",
    "job_card_html",
    "jobs_table_html",
    "plot_counts",
    "short_ids",
    "summary",
    "summary_table",
    "to_dataframe",
]

if TYPE_CHECKING:
    from .job import StoredAerJob

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


# Columns a narrow table may shorten (from the middle); the others keep their whole values.
SHRINKABLE = ("job_name", "backend_name", "job_tags", "primitive", "method")
ELLIPSIS = "…"


def ellipsize(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters from the middle, with an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def short_ids(ids: list[str], length: int = 8) -> list[str]:
    """Job ids cut to ``length`` characters, as git shortens commit ids: longer where that is
    needed to tell these ids apart."""
    longest = max(map(len, ids), default=0)
    while length < longest and len({i[:length] for i in ids}) < len(set(ids)):
        length += 1
    return [i[:length] for i in ids]


def summary_table(
    rows: list[dict[str, Any]], fields: list[str], width: int | None, gap: int = 3
) -> list[list[str]]:
    """Job summaries as the cells of a text table, its header first, every field kept.

    With a ``width`` (the terminal's), ids are shortened (:func:`short_ids`) and the longest
    values of the :data:`SHRINKABLE` columns are cut from the middle, widest first, until the
    table (``gap`` characters between columns) fits, or the columns are as narrow as their
    titles. Without a ``width``, whole values.
    """
    table = [[header(f) for f in fields]] + [[cell(row, f) for f in fields] for row in rows]
    if width is None or not rows:
        return table
    if "job_id" in fields:
        at = fields.index("job_id")
        for line, short in zip(table[1:], short_ids([line[at] for line in table[1:]])):
            line[at] = short
    widths = [max(len(line[i]) for line in table) for i in range(len(fields))]
    floors = [
        min(widths[i], max(len(table[0][i]), 4)) if f in SHRINKABLE else widths[i]
        for i, f in enumerate(fields)
    ]
    room = width - gap * (len(fields) - 1)
    while sum(widths) > room:
        shrinkable = [i for i in range(len(fields)) if widths[i] > floors[i]]
        if not shrinkable:
            break
        widths[max(shrinkable, key=lambda i: widths[i])] -= 1
    return [[ellipsize(text, widths[i]) for i, text in enumerate(line)] for line in table]


def jobs_table_html(jobs: Iterable[StoredAerJob]) -> str:
    """An HTML table of job summaries, sorted by clicking a header, statuses in colour, and
    sparklines of the counts of the first small finished jobs (see :func:`.cards.sparklines`)."""
    jobs = list(jobs)
    rows = [summary(job) | {"location": job.location} for job in jobs]
    if not rows:
        return "<p><em>No stored jobs.</em></p>"
    # The "where" column only once a team store is in play.
    fields = SUMMARY_FIELDS + (("location",) if {r["location"] for r in rows} != {"local"} else ())
    cells = [[cell(row, f) for f in fields] for row in rows]
    table = sortable_table_html(rows, fields, [header(f) for f in fields], cells, sparklines(jobs))
    return f"{table}<p>{len(rows)} job{'s' if len(rows) != 1 else ''}</p>"


def job_card_html(job: StoredAerJob) -> str:
    """A compact HTML card for one job: its summary, error and archive path, and once it has
    ended its counts histograms and first circuit drawn (inline SVG)."""
    row = summary(job)
    colour = status_colour(row["status"])
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
    if job.reused_from:
        lines += ("<tr><th style='text-align:left'>reused</th><td>reused the result of job "
                  f"<code>{html.escape(job.reused_from)}</code></td></tr>")
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
        f"<table>{lines}</table>{card_pictures_html(job)}</div>"
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


def experiments(job: StoredAerJob) -> list[dict[str, Any]]:
    """Each experiment of a finished job, in order, as JSON-ready dicts: ``index``, ``name``,
    ``header`` (a backend job's: the circuit's name, registers and ``metadata``) and either
    ``counts`` (what it measured) or ``data`` (what else it saved; arrays as lists, complex
    numbers as ``[real, imag]``).

    A backend job has one experiment a circuit; a primitive job one a pub: a sampler pub's
    counts are of its registers joined, an estimator pub's data are its ``evs`` and ``stds``
    with its ``observables``, ``parameters`` and ``parameter_values`` (from the stored pubs;
    a job read from its portable copies has none: then only what the result holds).

    Raises:
        JobError: the job has not ended, or failed and has no result.
    """
    from qiskit.providers import JobError  # Qiskit here: `aer-jobs list` needs none of it

    if not job.in_final_state():
        raise JobError(
            f"Aer job {job.job_id()} is still {job.status().name}: it has no counts yet "
            f"(follow it with 'aer-jobs watch {job.job_id()}')."
        )
    result = job.result()
    if hasattr(result, "get_counts"):
        return [_experiment(result, i) for i in range(len(getattr(result, "results", [])))]
    pubs = (job.inputs.get("pubs") or []) if job.primitive == "estimator" else []
    found = []
    for i, pub_result in enumerate(result if isinstance(result, Iterable) else []):
        entry: dict[str, Any] = {"index": i, "name": f"pub {i}", "header": {}}
        data = getattr(pub_result, "data", None)
        fields = {key: getattr(data, key) for key in (data.keys() if hasattr(data, "keys") else [])}
        if fields and all(hasattr(v, "get_counts") for v in fields.values()):
            joined = getattr(pub_result, "join_data", None)
            bits = joined() if joined is not None else next(iter(fields.values()))
            entry["counts"] = dict(bits.get_counts())
        else:
            entry["data"] = jsonable(fields)
            if i < len(pubs):
                entry["data"].update(_pub_inputs(pubs[i]))
        entry["metadata"] = jsonable(dict(getattr(pub_result, "metadata", {}) or {}))
        found.append(entry)
    return found


def _experiment(result: Any, i: int) -> dict[str, Any]:
    experiment = result.results[i]
    head = getattr(experiment, "header", None) or {}
    head = head if isinstance(head, dict) else getattr(head, "to_dict", dict)()
    entry: dict[str, Any] = {
        "index": i,
        "name": head.get("name") or f"experiment {i}",
        "header": jsonable(head),
    }
    data = getattr(experiment, "data", None)
    if getattr(data, "counts", None) is not None and head.get("memory_slots") != 0:
        entry["counts"] = dict(result.get_counts(i))
    else:  # nothing was measured (get_counts would invent {"0": shots})
        saved = data.to_dict() if hasattr(data, "to_dict") else {}
        entry["data"] = jsonable({k: v for k, v in saved.items() if k != "counts"})
    return entry


def _pub_inputs(pub: Any) -> dict[str, Any]:
    """An estimator pub's observables and parameter values, JSON-ready."""
    parameters = list(getattr(pub.circuit, "parameters", []))
    values = pub.parameter_values.as_array(parameters) if parameters else None
    return {
        "observables": jsonable(pub.observables.tolist()),
        "parameters": [p.name for p in parameters],
        "parameter_values": jsonable(values),
    }


def estimator_rows(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """An estimator experiment (of :func:`experiments`) as one row per expectation value:
    ``observable`` and ``parameters`` (text, empty when unknown), ``ev``, ``std``."""
    import numpy as np  # here: `aer-jobs list` imports this module, and needs no numpy

    data = entry.get("data", {})
    evs = np.asarray(data.get("evs", []), dtype=float)
    stds = np.broadcast_to(np.asarray(data.get("stds", np.nan), dtype=float), evs.shape)
    observables = np.full(evs.shape, "", dtype=object)
    parameters = np.full(evs.shape, "", dtype=object)
    try:
        if "observables" in data:
            found = np.empty(np.shape(np.asarray(data["observables"], dtype=object)), object)
            for at in np.ndindex(found.shape):
                terms = _at(data["observables"], at)
                found[at] = " + ".join(f"{c:g}*{p}" for p, c in terms.items())
            observables = np.broadcast_to(found, evs.shape)
        names = data.get("parameters") or []
        if names:
            values = np.asarray(data["parameter_values"], dtype=float)
            shape = values.shape[:-1]
            text = np.empty(shape, object)
            for at in np.ndindex(shape):
                text[at] = ", ".join(f"{n}={v:g}" for n, v in zip(names, values[at]))
            parameters = np.broadcast_to(text, evs.shape)
    except (ValueError, TypeError, AttributeError):  # shapes that do not broadcast: evs alone
        pass
    return [
        {
            "observable": observables[at],
            "parameters": parameters[at],
            "ev": float(evs[at]),
            "std": float(stds[at]),
        }
        for at in np.ndindex(evs.shape)
    ]


def _at(nested: Any, at: tuple[int, ...]) -> Any:
    for i in at:
        nested = nested[i]
    return nested


def jsonable(value: Any) -> Any:
    """``value`` with arrays as lists, quantum states and operators as their matrices, and
    complex numbers as ``[real, imag]``; anything else unknown as its ``str``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    import numpy as np  # here: `aer-jobs list` imports this module, and needs no numpy

    if isinstance(getattr(value, "data", None), np.ndarray):  # Statevector, Operator, ...
        value = value.data
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, complex):
        return [value.real, value.imag]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def experiment_counts(job: StoredAerJob) -> list[tuple[str, dict[str, int]]]:
    """``(experiment name, counts)`` for each experiment of a job that measured something
    (see :func:`experiments`).

    Raises:
        JobError: the job has not ended, or failed and has no result.
    """
    return [(e["name"], e["counts"]) for e in experiments(job) if "counts" in e]


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
