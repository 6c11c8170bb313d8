"""The SQL index of stored jobs: the ``Index`` seam, its filters, and SQLite.

Two implementations answer the same calls with the same rows: ``SQLiteIndex`` (the local
store, in its folder) and ``postgres.PostgresIndex`` (the team store). Rows are made from
manifests in one place, ``IndexEntry.from_manifest``; queries are built once by ``JobFilter``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..exceptions import AmbiguousJobIdError
from ..manifest import validate_job_id
from .query import IndexEntry, JobFilter, id_prefix_where
from .sqlite import SQLiteIndex

# How many ids an ambiguous prefix's error lists.
AMBIGUOUS_SHOWN = 10


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

    def count(self, flt: JobFilter | None = None, at_most: int | None = None) -> int:
        """How many rows ``flt`` selects (paging ignored), counting no further than
        ``at_most`` if given."""

    def delete(
        self, job_ids: Iterable[str], version_before: Any = None, version_after: Any = None
    ) -> int:
        """Remove jobs' rows; how many there were."""

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` job ids starting with ``prefix``, in order."""

    def total_size(self) -> int:
        """Bytes of all archives."""


def ids_matching(index: Index, prefix: str) -> list[str]:
    """``[prefix]`` if it is a stored job's whole id, else the ids that start with it (at most
    ``AMBIGUOUS_SHOWN + 1``: enough to tell one from several).

    Raises:
        InvalidJobIdError: ``prefix`` is not well formed (as a job id).
    """
    validate_job_id(prefix)
    if index.get(prefix) is not None:
        return [prefix]
    return index.ids_with_prefix(prefix, AMBIGUOUS_SHOWN + 1)


def only_match(prefix: str, matches: list[str], where: str) -> str | None:
    """The one id of ``matches``, or None if there is none.

    Raises:
        AmbiguousJobIdError: several ids start with ``prefix`` (they are listed).
    """
    if len(matches) <= 1:
        return matches[0] if matches else None
    shown = ", ".join(matches[:AMBIGUOUS_SHOWN])
    more = ", ..." if len(matches) > AMBIGUOUS_SHOWN else ""
    raise AmbiguousJobIdError(
        f"The job id prefix {prefix!r} is ambiguous in {where}; the ids starting with it: "
        f"{shown}{more}. Give more characters.",
        matches[:AMBIGUOUS_SHOWN],
    )


__all__ = [
    "AMBIGUOUS_SHOWN",
    "Index",
    "IndexEntry",
    "JobFilter",
    "SQLiteIndex",
    "id_prefix_where",
    "ids_matching",
    "only_match",
]
