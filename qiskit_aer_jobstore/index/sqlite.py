"""The local index: SQLite in the store folder, WAL mode, busy timeout.

The archives are the source of truth; this file is a cache of their manifests that can be
deleted at any time and is rebuilt from them. In a folder that cannot be written (a read-only
mount, a colleague's store) the index lives in memory instead: a copy of the file as last
committed, if there is one, brought up to date from the archives like the file would be.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..exceptions import JobStoreUnavailableError
from .outbox import Outbox
from .query import COLUMNS, IndexEntry, JobFilter, id_prefix_where
from .schema import SCHEMA, SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0


def _create_private(path: Path) -> None:
    """Create the database file 0600 whatever the umask (SQLite gives -wal and -shm its mode).

    Never opens an existing file: closing any descriptor of a database drops the process's
    POSIX locks on it, which corrupts SQLite's locking. The file is made under a temp name,
    closed, then linked into place.
    """
    if path.exists():
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.link(tmp, path)  # fails if another process created it first: theirs is as good
    except OSError:
        pass  # sqlite3.connect creates it, or says what is wrong
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


class SQLiteIndex(Outbox):
    """Job rows in an SQLite file, one connection per thread and process.

    Args:
        path: the database file.
        synchronous: SQLite's ``synchronous`` pragma (``FULL`` or ``NORMAL``).
        read_only: the folder cannot be written: keep the index in memory (a copy of
            ``path`` as last committed, if it is an index of this schema), never touching
            the file.
    """

    placeholder = "?"

    def __init__(self, path: Path, synchronous: str = "NORMAL", read_only: bool = False):
        self.path = Path(path)
        self.synchronous = synchronous
        self.read_only = read_only
        self._local = threading.local()
        self._memory: sqlite3.Connection | None = None  # keeps the in-memory copy alive
        self._memory_uri = f"file:aer-jobs-{secrets.token_hex(8)}?mode=memory&cache=shared"
        self._memory_lock = threading.Lock()
        self.rebuilt = False  # set when the schema was (re)created: the caller reindexes

    def __repr__(self) -> str:
        return f"SQLiteIndex({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        try:
            conn = self._open_waiting()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise self._unavailable(exc) from exc
            # a corrupt index is only a cache: move it aside and start again
            self._discard_corrupt()
            try:
                conn = self._open_waiting()
            except sqlite3.Error as exc2:
                raise self._unavailable(exc2) from exc2
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def _open_waiting(self) -> sqlite3.Connection:
        # switching a new file to WAL is refused at once, busy timeout or not, while another
        # process creates the schema: wait for it as the busy timeout would
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                return self._open()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            return self._open_memory()
        _create_private(self.path)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version != SCHEMA_VERSION:
                    # older or unknown schema: drop the cache, the store rebuilds it (the
                    # outbox is no cache: it is kept)
                    for table in ("job_tags", "job_circuits", "jobs", "meta"):
                        conn.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    self.rebuilt = True
                if conn.in_transaction:
                    conn.execute("COMMIT")
            conn.execute("SELECT COUNT(*) FROM meta").fetchone()  # detects a corrupt file early
        except BaseException:
            conn.close()
            raise
        return conn

    def _open_memory(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._memory_uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA foreign_keys=ON")
        with self._memory_lock:
            if self._memory is None:
                self._load_copy(conn)
                self._memory = conn
        return conn

    def _load_copy(self, conn: sqlite3.Connection) -> None:
        """Fill the in-memory index from the file as last committed (``immutable``: no lock
        taken, no -shm made), or create it empty for the store to fill from the archives."""
        try:
            source = sqlite3.connect(f"file:{quote(str(self.path))}?immutable=1", uri=True)
            try:
                if source.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                    source.backup(conn)
            finally:
                source.close()
        except sqlite3.Error:
            pass  # missing, corrupt or not an index: built from the archives instead
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            self.rebuilt = True
        # rows still in the file's WAL are not in the copy: have the store diff the folder
        conn.execute("DELETE FROM meta WHERE key IN ('synced_at', 'blobs_version')")

    def _discard_corrupt(self) -> None:
        if self.read_only:
            return
        for suffix in ("", "-wal", "-shm"):
            target = Path(str(self.path) + suffix)
            if target.exists():
                try:
                    os.replace(target, Path(str(self.path) + f".corrupt{suffix}"))
                except OSError:
                    pass
        self.rebuilt = True

    def _unavailable(self, exc: Exception) -> JobStoreUnavailableError:
        if not self.path.parent.is_dir():
            return JobStoreUnavailableError(
                f"The job store folder {self.path.parent} is gone or is not a folder ({exc}). "
                "Put the folder back, or set QISKIT_AER_JOBS_DIR to another one."
            )
        return JobStoreUnavailableError(
            f"The job index {self.path} cannot be used: {exc}. If another process holds it "
            "locked, retry later; if the folder is read-only, set QISKIT_AER_JOBS_DIR to a "
            "writable one."
        )

    def _run(self, fn, *args):
        """Run ``fn(conn, *args)`` turning SQLite errors into JobStoreUnavailableError."""
        conn = self._connect()
        try:
            return fn(conn, *args)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            raise self._unavailable(exc) from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local = threading.local()

    # -- writes ------------------------------------------------------------------------
    @staticmethod
    def _write_row(conn, entry: IndexEntry) -> None:
        row = entry.row
        # a job saved again under a new archive name replaces the old row
        conn.execute(
            "DELETE FROM jobs WHERE job_id = ? OR archive = ?", (row["job_id"], row["archive"])
        )
        conn.execute(
            f"INSERT INTO jobs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            [row[c] for c in COLUMNS],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO job_tags (tag, job_id) VALUES (?, ?)",
            [(t, row["job_id"]) for t in entry.tags],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO job_circuits (name, job_id) VALUES (?, ?)",
            [(n, row["job_id"]) for n in entry.circuits],
        )

    def upsert(self, entry: IndexEntry, version_before: Any = None,
               version_after: Any = None) -> str | None:
        """Insert or replace a job's row. If the recorded blobs version equals
        ``version_before``, record ``version_after``: the index then stays known in sync with
        the folder after our own write, without a rescan. Returns the archive name the job's
        row had before, if it was another (None otherwise)."""
        replaced = self.upsert_batch([entry], version_before, version_after)
        return replaced[0] if replaced else None

    def upsert_batch(self, entries: list[IndexEntry], version_before: Any = None,
                     version_after: Any = None) -> list[str]:
        """:meth:`upsert` for many entries in one transaction, in order (a later entry of a
        job replaces an earlier one). Returns the archive names rows had before, when another
        (the caller deletes them)."""

        def fn(conn):
            conn.execute("BEGIN IMMEDIATE")
            replaced: list[str] = []
            for entry in entries:
                old = conn.execute("SELECT archive FROM jobs WHERE job_id = ?",
                                   (entry.job_id,)).fetchone()
                self._write_row(conn, entry)
                if old is not None and old[0] != entry.archive:
                    replaced.append(old[0])
            _record_version(conn, version_before, version_after)
            conn.execute("COMMIT")
            return replaced

        return self._run(fn)

    def upsert_many(self, items: list[IndexEntry], gone: Iterable[str] = (),
                    exists: Callable[[str], bool] | None = None) -> None:
        """In one transaction: drop the rows of the archives ``gone``, then write ``items``.

        Args:
            items: entries to insert or replace.
            gone: archive names whose rows are removed.
            exists: if given, a row is written only if ``exists(archive)`` still holds inside
                the transaction (a concurrent delete removes the file before the row, so a
                row for a file deleted meanwhile is never resurrected).
        """
        names = list(gone)

        def fn(conn):
            conn.execute("BEGIN IMMEDIATE")
            for name in names:
                conn.execute("DELETE FROM jobs WHERE archive = ?", (name,))
            for entry in items:
                if exists is None or exists(entry.archive):
                    self._write_row(conn, entry)
            conn.execute("COMMIT")

        self._run(fn)

    def delete(self, job_ids: Iterable[str], version_before: Any = None,
               version_after: Any = None) -> int:
        ids = list(job_ids)

        def fn(conn):
            conn.execute("BEGIN IMMEDIATE")
            count = 0
            for job_id in ids:
                count += conn.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,)).rowcount
            _record_version(conn, version_before, version_after)
            conn.execute("COMMIT")
            return count

        return self._run(fn)

    def set_meta(self, key: str, value: Any) -> None:
        self._run(lambda conn: conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, None if value is None else str(value))))

    def get_meta(self, key: str) -> str | None:
        row = self._run(
            lambda conn: conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        )
        return row[0] if row else None

    # -- reads -------------------------------------------------------------------------
    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        def fn(conn):
            cur = conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

        return self._run(fn)

    def query(self, flt: JobFilter) -> list[dict[str, Any]]:
        sql, params = flt.select(self.placeholder)
        return self._rows(sql, params)

    def count(self, flt: JobFilter | None = None, at_most: int | None = None) -> int:
        sql, params = (flt or JobFilter()).count_select(self.placeholder, at_most)
        return self._run(lambda conn: conn.execute(sql, params).fetchone()[0])

    def usage(self, flt: JobFilter | None = None) -> list[dict[str, Any]]:
        """Jobs and bytes per backend and UTC month (``YYYY-MM``), for the rows ``flt`` selects."""
        where, params = (flt or JobFilter()).where(self.placeholder)
        sql = (
            "SELECT backend_name, strftime('%Y-%m', created, 'unixepoch') AS month, "
            "COUNT(*) AS jobs, COALESCE(SUM(size), 0) AS bytes FROM jobs "
            f"WHERE {where} GROUP BY backend_name, month ORDER BY backend_name, month"
        )
        return self._rows(sql, params)

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT * FROM jobs WHERE job_id = ?", [job_id])
        return rows[0] if rows else None

    def reusable(self, content_key: str, limit: int = 10) -> list[dict[str, Any]]:
        """Rows of ``DONE`` jobs with this content key whose archive holds its own payload,
        newest first: what ``reuse_results`` may serve a job from."""
        return self._rows(
            # "+status": the key's index must drive the query, not the status one (which
            # walks every DONE job: 82 ms at 100,000 jobs, benchmarks/reuse.py)
            "SELECT * FROM jobs WHERE content_key = ? AND +status = 'DONE' AND payload_in IS NULL "
            "ORDER BY created DESC, job_id DESC LIMIT ?", [content_key, limit])

    def sharing(self, job_ids: list[str]) -> list[dict[str, Any]]:
        """Rows of the jobs whose payload is in the archive of one of ``job_ids`` (reuses)."""
        if not job_ids:
            return []
        marks = ", ".join("?" * len(job_ids))
        return self._rows(f"SELECT * FROM jobs WHERE payload_in IN ({marks})", list(job_ids))

    def orphaned_reuses(self) -> list[dict[str, Any]]:
        """Rows of reuses whose payload is in a job the index no longer holds."""
        return self._rows(
            "SELECT job_id, archive, payload_in FROM jobs WHERE payload_in IS NOT NULL AND "
            "payload_in NOT IN (SELECT job_id FROM jobs)", [])

    def archives(self) -> dict[str, str]:
        """archive name -> job id, for every row."""
        return dict(
            self._run(lambda conn: conn.execute("SELECT archive, job_id FROM jobs").fetchall())
        )

    def archive_names(self) -> set[str]:
        """Every row's archive name, from the archive index (a table scan reads the manifests)."""
        rows = self._run(lambda conn: conn.execute("SELECT archive FROM jobs").fetchall())
        return {row[0] for row in rows}

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` job ids starting with ``prefix``, in order."""
        where, params = id_prefix_where(prefix, self.placeholder)
        sql = f"SELECT job_id FROM jobs WHERE {where} ORDER BY job_id LIMIT {self.placeholder}"
        return [row["job_id"] for row in self._rows(sql, [*params, limit])]

    def total_size(self) -> int:
        return self._run(
            lambda conn: conn.execute("SELECT COALESCE(SUM(size), 0) FROM jobs").fetchone()[0]
        )

    def oldest(self, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Rows oldest first with the fields retention needs."""
        sql = "SELECT job_id, archive, created, size FROM jobs ORDER BY created ASC, job_id ASC"
        return self._rows(sql + " LIMIT ? OFFSET ?", [-1 if limit is None else limit, offset])


def _record_version(conn: sqlite3.Connection, before: Any, after: Any) -> None:
    """Record the folder's version ``after`` our write if the index knew it at ``before``."""
    if after is not None and before is not None:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'blobs_version' AND value = ?",
                     (str(after), str(before)))
