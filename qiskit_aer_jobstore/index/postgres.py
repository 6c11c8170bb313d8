"""The team index: the same job rows and queries as the local SQLite index, in PostgreSQL.

psycopg 3 with a small connection pool; the schema is created on first use and versioned in
``schema_migrations``, each migration applied once under an advisory lock, so that many
machines connecting at the same moment agree on it. psycopg is imported only here, only when a
team store is used.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..exceptions import JobStoreSettingsError, JobStoreUnavailableError
from .query import COLUMNS, IndexEntry, JobFilter, id_prefix_where

CONNECT_TIMEOUT_S = 3
_MIGRATION_LOCK = 0x51A3_0B5  # pg_advisory_xact_lock id for schema changes

# Each entry moves the schema one version up; never edit one that shipped, add a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        job_id TEXT PRIMARY KEY,
        archive TEXT NOT NULL UNIQUE,
        backend_name TEXT NOT NULL,
        status TEXT NOT NULL,
        job_name TEXT,
        created DOUBLE PRECISION NOT NULL,
        ended DOUBLE PRECISION,
        method TEXT,
        num_qubits INTEGER,
        shots BIGINT,
        num_circuits INTEGER,
        primitive TEXT,
        size BIGINT NOT NULL DEFAULT 0,
        sha256 TEXT,
        manifest TEXT NOT NULL,
        pushed_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX jobs_created ON jobs (created, job_id);
    CREATE INDEX jobs_backend_created ON jobs (backend_name, created, job_id);
    CREATE INDEX jobs_status_created ON jobs (status, created);
    CREATE INDEX jobs_name ON jobs (job_name);
    CREATE TABLE job_tags (
        tag TEXT NOT NULL,
        job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        PRIMARY KEY (tag, job_id)
    );
    CREATE INDEX job_tags_job ON job_tags (job_id);
    CREATE TABLE job_circuits (
        name TEXT NOT NULL,
        job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        PRIMARY KEY (name, job_id)
    );
    CREATE INDEX job_circuits_job ON job_circuits (job_id);
    """,
    # 2: sessions and clients; backend_name is the device's name (aer_simulator_from(x) is x)
    r"""
    ALTER TABLE jobs ADD COLUMN session_id TEXT;
    ALTER TABLE jobs ADD COLUMN client TEXT;
    CREATE INDEX jobs_session ON jobs (session_id, created, job_id);
    UPDATE jobs SET backend_name = substring(backend_name FROM '^aer_simulator_from\((.+)\)$')
        WHERE backend_name ~ '^aer_simulator_from\(.+\)$';
    """,
    # 3: reuse_results: the content key, where a reuse came from and where its payload is
    """
    ALTER TABLE jobs ADD COLUMN content_key TEXT;
    ALTER TABLE jobs ADD COLUMN reused_from TEXT;
    ALTER TABLE jobs ADD COLUMN payload_in TEXT;
    CREATE INDEX jobs_content_key ON jobs (content_key, created);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for reprs, logs and errors)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc
    if parts.password is not None:
        user = parts.username or ""
        host = netloc.rsplit("@", 1)[1]
        netloc = f"{user}:***@{host}"
    query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


class PostgresIndex:
    """Job rows in PostgreSQL: the team's :class:`~.Index` (the other is SQLite).

    Args:
        url: a ``postgresql://`` URL (a password in it never appears in reprs or errors).
        connect_timeout: seconds to wait for the server before giving up.
    """

    placeholder = "%s"

    def __init__(self, url: str, connect_timeout: float = CONNECT_TIMEOUT_S):
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            raise JobStoreSettingsError(
                f"Invalid team index URL {redact_url(str(url))!r}: give a postgresql:// URL, "
                "e.g. postgresql://user:password@host:5432/aer_jobs."
            )
        self.url = url
        self.connect_timeout = connect_timeout
        self._secret = urlsplit(url).password
        self._pool = None
        self._lock = threading.Lock()
        self._ready = False

    def __repr__(self) -> str:
        return f"PostgresIndex({redact_url(self.url)!r})"

    # -- connections -------------------------------------------------------------------
    def scrub(self, text: str) -> str:
        """``text`` without the password (drivers sometimes echo connection strings)."""
        text = text.replace(self.url, redact_url(self.url))
        return text.replace(self._secret, "***") if self._secret else text

    def _unavailable(self, exc: BaseException) -> JobStoreUnavailableError:
        detail = self.scrub(str(exc).strip() or type(exc).__name__).splitlines()[0]
        return JobStoreUnavailableError(
            f"The team index {redact_url(self.url)} cannot be used: {detail}. Check that the "
            "server is up and QISKIT_AER_JOBS_REMOTE_INDEX is right; queued jobs go out with "
            "the next JobStore().push()."
        )

    def _get_pool(self):
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    # optional (the [team] extra): imported only when a team store is used
                    import psycopg_pool

                    self._pool = psycopg_pool.ConnectionPool(
                        self.url,
                        min_size=0,
                        max_size=4,
                        open=True,
                        timeout=self.connect_timeout,
                        kwargs=self._connect_kwargs(),
                        check=psycopg_pool.ConnectionPool.check_connection,
                        name="qiskit-aer-jobstore",
                        num_workers=1,
                    )
        return self._pool

    def _run(self, fn, *args):
        """Run ``fn(conn, *args)`` in a transaction; driver errors become
        JobStoreUnavailableError with no secret in the message."""
        # optional (the [team] extra): imported only when a team store is used
        import psycopg
        import psycopg_pool

        try:
            if not self._ready:
                # first use (or after a failure): a direct connection, whose error says why
                # (the pool's would only say it timed out), then the schema check
                with psycopg.connect(self.url, **self._connect_kwargs()) as conn:
                    self._migrate(conn)
            with self._get_pool().connection() as conn:
                with conn.transaction():
                    return fn(conn, *args)
        except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as exc:
            if isinstance(exc, (psycopg.OperationalError, psycopg_pool.PoolTimeout)):
                self._ready = False
                self._discard_pool(0)  # else its backoff would delay the server's comeback
            if isinstance(exc, psycopg_pool.PoolTimeout):
                exc = self._why_not(exc)
            raise self._unavailable(exc) from None

    def _why_not(self, timeout: BaseException) -> BaseException:
        """The pool only says it timed out: one direct connection says why."""
        # optional (the [team] extra)
        import psycopg

        try:
            psycopg.connect(self.url, **self._connect_kwargs()).close()
        except psycopg.Error as exc:
            return exc
        return timeout

    def _connect_kwargs(self) -> dict[str, Any]:
        return {"connect_timeout": max(1, int(self.connect_timeout) - 1)}

    def _discard_pool(self, timeout: float = 1.0) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=timeout)

    def _migrate(self, conn) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            if done and max(done) > SCHEMA_VERSION:
                raise JobStoreUnavailableError(
                    f"The team index {redact_url(self.url)} has schema version {max(done)}, newer "
                    f"than this qiskit-aer-jobstore knows ({SCHEMA_VERSION}): upgrade it."
                )
            for version, sql in enumerate(MIGRATIONS, start=1):
                if version not in done:
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations VALUES (%s)", (version,))
        self._ready = True

    def schema_version(self) -> int:
        return self._run(
            lambda c: c.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
            ).fetchone()[0]
        )

    def close(self) -> None:
        self._discard_pool(1.0)

    # -- writes ------------------------------------------------------------------------
    def upsert(
        self, entry: IndexEntry, version_before: Any = None, version_after: Any = None
    ) -> str | None:
        """Insert a job row, or replace it if its archive's SHA-256 differs (the versions
        are the folder's, for the local index: a bucket has none).

        Returns:
            The archive name the row had before, if it was replaced (None otherwise).
        """
        row, tags, circuits = entry.row, entry.tags, entry.circuits

        def fn(conn):
            old = conn.execute(
                "SELECT archive, sha256 FROM jobs WHERE job_id = %s FOR UPDATE", (row["job_id"],)
            ).fetchone()
            if old is not None and old[1] == row["sha256"]:
                return None  # already there: a push is idempotent
            if old is not None:
                conn.execute("DELETE FROM jobs WHERE job_id = %s", (row["job_id"],))
            inserted = conn.execute(
                f"INSERT INTO jobs ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT DO NOTHING",
                [row[c] for c in COLUMNS],
            ).rowcount
            if inserted:
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO job_tags (tag, job_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        [(t, row["job_id"]) for t in tags],
                    )
                    cur.executemany(
                        "INSERT INTO job_circuits (name, job_id) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING",
                        [(n, row["job_id"]) for n in circuits],
                    )
            return old[0] if old is not None and old[0] != row["archive"] else None

        return self._run(fn)

    def delete(
        self, job_ids: Iterable[str], version_before: Any = None, version_after: Any = None
    ) -> int:
        ids = list(job_ids)
        return self._run(
            lambda c: c.execute("DELETE FROM jobs WHERE job_id = ANY(%s)", (ids,)).rowcount
        )

    # -- reads -------------------------------------------------------------------------
    def _rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        def fn(conn):
            cur = conn.execute(sql, params)
            names = [d.name for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

        return self._run(fn)

    def query(self, flt: JobFilter) -> list[dict[str, Any]]:
        if flt.limit is None and flt.skip:
            flt = dataclasses.replace(flt, limit=2**62)  # SQLite's LIMIT -1 is PostgreSQL's ALL
        sql, params = flt.select(self.placeholder, ", ".join(COLUMNS))
        return self._rows(sql, params)

    def explain(self, flt: JobFilter) -> str:
        """PostgreSQL's plan for ``flt`` (EXPLAIN ANALYZE), for benchmarks and tuning."""
        sql, params = flt.select(self.placeholder, ", ".join(COLUMNS))
        rows = self._run(lambda c: c.execute("EXPLAIN ANALYZE " + sql, params).fetchall())
        return "\n".join(r[0] for r in rows)

    def count(self, flt: JobFilter | None = None, at_most: int | None = None) -> int:
        sql, params = (flt or JobFilter()).count_select(self.placeholder, at_most)
        return self._run(lambda c: c.execute(sql, params).fetchone()[0])

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE job_id = %s", [job_id])
        return rows[0] if rows else None

    def reusable(self, content_key: str, limit: int = 10) -> list[dict[str, Any]]:
        """Rows of ``DONE`` jobs with this content key holding their own payload, newest
        first (the ``jobs_content_key`` index drives it): what a teammate's job may serve."""
        return self._rows(
            f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE content_key = %s AND status = 'DONE' "
            "AND payload_in IS NULL ORDER BY created DESC, job_id DESC LIMIT %s",
            [content_key, limit])

    def sha256_of(self, job_id: str) -> str | None:
        row = self._run(
            lambda c: c.execute("SELECT sha256 FROM jobs WHERE job_id = %s", (job_id,)).fetchone()
        )
        return row[0] if row else None

    def ids_with_prefix(self, prefix: str, limit: int) -> list[str]:
        """Up to ``limit`` job ids starting with ``prefix``, in order."""
        where, params = id_prefix_where(prefix, self.placeholder)
        sql = f"SELECT job_id FROM jobs WHERE {where} ORDER BY job_id LIMIT {self.placeholder}"
        return [row["job_id"] for row in self._rows(sql, [*params, limit])]

    def total_size(self) -> int:
        return self._run(
            lambda c: c.execute("SELECT COALESCE(SUM(size), 0) FROM jobs").fetchone()[0]
        )
