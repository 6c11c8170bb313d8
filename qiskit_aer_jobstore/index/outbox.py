"""The push outbox: jobs of the local index waiting to be pushed to the team store.

Not a cache like the rest of the index: it is kept when the schema is rebuilt and is not tied
to rows, so ``reindex()`` leaves it alone. A mixin of ``SQLiteIndex`` (``self._run`` runs a
function on its connection).
"""

from __future__ import annotations

import time


class Outbox:
    """The outbox table's operations, on an ``SQLiteIndex``."""

    def outbox_add(self, job_id: str, archive: str) -> None:
        self._run(
            lambda conn: conn.execute(
                "INSERT INTO outbox (job_id, archive, queued) VALUES (?, ?, ?) ON CONFLICT(job_id) "
                "DO UPDATE SET archive = excluded.archive, queued = excluded.queued",
                (job_id, archive, time.time()),
            )
        )

    def outbox_add_all(self) -> int:
        """Queue every job of the index (after an outbox was lost)."""
        return self._run(
            lambda conn: conn.execute(
                "INSERT OR IGNORE INTO outbox (job_id, archive, queued) "
                "SELECT job_id, archive, ? FROM jobs",
                (time.time(),),
            ).rowcount
        )

    def outbox(self) -> list[tuple[str, str, float]]:
        """Queued ``(job_id, archive, queued)``, oldest first."""
        return self._run(
            lambda conn: conn.execute(
                "SELECT job_id, archive, queued FROM outbox ORDER BY queued, job_id"
            ).fetchall()
        )

    def outbox_done(self, job_id: str, queued: float) -> None:
        """Take a job out of the outbox, unless it was queued again since ``queued``."""
        self._run(
            lambda conn: conn.execute(
                "DELETE FROM outbox WHERE job_id = ? AND queued = ?", (job_id, queued)
            )
        )

    def outbox_count(self) -> int:
        return self._run(lambda conn: conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
