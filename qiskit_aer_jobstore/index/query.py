"""Job filters and the SQL they become. Built once, run on SQLite or PostgreSQL.

Filter names follow ``QiskitRuntimeService.jobs()`` where it has them.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..exceptions import JobStoreError
from ..manifest import JOB_STATUSES, device_name, tag_list
from ..times import parse_time

COLUMNS = (
    "job_id",
    "archive",
    "backend_name",
    "status",
    "job_name",
    "created",
    "ended",
    "method",
    "num_qubits",
    "shots",
    "num_circuits",
    "primitive",
    "session_id",
    "client",
    "content_key",
    "reused_from",
    "payload_in",
    "size",
    "sha256",
    "manifest",
)


def to_epoch(value: _dt.datetime | str | float | int, name: str) -> float:
    """A datetime (naive ones are local time, as in qiskit-ibm-runtime) as a UTC epoch."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise JobStoreError(
                f"Invalid {name} {value!r}: give a datetime or an ISO 8601 string."
            ) from None
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        raise JobStoreError(f"Invalid {name} {value!r}: give a datetime or an ISO 8601 string.")
    if value.tzinfo is None:
        value = value.astimezone()  # naive datetimes are the user's local time
    return value.timestamp()


def _status_names(status: Any) -> list[str] | None:
    if status is None:
        return None
    if isinstance(status, (str, enum.Enum)):
        items = [status]
    elif isinstance(status, Iterable):
        items = list(status)
    else:
        items = [status]
    names = []
    for item in items:
        if isinstance(item, enum.Enum) and item.name in JOB_STATUSES:  # a JobStatus
            names.append(item.name)
        elif isinstance(item, str) and item.strip().upper() in JOB_STATUSES:
            names.append(item.strip().upper())
        else:
            raise JobStoreError(
                f"Invalid status {item!r}: use JobStatus values or their names "
                f"({', '.join(JOB_STATUSES)}), or a list of them."
            )
    if not names:
        raise JobStoreError("Invalid status []: give at least one status, or None for any.")
    return names


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _range(value: Any, name: str) -> tuple[int | None, int | None] | None:
    if value is None:
        return None
    bounds: tuple[Any, Any] | None = None
    if _is_int(value):
        bounds = (value, value)
    elif isinstance(value, range) and value.step == 1:
        bounds = (value.start, value.stop - 1)
    elif isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        bounds = (value[0], value[1])
    if bounds is None or not all(v is None or _is_int(v) for v in bounds):
        raise JobStoreError(
            f"Invalid {name} {value!r}: give an int, or a (min, max) pair where either may be None."
        )
    if bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]:
        raise JobStoreError(f"Invalid {name} {value!r}: the min is larger than the max.")
    return bounds


# Tag and circuit lists are checked while walking the (created, job_id) index, never used to
# drive the query: SQLite would then fetch every tagged job and sort them (see BENCHMARKS.md).
# ``|| ''`` hides the primary key from the planner and is valid SQL on PostgreSQL too.
_MEMBER = "(job_id || '')"

# The columns a listing may be ordered by, each with what stands for NULL in the order (so the
# keyset comparison never meets a NULL); job_id breaks ties, so every order is total.
SORTABLE = {
    "created": None, "ended": -1.0, "job_name": "", "backend_name": "", "status": "",
    "num_qubits": -1, "shots": -1, "num_circuits": -1, "size": -1, "job_id": None,
}

_TEXT_FILTERS = ("backend_name", "job_name", "method", "circuit_name", "primitive", "session_id",
                 "client", "content_key")


@dataclass
class JobFilter:
    """What ``jobs()`` / ``local_jobs()`` / ``JobStore.list()`` select.

    Args:
        limit: at most this many jobs (None: all).
        skip: skip this many first.
        descending: newest first (default) or oldest first.
        backend_name: only jobs run on this backend.
        status: a ``JobStatus`` or its name, or several.
        job_name: only jobs with this name.
        job_tags: only jobs with these tags ...
        job_tags_operator: ... any of them (``"OR"``) or all of them (``"AND"``).
        created_after / created_before: datetimes (naive ones are local time) or ISO strings.
        method: simulation method (``"statevector"``, ...).
        num_qubits: an int, or a ``(min, max)`` pair (either may be None).
        shots: an int, or a ``(min, max)`` pair.
        circuit_name: only jobs with a circuit of this name.
        primitive: ``"sampler"``/``"estimator"`` for primitive jobs.
        session_id: only jobs of this session (a ``job_context``, or a qiskit-ibm-runtime
            local ``Session`` / ``Batch``).
        client: only jobs of this client (``"qiskit-ibm-runtime"`` for its local mode).
        reused: True for jobs served from a stored one (``reuse_results``), False for jobs
            that ran.
        content_key: only jobs with this content key (what ``reuse_results`` matches).
        order_by: the column to order by (``created`` by default; see ``SORTABLE``), then
            ``job_id``.
        after: keyset paging: only the jobs after this ``(order_by value, job_id)`` in the
            order (the last row of the page before), so that page 500 costs what page 1 does.
    """

    limit: int | None = 10
    skip: int = 0
    descending: bool = True
    backend_name: str | None = None
    status: Any = None
    job_name: str | None = None
    job_tags: Iterable[str] | None = None
    job_tags_operator: str = "OR"
    created_after: Any = None
    created_before: Any = None
    method: str | None = None
    num_qubits: Any = None
    shots: Any = None
    circuit_name: str | None = None
    primitive: str | None = None
    session_id: str | None = None
    client: str | None = None
    reused: bool | None = None
    content_key: str | None = None
    order_by: str = "created"
    after: tuple[Any, str] | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # fail at once with a clear message, not later as an SQL error
        if self.limit is not None and (not _is_int(self.limit) or self.limit < 0):
            raise JobStoreError(f"Invalid limit {self.limit!r}: give an int >= 0, or None for all.")
        if not _is_int(self.skip) or self.skip < 0:
            raise JobStoreError(f"Invalid skip {self.skip!r}: give an int >= 0.")
        if not isinstance(self.descending, bool):
            raise JobStoreError(f"Invalid descending {self.descending!r}: give True or False.")
        if self.reused is not None and not isinstance(self.reused, bool):
            raise JobStoreError(f"Invalid reused {self.reused!r}: give True, False or None.")
        if self.order_by not in SORTABLE:
            raise JobStoreError(
                f"Invalid order_by {self.order_by!r}: use one of {', '.join(SORTABLE)}."
            )
        if self.after is not None and not (
            isinstance(self.after, (tuple, list)) and len(self.after) == 2
            and isinstance(self.after[1], str)
        ):
            raise JobStoreError(
                f"Invalid after {self.after!r}: give the (order_by value, job_id) of the last "
                "job of the page before."
            )
        for name in _TEXT_FILTERS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise JobStoreError(
                    f"Invalid {name} {value!r}: give a string ({type(value).__name__} given)."
                )
        self.where()

    @classmethod
    def from_kwargs(cls, **filters: Any) -> JobFilter:
        """A filter from keyword arguments, refusing unknown names with the list of known ones.

        Raises:
            JobStoreError: an unknown filter name or a bad value.
        """
        known = [f for f in cls.__dataclass_fields__ if f != "extra"]
        unknown = sorted(set(filters) - set(known))
        if unknown:
            raise JobStoreError(
                f"Unknown job filter(s) {', '.join(map(repr, unknown))}: the filters are "
                f"{', '.join(known)}."
            )
        return cls(**filters)

    def where(self, ph: str = "?") -> tuple[str, list[Any]]:
        """The WHERE clause (without the keyword; ``"1=1"`` when empty) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []

        def eq(column: str, value: Any) -> None:
            clauses.append(f"{column} = {ph}")
            params.append(value)

        if self.backend_name is not None:
            eq("backend_name", self.backend_name)
        statuses = _status_names(self.status)
        if statuses is not None:
            clauses.append(f"status IN ({', '.join([ph] * len(statuses))})")
            params.extend(statuses)
        if self.job_name is not None:
            eq("job_name", self.job_name)
        if self.method is not None:
            eq("method", self.method)
        for column in ("primitive", "session_id", "client", "content_key"):
            if getattr(self, column) is not None:
                eq(column, getattr(self, column))
        if self.reused is not None:
            clauses.append(f"reused_from IS {'NOT ' if self.reused else ''}NULL")
        for column, value in (("num_qubits", self.num_qubits), ("shots", self.shots)):
            bounds = _range(value, column)
            if bounds is None:
                continue
            if bounds[0] is not None:
                clauses.append(f"{column} >= {ph}")
                params.append(bounds[0])
            if bounds[1] is not None:
                clauses.append(f"{column} <= {ph}")
                params.append(bounds[1])
        if self.created_after is not None:
            clauses.append(f"created >= {ph}")
            params.append(to_epoch(self.created_after, "created_after"))
        if self.created_before is not None:
            clauses.append(f"created <= {ph}")
            params.append(to_epoch(self.created_before, "created_before"))
        if self.circuit_name is not None:
            clauses.append(f"{_MEMBER} IN (SELECT job_id FROM job_circuits WHERE name = {ph})")
            params.append(self.circuit_name)
        tags = _tag_list(self.job_tags)
        if tags:
            operator = str(self.job_tags_operator).upper()
            marks = ", ".join([ph] * len(tags))
            sub = f"SELECT job_id FROM job_tags WHERE tag IN ({marks})"
            if operator == "AND":
                sub += f" GROUP BY job_id HAVING COUNT(*) = {ph}"
            clauses.append(f"{_MEMBER} IN ({sub})")
            params.extend(tags)
            if operator == "AND":
                params.append(len(tags))
        if str(self.job_tags_operator).upper() not in ("OR", "AND"):
            raise JobStoreError(
                f"Invalid job_tags_operator {self.job_tags_operator!r}: use 'OR' (any of the "
                "tags) or 'AND' (all of them)."
            )
        return (" AND ".join(clauses) or "1=1"), params

    def count_select(self, ph: str = "?", at_most: int | None = None) -> tuple[str, list[Any]]:
        """The SELECT COUNT of the rows this filter selects (paging ignored); ``at_most``
        stops counting there (a bounded cost where a filter matches most of a big store)."""
        where, params = self.where(ph)
        if at_most is None:
            return f"SELECT COUNT(*) FROM jobs WHERE {where}", params
        sub = f"SELECT 1 FROM jobs WHERE {where} LIMIT {ph}"
        return f"SELECT COUNT(*) FROM ({sub}) AS found", [*params, at_most]

    def sort_key(self) -> str:
        """The SQL expression ordered by (NULLs replaced: see ``SORTABLE``)."""
        null = SORTABLE[self.order_by]
        if null is None:
            return self.order_by
        return f"COALESCE({self.order_by}, {null!r})".replace('"', "'")

    def select(self, ph: str = "?", columns: str = "*") -> tuple[str, list[Any]]:
        """The whole SELECT, ordered and paged (by ``skip``, or by the ``after`` keyset)."""
        where, params = self.where(ph)
        order = "DESC" if self.descending else "ASC"
        key = self.sort_key()
        if self.after is not None:
            # a row-value comparison: walks the (created, job_id) index from the cursor
            where += f" AND ({key}, job_id) {'<' if self.descending else '>'} ({ph}, {ph})"
            params.extend(self.after)
        ties = "" if key == "job_id" else f", job_id {order}"
        sql = f"SELECT {columns} FROM jobs WHERE {where} ORDER BY {key} {order}{ties}"
        if self.limit is not None:
            sql += f" LIMIT {ph}"
            params.append(self.limit)
        if self.skip:
            sql += f" OFFSET {ph}" if self.limit is not None else f" LIMIT -1 OFFSET {ph}"
            params.append(self.skip)
        return sql, params


def id_prefix_where(prefix: str, ph: str = "?") -> tuple[str, list[Any]]:
    """The WHERE clause of the ids starting with ``prefix``: a LIKE with its wildcards escaped,
    and a case-sensitive check (SQLite's LIKE ignores the case of ASCII letters)."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    clause = f"job_id LIKE {ph} ESCAPE '\\' AND substr(job_id, 1, {len(prefix)}) = {ph}"
    return clause, [pattern, prefix]


def _tag_list(job_tags: Any) -> list[str]:
    return sorted(set(tag_list(job_tags)))


@dataclass
class IndexEntry:
    """What an index holds of one job: its row, its tags and its circuit names."""

    row: dict[str, Any]
    tags: list[str]
    circuits: list[str]

    @property
    def job_id(self) -> str:
        return self.row["job_id"]

    @property
    def archive(self) -> str:
        return self.row["archive"]

    @classmethod
    def from_manifest(
        cls, manifest: dict[str, Any], archive: str, size: int, sha256: str | None = None
    ) -> IndexEntry:
        """The entry for an archive, from its manifest (the one way rows are made)."""
        return cls(
            _row(manifest, archive, size, sha256), _strings(manifest, "job_tags"),
            _strings(manifest, "circuit_names"),
        )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _row(manifest: dict[str, Any], archive: str, size: int, sha256: str | None) -> dict[str, Any]:
    ended = manifest.get("end_date")
    try:
        ended_epoch = parse_time(ended).timestamp() if isinstance(ended, str) else None
    except ValueError:
        ended_epoch = None
    return {
        "job_id": manifest["job_id"],
        "archive": archive,
        "backend_name": device_name(manifest["backend_name"]),
        "status": manifest["status"],
        "job_name": _text(manifest.get("job_name")),
        "created": parse_time(manifest["creation_date"]).timestamp(),
        "ended": ended_epoch,
        "method": _text(manifest.get("method")),
        "num_qubits": _int(manifest.get("num_qubits")),
        "shots": _int(manifest.get("shots")),
        "num_circuits": _int(manifest.get("num_circuits")),
        "primitive": _text(manifest.get("primitive")),
        "session_id": _text(manifest.get("session_id")),
        "client": _text(manifest.get("client")),
        "content_key": _text(manifest.get("content_key")),
        "reused_from": _text(manifest.get("reused_from")),
        "payload_in": _text(manifest.get("payload_in")),
        "size": size,
        "sha256": sha256,
        "manifest": json.dumps(manifest, sort_keys=True, default=str),
    }


def _strings(manifest: dict[str, Any], field: str) -> list[str]:
    values = manifest.get(field) or []
    return sorted({v for v in values if isinstance(v, str)}) if isinstance(values, list) else []
