"""The SQL index of stored jobs: the ``Index`` seam, its filters, and SQLite.

Two implementations answer the same calls with the same rows: ``SQLiteIndex`` (the local
store, in its folder) and ``postgres.PostgresIndex`` (the team store). Rows are made from
manifests in one place, ``IndexEntry.from_manifest``; queries are built once by ``JobFilter``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from .query import IndexEntry, JobFilter
from .sqlite import SQLiteIndex


class Index(Protocol):
    """What every index offers (``SQLiteIndex``, ``PostgresIndex``)."""

    placeholder: str

    def upsert(
        self, entry: IndexEntry, version_before: Any = None, version_after: Any = None
    ) -> str | None:
        """Insert or replace a job's row; the archive name it replaced, if another."""

    def get(self, job_id: str) -> dict[str, Any] | None:
        """A job's row, or None."""

    def query(self, flt: JobFilter) -> list[dict[str, Any]]:
        """The rows ``flt`` selects, ordered and paged in SQL."""

    def count(self, flt: JobFilter | None = None) -> int:
        """How many rows ``flt`` selects (paging ignored)."""

    def delete(
        self, job_ids: Iterable[str], version_before: Any = None, version_after: Any = None
    ) -> int:
        """Remove jobs' rows; how many there were."""

    def total_size(self) -> int:
        """Bytes of all archives."""


__all__ = ["Index", "IndexEntry", "JobFilter", "SQLiteIndex"]
