"""The pictures of the notebook face: a job card's histograms and circuit drawing, and the job
table's sort, status colours and sparklines.

Everything from an archive is escaped (:mod:`.pictures` draws the SVG); the only script is the
table's sort, constant code that reads the cells' text and never data as code.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import JobArchiveError, JobStoreError
from .pictures import circuit_svg, circuit_text, counts_histogram_svg, sparkline_svg

if TYPE_CHECKING:  # job imports qiskit, which `aer-jobs list` never needs
    from .job import StoredAerJob

__all__ = [
    "CARD_HISTOGRAMS",
    "SPARKLINE_MAX_BYTES",
    "SPARKLINE_ROWS",
    "STATUS_COLOURS",
    "card_pictures_html",
    "sortable_table_html",
    "sparklines",
    "status_colour",
]

# A job card draws the counts of at most this many experiments.
CARD_HISTOGRAMS = 2
# A job table draws sparklines for its first rows only, and only for jobs with small archives:
# a listing reads the index alone, and each sparkline reads one archive.
SPARKLINE_ROWS = 20
SPARKLINE_MAX_BYTES = 256 * 1024
STATUS_COLOURS = {"DONE": "#2e7d32", "ERROR": "#c62828", "CANCELLED": "#6d6d6d"}


def _read_errors() -> tuple[type[Exception], ...]:
    # qiskit only when an archive is read: `aer-jobs list` imports this module too
    from qiskit.providers import JobError

    return (JobError, JobArchiveError, JobStoreError)
# Columns sorted as numbers (by their data-v attribute), not as text.
NUMERIC = ("num_circuits", "num_qubits", "shots", "size")


def status_colour(status: str) -> str:
    """The colour a status is shown in (blue while queued or running)."""
    return STATUS_COLOURS.get(status, "#1565c0")


def _first_counts(job: StoredAerJob, at_most: int) -> list[tuple[str, dict[str, int]]]:
    from .diff import read_experiments  # numpy and qiskit: only when a card is drawn

    return [(e["name"], e["counts"]) for e in read_experiments(job) if e["counts"]][:at_most]


def card_pictures_html(job: StoredAerJob) -> str:
    """A finished job's counts histograms (its first :data:`CARD_HISTOGRAMS` experiments with
    counts) and its first circuit drawn, as HTML; empty while the job runs. Reads the job's
    archive (an untrusted job's portable copies)."""
    if not job.in_final_state():
        return ""
    parts = []
    try:
        found = _first_counts(job, CARD_HISTOGRAMS + 1)
    except _read_errors():  # failed, dropped or unreadable: the card says why elsewhere
        found = []
    for name, counts in found[:CARD_HISTOGRAMS]:
        parts.append(
            f"<div class='aer-counts' style='display:inline-block'>"
            f"{counts_histogram_svg(counts, title=name)}</div>"
        )
    if len(found) > CARD_HISTOGRAMS:
        parts.append("<p><em>More experiments have counts: job.result() holds them.</em></p>")
    try:
        circuits = job.circuits()
    except _read_errors():
        circuits = []
    if circuits:
        first = circuits[0]
        drawing = circuit_svg(first)
        if drawing is None:  # no matplotlib, or too wide to draw
            drawing = f"<pre>{html.escape(circuit_text(first))}</pre>"
        more = f" (1 of {len(circuits)})" if len(circuits) > 1 else ""
        parts.append(
            f"<div class='aer-circuit-drawing'><b>circuit {html.escape(str(first.name))}</b>"
            f"{html.escape(more)}<br>{drawing}</div>"
        )
    return "".join(parts)


def sparklines(jobs: Sequence[StoredAerJob]) -> dict[str, str]:
    """Sparklines of the first experiment's counts, by job id, for the first
    :data:`SPARKLINE_ROWS` jobs that are DONE with archives under
    :data:`SPARKLINE_MAX_BYTES`; none for the others (that would read every archive)."""
    drawn = {}
    for job in list(jobs)[:SPARKLINE_ROWS]:
        size = job.size or 0
        if job.manifest.get("status") != "DONE" or job.result_dropped or size > SPARKLINE_MAX_BYTES:
            continue
        try:
            found = _first_counts(job, 1)
        except _read_errors():
            continue
        if found:
            drawn[job.job_id()] = sparkline_svg(found[0][1])
    return drawn


_SORT_SCRIPT = """<script>(function(){
var t=document.getElementById('%s');if(!t)return;
var hs=t.tHead.rows[0].cells;
for(let i=0;i<hs.length;i++){hs[i].style.cursor='pointer';hs[i].onclick=function(){
var b=t.tBodies[0],rs=Array.from(b.rows),up=t.dataset.col==i&&t.dataset.dir!='up';
t.dataset.col=i;t.dataset.dir=up?'up':'down';
rs.sort(function(x,y){var a=x.cells[i],c=y.cells[i];
var p=a.dataset.v,q=c.dataset.v,r=(p!==undefined&&q!==undefined)?(+p)-(+q)
:a.textContent.localeCompare(c.textContent);return up?r:-r;});
rs.forEach(function(r){b.appendChild(r);});};}
})();</script>"""


def sortable_table_html(
    rows: list[dict[str, Any]],
    fields: Sequence[str],
    headers: Sequence[str],
    cells: list[list[str]],
    drawn: dict[str, str] | None = None,
) -> str:
    """Job summaries as an HTML table sorted by clicking a header (again: the other way),
    the status in its colour, and a ``counts`` column of sparklines when ``drawn`` has any.

    Args:
        rows: the jobs' summaries (for ids, statuses and the numbers columns sort by).
        fields: the summary fields shown, in order.
        headers: their titles.
        cells: each row's cells as text (escaped here).
        drawn: sparkline SVG by job id (see :func:`sparklines`).
    """
    table_id = f"aer-jobs-{uuid.uuid4().hex[:12]}"
    drawn = drawn or {}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    if drawn:
        head += "<th>counts</th>"
    body = []
    for row, texts in zip(rows, cells):
        tds = []
        for field, text in zip(fields, texts):
            value = row.get(field)
            attrs = ""
            if field in NUMERIC and isinstance(value, (int, float)):
                attrs = f" data-v='{value}'"
            if field == "status":
                attrs += f" style='color:{status_colour(str(value))};font-weight:bold'"
            tds.append(f"<td{attrs}>{html.escape(text)}</td>")
        if drawn:
            tds.append(f"<td>{drawn.get(row['job_id'], '')}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (
        f"<table class='aer-jobs' id='{table_id}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>" + _SORT_SCRIPT % table_id
    )
