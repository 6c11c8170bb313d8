"""Jobs this process handed over for saving that are not written yet, shown by its listings.

A save handed to the writer process (or to the background thread) lands in the index a moment
later, after a backlog maybe. Until it does, the store keeps the job's record here: a dict
insert on the caller's path, nothing more. A listing in this process turns these records into
index rows (only then), selects, orders and pages them with the very SQL the index runs, in an
SQLite database in memory, and merges them with the index's rows: it shows every job handed
over, without waiting for the writer. A job's entry goes once its save is written (or failed).

A later state of a job replaces an earlier one, but a queued or running state never hides an
ended one (as the writer refuses it: ``JobStore.run_save``), here or in the index.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import json
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .handoff import WRITER_PROCESS
from .index import AMBIGUOUS_SHOWN, Index, IndexEntry, JobFilter, SQLiteIndex, ids_matching
from .index.query import SORTABLE
from .index.schema import SCHEMA
from .manifest import archive_name
from .record import ACTIVE_STATUSES, JobRecord

# How many ended jobs an overlay remembers, to refuse a late queued or running state.
ENDED_MEMORY = 4096


class Unwritten:
    """One job's save on its way: its record, or how to make it (a queued or running state
    about to be handed over), and its index entry once a listing asked for it."""

    __slots__ = ("active", "entry", "job_id", "make", "ranked")

    def __init__(self, job_id: str, make: Callable[[], JobRecord], active: bool, ranked: bool):
        self.job_id = job_id
        self.make = make
        self.active = active  # queued or running
        self.ranked = ranked  # a "save": a late active state never replaces an ended one
        self.entry: IndexEntry | None = None


class Overlay:
    """The saves of one store handed over by this process and not written yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Unwritten] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._pid = os.getpid()
        self._scratch: _Scratch | None = None  # these saves' rows, for listings to query
        self._scratch_lock = threading.Lock()

    # -- the caller's side: cheap ----------------------------------------------------------
    def add(self, record: Any, ranked: bool = True) -> Unwritten | None:
        """Show ``record`` (a ``JobRecord``; anything else is ignored) until :meth:`done`.
        ``ranked``: a queued or running state never replaces an ended one (False for a split
        job's record, which a resume takes from ended back to running). Returns the entry to
        give :meth:`done`, or None if it is not shown."""
        if not isinstance(record, JobRecord):
            return None
        active = record.status in ACTIVE_STATUSES
        return self._put(Unwritten(record.job_id, lambda: record, active, ranked))

    def expect(self, job_id: str, make: Callable[[], JobRecord]) -> Unwritten | None:
        """Show a queued or running state that is handed over only if the job is still in it
        after a while (``stages``); ``make`` makes its record, when a listing asks."""
        return self._put(Unwritten(job_id, make, active=True, ranked=True))

    def _put(self, item: Unwritten) -> Unwritten | None:
        if self._pid != os.getpid():  # a forked child: the parent's saves are not its own
            self.__init__()
        with self._lock:
            if item.ranked and item.active:
                old = self._jobs.get(item.job_id)
                if item.job_id in self._ended or (old is not None and not old.active):
                    return None  # a late queued or running state
            self._jobs[item.job_id] = item
        return item

    def done(self, item: Unwritten | None, written: bool = True) -> None:
        """``item``'s save is over (``written``, or failed; False: skipped): stop showing it,
        unless a later state of the job replaced it."""
        if item is None:
            return
        with self._lock:
            if self._jobs.get(item.job_id) is not item:
                return
            del self._jobs[item.job_id]
            if written and item.ranked and not item.active:
                self._ended[item.job_id] = None
                while len(self._ended) > ENDED_MEMORY:
                    self._ended.popitem(last=False)

    def has(self, job_id: str) -> bool:
        """Whether a save of ``job_id`` is on its way."""
        return self._pid == os.getpid() and job_id in self._jobs

    # -- the listing's side ----------------------------------------------------------------
    def _items(self) -> list[Unwritten]:
        if self._pid != os.getpid():
            return []
        WRITER_PROCESS.take_answers()  # the saves written meanwhile leave first
        with self._lock:
            return list(self._jobs.values())

    def _winners(self, index: Index) -> dict[str, IndexEntry]:
        """The entries shown (by job id): all but those whose job the index holds ended while
        they are a queued or running state."""
        won = {}
        for item in self._items():
            entry = _entry(item)
            if entry is None:
                continue
            if item.ranked and item.active:
                row = index.get(item.job_id)
                if row is not None and row["status"] not in ACTIVE_STATUSES:
                    continue
            won[item.job_id] = entry
        return won

    def rows(self, index: Index, flt: JobFilter) -> list[dict[str, Any]]:
        """The rows ``flt`` selects from the index and these saves together, each job once,
        ordered and paged as the index alone would (``limit``, ``skip``, ``after``)."""
        won = self._winners(index)  # first: a save written after this is in the index below
        if not won:
            return index.query(flt)
        window = None if flt.limit is None else flt.limit + flt.skip
        mine = self._query(won, lambda scratch: scratch.query(replace(flt, limit=window, skip=0)))
        # the index's rows of jobs shown from here are dropped: fetch that many more
        more = None if window is None else window + len(won)
        theirs = [row for row in index.query(replace(flt, limit=more, skip=0))
                  if row["job_id"] not in won]
        merged = heapq.merge(theirs, mine, key=_sort_key(flt.order_by), reverse=flt.descending)
        return [_shown(row) if row["job_id"] in won else row
                for row in itertools.islice(merged, flt.skip, window)]

    def count(self, index: Index, flt: JobFilter) -> int:
        """How many jobs ``flt`` selects from the index and these saves together (each once)."""
        won = self._winners(index)
        total = index.count(flt)
        if not won:
            return total
        rows = [row for row in map(index.get, won) if row is not None]
        replaced = [IndexEntry.from_manifest(json.loads(row["manifest"]), row["archive"],
                                             row["size"], row["sha256"]) for row in rows]
        shadowed = _Scratch().hold({e.job_id: e for e in replaced}).count(flt) if replaced else 0
        return total - shadowed + self._query(won, lambda scratch: scratch.count(flt))

    def _query(self, won: dict[str, IndexEntry], run: Callable[[_Scratch], Any]) -> Any:
        """``run`` on an index in memory holding the entries ``won`` (kept from one listing
        to the next: only the entries that changed are written)."""
        with self._scratch_lock:
            if self._scratch is None:
                self._scratch = _Scratch()
            return run(self._scratch.hold(won))

    def ids_matching(self, index: Index, prefix: str) -> list[str]:
        """``index.ids_matching`` with the ids of these saves too."""
        theirs = ids_matching(index, prefix)  # first: it checks the prefix
        ids = list(self._jobs) if self._pid == os.getpid() else []
        mine = [job_id for job_id in ids if job_id.startswith(prefix)]
        if prefix in mine or theirs == [prefix]:
            return [prefix]
        return sorted(set(theirs).union(mine))[:AMBIGUOUS_SHOWN + 1]


def _entry(item: Unwritten) -> IndexEntry | None:
    """The index entry ``item``'s save will write, made once (None if it cannot be made: the
    writer then says why)."""
    if item.entry is None:
        try:
            record = item.make()
            if record.content_key is None:
                # the key hashes the circuits: the writer computes it, a listing goes without
                record = copy.copy(record)
                record.content_key = ""
            manifest = record.manifest()
            manifest["content_key"] = manifest["content_key"] or None
            item.entry = IndexEntry.from_manifest(
                manifest, archive_name(record.creation_date, record.job_id), 0)
        except Exception:  # noqa: BLE001 - a listing never fails on a save on its way
            return None
    return item.entry


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    """A row of a save on its way, as listings give it: ``pending``, and no size yet."""
    row["pending"] = True
    row["size"] = None
    return row


def _sort_key(order_by: str) -> Callable[[dict[str, Any]], tuple[Any, str]]:
    """The order of ``JobFilter.select`` in Python (its NULLs replaced the same way)."""
    null = SORTABLE[order_by]

    def key(row: dict[str, Any]) -> tuple[Any, str]:
        value = row[order_by]
        return (null if value is None else value), row["job_id"]

    return key


class _Scratch(SQLiteIndex):
    """An index in memory: the store's schema and SQL, none of its file."""

    def __init__(self) -> None:
        super().__init__(Path(":memory:"))
        self._conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA foreign_keys=ON")  # a row's tags go with it
        self._conn.executescript(SCHEMA)
        self._held: dict[str, IndexEntry] = {}

    def _connect(self) -> sqlite3.Connection:
        return self._conn  # one database whichever thread lists (its user holds a lock)

    def hold(self, entries: dict[str, IndexEntry]) -> _Scratch:
        """Hold exactly ``entries`` (by job id), writing only what changed since last time."""
        gone = [old.archive for job_id, old in self._held.items() if entries.get(job_id) is not old]
        new = [entry for job_id, entry in entries.items() if self._held.get(job_id) is not entry]
        if gone or new:
            self.upsert_many(new, gone)
            self._held = dict(entries)
        return self


_overlays: dict[str, Overlay] = {}
_overlays_lock = threading.Lock()


def overlay_for(path: Path) -> Overlay:
    """The overlay of the store folder ``path`` in this process (one per folder, whichever
    ``JobStore`` instances open it)."""
    folder = os.path.realpath(path)
    with _overlays_lock:
        return _overlays.setdefault(folder, Overlay())
