"""``JobList``: stored jobs as a list, a table in Jupyter, a DataFrame; one summary a job.

The command line and the notebook show the same summary row per job, read from its manifest
alone (no archive is opened).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import lifecycle
from .exceptions import JobStoreError
from .times import parse_time

if TYPE_CHECKING:
    from .job import StoredAerJob

# Summary fields, in the order tables and DataFrames show them.
SUMMARY_FIELDS = (
    "job_id",
    "job_name",
    "backend_name",
    "status",
    "creation_date",
    "num_circuits",
    "num_qubits",
    "shots",
    "method",
    "job_tags",
    "size",
)
def summary(job: StoredAerJob) -> dict[str, Any]:
    """A JSON-ready row for one job, from its manifest (its archive is not opened)."""
    return manifest_summary(job.job_id(), job.manifest, job.size)


def row_summary(row: dict[str, Any]) -> dict[str, Any]:
    """:func:`summary` of a job from its index row, with no ``StoredAerJob`` made: what
    ``aer-jobs list`` shows, without importing Qiskit."""
    return manifest_summary(row["job_id"], json.loads(row["manifest"]), row.get("size"))


def manifest_summary(job_id: str, manifest: dict[str, Any], size: int | None) -> dict[str, Any]:
    """The summary row of a job from its id, manifest and archive size."""
    return {
        "job_id": job_id,
        "job_name": manifest.get("job_name"),
        "backend_name": manifest["backend_name"],
        "status": lifecycle.status_name(manifest),
        "creation_date": parse_time(manifest["creation_date"]).isoformat(),
        "num_circuits": manifest.get("num_circuits"),
        "num_qubits": manifest.get("num_qubits"),
        "shots": manifest.get("shots"),
        "method": manifest.get("method"),
        "job_tags": list(manifest.get("job_tags") or []),
        "size": size,
        "primitive": manifest.get("primitive"),
        "reused_from": manifest.get("reused_from"),
    }


def to_dataframe(jobs: Iterable[StoredAerJob]) -> Any:
    """Job summaries as a pandas DataFrame indexed by job id, ``creation_date`` as UTC times.

    Raises:
        JobStoreError: pandas is not installed.
    """
    try:
        # optional (the [pandas] extra), and slow to import
        import pandas as pd
    except ImportError:
        raise JobStoreError(
            "to_dataframe() needs pandas: pip install 'qiskit-aer-jobstore[pandas]'."
        ) from None
    frame = pd.DataFrame([summary(job) for job in jobs], columns=list(SUMMARY_FIELDS))
    frame["creation_date"] = pd.to_datetime(frame["creation_date"], utc=True, format="ISO8601")
    for column in ("num_circuits", "num_qubits", "shots", "size"):
        frame[column] = frame[column].astype("Int64")
    return frame.set_index("job_id")



class JobList(list):
    """A plain ``list`` of ``StoredAerJob`` that Jupyter shows as a table."""

    def _repr_html_(self) -> str:
        from .notebook import jobs_table_html  # the notebook face draws it (upward, on demand)

        return jobs_table_html(self)

    def to_dataframe(self) -> Any:
        """These jobs as a pandas DataFrame (see :func:`to_dataframe`)."""
        return to_dataframe(self)
