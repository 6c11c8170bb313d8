"""The job table of ``aer-jobs ui``: query parameters as ``jobs()`` filters, keyset pages.

Every filter is a query parameter named as in ``jobs()`` (``?job_tags=paper&status=DONE``);
lists repeat the parameter or join values with commas; ranges are ``2..5`` (either end may be
left out). Pages follow the index's order with a cursor (``after=<value>|<job_id>``: the last
row of the page before), so page 500 costs what page 1 does.
"""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

from .. import settings
from ..exceptions import JobStoreError
from ..index.query import SORTABLE, IndexEntry, JobFilter
from ..listing import summary

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
COUNT_CAP = 1000  # a filtered table says "1,000+ jobs" past this
_TEXT = ("backend_name", "job_name", "method", "circuit_name", "primitive", "session_id",
         "client", "content_key", "job_tags_operator")
_LISTS = ("status", "job_tags")
_RANGES = ("num_qubits", "shots")
_TIMES = ("created_after", "created_before")
_PAGING = ("sort", "order", "limit", "after", "before", "location", "format")
FILTERS = (*_TEXT, *_LISTS, *_RANGES, *_TIMES, "reused")
_FLOATS = ("created", "ended")
_INTS = ("num_qubits", "shots", "num_circuits", "size")


class BadQuery(JobStoreError):
    """A query parameter the table cannot use (shown as a 400 page that says why)."""


def _values(params: Any, name: str) -> list[str]:
    found: list[str] = []
    for value in params.getlist(name):
        found.extend(v.strip() for v in value.split(",") if v.strip())
    return found


def _range(text: str, name: str) -> Any:
    try:
        if ".." not in text:
            return int(text)
        low, high = text.split("..", 1)
        return (int(low) if low else None, int(high) if high else None)
    except ValueError:
        raise BadQuery(
            f"Invalid {name} {text!r}: give an int (5) or a range (2..5, 2.., ..5)."
        ) from None


def _when(text: str, name: str) -> Any:
    """An ISO date or time, or an age such as ``7d`` (that long ago), as on the command line."""
    if text[-1:].lower() in "smhdw" and text[:-1].replace(".", "", 1).isdigit():
        return _dt.datetime.now(_dt.timezone.utc) - settings.parse_duration(text, name)
    return text  # JobFilter reads ISO strings and says what is wrong with others


def filters_of(params: Any) -> dict[str, Any]:
    """The ``jobs()`` filters the query parameters name (paging and sorting left out).

    Raises:
        BadQuery: an unknown parameter or a value that does not parse.
    """
    unknown = sorted(set(params.keys()) - set(FILTERS) - set(_PAGING))
    if unknown:
        raise BadQuery(
            f"Unknown parameter(s) {', '.join(map(repr, unknown))}: the filters are "
            f"{', '.join(FILTERS)}; paging and order: {', '.join(_PAGING)}."
        )
    filters: dict[str, Any] = {}
    for name in _TEXT:
        if params.get(name):
            filters[name] = params[name]
    for name in _LISTS:
        if _values(params, name):
            filters[name] = _values(params, name)
    for name in _RANGES:
        if params.get(name):
            filters[name] = _range(params[name].strip(), name)
    for name in _TIMES:
        if params.get(name):
            filters[name] = _when(params[name].strip(), name)
    if params.get("reused"):
        flag = params["reused"].strip().lower()
        if flag not in ("true", "1", "yes", "false", "0", "no"):
            raise BadQuery(f"Invalid reused {params['reused']!r}: give true or false.")
        filters["reused"] = flag in ("true", "1", "yes")
    try:
        JobFilter.from_kwargs(**filters)  # says at once what is wrong with a value
    except BadQuery:
        raise
    except JobStoreError as exc:
        raise BadQuery(str(exc)) from None
    return filters


def encode_cursor(value: Any, job_id: str) -> str:
    return f"{value!r}|{job_id}" if isinstance(value, float) else f"{value}|{job_id}"


def decode_cursor(text: str, order_by: str) -> tuple[Any, str]:
    """``(value, job_id)`` of a cursor made by :func:`encode_cursor`.

    Raises:
        BadQuery: the cursor is not one.
    """
    value, sep, job_id = text.rpartition("|")
    try:
        if not sep or not job_id:
            raise ValueError
        if order_by in _FLOATS:
            return float(value), job_id
        if order_by in _INTS:
            return int(value), job_id
        return value, job_id
    except ValueError:
        raise BadQuery(
            f"Invalid page cursor {text!r}: follow the table's next and previous links."
        ) from None


def sort_value(job: Any, order_by: str) -> Any:
    """The value the index orders ``job`` by (the same function made its row)."""
    if order_by == "job_id":
        return job.job_id()
    value = IndexEntry.from_manifest(job.manifest, "", job.size or 0).row[order_by]
    return SORTABLE[order_by] if value is None else value


def table_page(source: Any, params: Any) -> dict[str, Any]:
    """One page of the job table of ``source`` (a ``JobStore`` or a ``TeamStore``).

    Returns:
        ``{"jobs": [summaries], "total", "total_exact", "next", "previous", "sort", "order",
        "limit", "filters"}``; ``next`` / ``previous`` are cursors (None on the last / first
        page); ``total`` is at most ``COUNT_CAP`` for a filtered table (``total_exact`` False).

    Raises:
        BadQuery: a parameter that does not parse.
    """
    filters = filters_of(params)
    order_by = params.get("sort") or "created"
    if order_by not in SORTABLE:
        raise BadQuery(f"Invalid sort {order_by!r}: use one of {', '.join(SORTABLE)}.")
    order = (params.get("order") or "desc").lower()
    if order not in ("asc", "desc"):
        raise BadQuery(f"Invalid order {order!r}: use asc or desc.")
    try:
        limit = int(params.get("limit") or PAGE_SIZE)
    except ValueError:
        raise BadQuery(f"Invalid limit {params.get('limit')!r}: give a number of rows.") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadQuery(f"Invalid limit {limit}: give 1 to {MAX_PAGE_SIZE}.")
    descending = order == "desc"
    before = params.get("before")
    cursor = before or params.get("after")
    after = decode_cursor(cursor, order_by) if cursor else None
    backwards = bool(before)
    jobs = list(source.list(
        limit=limit + 1, descending=descending != backwards, order_by=order_by, after=after,
        **filters,
    ))
    more = len(jobs) > limit
    jobs = jobs[:limit]
    if backwards:
        jobs.reverse()
    first_page = after is None or (backwards and not more)
    last_page = not more if not backwards else False
    ends = [encode_cursor(sort_value(j, order_by), j.job_id()) for j in (jobs[:1] + jobs[-1:])]
    return {
        "jobs": [summary(job) | {"location": getattr(job, "location", "local")} for job in jobs],
        **_total(source, filters),
        "next": ends[-1] if jobs and not last_page else None,
        "previous": ends[0] if jobs and not first_page else None,
        "sort": order_by,
        "order": order,
        "limit": limit,
        "filters": {k: _shown(v) for k, v in filters.items()},
    }


def _total(source: Any, filters: dict[str, Any]) -> dict[str, Any]:
    """``{"total": n, "total_exact": bool}``: filtered counts stop at ``COUNT_CAP`` (a filter
    that matches most of 100,000 jobs would cost a scan per page); all jobs are counted
    exactly (their covering index makes that cheap)."""
    flt = JobFilter.from_kwargs(**filters)
    if not filters:
        return {"total": _count_all(source, flt), "total_exact": True}
    found = source.index.count(flt, at_most=COUNT_CAP + 1)
    return {"total": min(found, COUNT_CAP), "total_exact": found <= COUNT_CAP}


# (store, folder version) -> (how many jobs, when counted): the folder's version changes with
# every archive added or removed, so a local store's total is counted once per change (and at
# least every TOTAL_TTL_S: two saves within one tick of the folder's clock share a version)
_TOTALS: dict[tuple[int, Any], tuple[int, float]] = {}
TOTAL_TTL_S = 10.0


def _count_all(source: Any, flt: JobFilter) -> int:
    version = getattr(getattr(source, "blobs", None), "version", lambda: None)()
    if version is None or not hasattr(source, "path"):  # the team store: counted each time
        return source.index.count(flt)
    key, now = (id(source), version), time.monotonic()
    if key not in _TOTALS or now - _TOTALS[key][1] > TOTAL_TTL_S:
        if len(_TOTALS) > 64:
            _TOTALS.clear()
        _TOTALS[key] = (source.index.count(flt), now)
    return _TOTALS[key][0]


def _shown(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value

