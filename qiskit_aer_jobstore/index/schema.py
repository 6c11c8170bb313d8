"""The local index's tables (SQLite): one row per job, its tags and circuit names, the
folder version and other notes (``meta``), and the team push's outbox."""

# 2: paging indexes end with job_id; 3: the push outbox; 4: session_id and client, and
# backend_name is the device's name (aer_simulator_from(x) is x); 5: content_key, reused_from
# and payload_in (reuse_results)
SCHEMA_VERSION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    archive TEXT NOT NULL,
    backend_name TEXT NOT NULL,
    status TEXT NOT NULL,
    job_name TEXT,
    created REAL NOT NULL,
    ended REAL,
    method TEXT,
    num_qubits INTEGER,
    shots INTEGER,
    num_circuits INTEGER,
    primitive TEXT,
    session_id TEXT,
    client TEXT,
    content_key TEXT,
    reused_from TEXT,
    payload_in TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    manifest TEXT NOT NULL
);
-- paging orders by (created, job_id): indexes end with both so LIMIT stops early, and size is
-- there so that the store total and retention read the index, not the manifests
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created, job_id, size);
CREATE INDEX IF NOT EXISTS jobs_backend_created ON jobs (backend_name, created, job_id);
CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created, job_id);
CREATE INDEX IF NOT EXISTS jobs_name ON jobs (job_name);
CREATE INDEX IF NOT EXISTS jobs_session ON jobs (session_id, created, job_id);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_archive ON jobs (archive);
CREATE INDEX IF NOT EXISTS jobs_content_key ON jobs (content_key, created);
CREATE INDEX IF NOT EXISTS jobs_payload_in ON jobs (payload_in) WHERE payload_in IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_tags (
    tag TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    PRIMARY KEY (tag, job_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_tags_job ON job_tags (job_id);
CREATE TABLE IF NOT EXISTS job_circuits (
    name TEXT NOT NULL,
    job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    PRIMARY KEY (name, job_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_circuits_job ON job_circuits (job_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    job_id TEXT PRIMARY KEY,
    archive TEXT NOT NULL,
    queued REAL NOT NULL
);
"""
