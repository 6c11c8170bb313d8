"""``JobStore``: the store as users know it, the core with the services on top.

Saving a job also enforces ``max_job_bytes`` and ``max_store_bytes`` (``retention``) and queues
it for the team store (``push``); listing also settles jobs whose process died
(``lifecycle``). The core (``core.StoreCore``) does the reading and writing underneath and
calls none of these.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import health, lifecycle, push, retention, settings, transfer
from .core import StoreCore
from .exceptions import JobStoreError, JobStoreUnavailableError, JobStoreWarning
from .handoff import WRITER_PROCESS
from .index import JobFilter, only_match
from .listing import JobList, row_summary
from .manifest import archive_name, validate_job_id
from .overlay import overlay_for
from .pieces import delete_pieces, save_piece
from .push import PushResult
from .record import ACTIVE_STATUSES, JobRecord, simulated_seconds, wire_args
from .team import require_remote
from .writer import WRITER

if TYPE_CHECKING:
    from .job import StoredAerJob

_defaults: dict[tuple[str, str], JobStore] = {}
_named: dict[tuple[str | None, str | None, str | None], JobStore] = {}
# How many ended jobs a store remembers having written, to refuse a late queued or running
# state (it comes at most a few jobs after the end it lost the race to).
ENDED_MEMORY = 4096
_defaults_lock = threading.Lock()


class JobStore(StoreCore):
    """A store of Aer jobs: one signed zip archive per job and an SQL index over them.

    Args:
        path: the store folder (default: ``QISKIT_AER_JOBS_DIR``, ``jobs_dir`` in settings.conf,
            or ``~/.qiskit/aer_jobs``).
        key_path: the signing key file (default: ``QISKIT_AER_JOBS_KEY`` or
            ``~/.qiskit/aer_jobs.key``).
    """

    def __init__(self, path: str | Path | None = None, key_path: str | Path | None = None,
                 check_settings: bool = True):
        super().__init__(path, key_path, check_settings)
        self._ended_ids: OrderedDict[str, None] = OrderedDict()
        self._made: Path | None = None  # the folder, once made for the writer's entry
        self.overlay = overlay_for(self.path)  # saves on their way, which listings show

    @classmethod
    def default(cls) -> JobStore:
        """The store the current settings name (one instance per folder and key)."""
        names = settings.store_names()
        store = _named.get(names)  # on every run: no paths built when the names are known
        if store is None:
            key = (str(settings.jobs_dir()), str(settings.key_file()))
            with _defaults_lock:
                store = _defaults.setdefault(key, cls(*key))
                _named[names] = store
        return store

    # -- saving ------------------------------------------------------------------------
    def save(self, record: JobRecord) -> dict[str, Any]:
        """Write one job now: archive first, index row second; then queue it for the team
        store (if one is configured). Returns its manifest."""
        name = archive_name(record.creation_date, record.job_id)
        members = record.members()  # first: it adds the portable entry to the manifest
        manifest, members = retention.cap_job(record, record.manifest(), members)
        written = self.put_archive(name, manifest, members)
        if not record.manifest_only:
            push.queue(self, record.job_id, name)  # no-op without a team store
        return written

    def save_now(self, record: JobRecord) -> None:
        """Save ``record``, then keep the store under ``max_store_bytes`` (in a burst of the
        writer process, once its rows are in the index: ``saver``)."""
        self.save(record)
        if self.rows_later is None:
            self.enforce_cap(record.job_id)

    def enforce_cap(self, keep: str) -> None:
        """Keep the store under ``max_store_bytes``, never deleting the job ``keep``."""
        try:
            retention.enforce_store_cap(self, keep=keep)
        except JobStoreError as exc:  # the job is saved: say only that the cap was not applied
            warnings.warn(
                f"Aer job {keep} was saved, but max_store_bytes was not enforced: {exc}",
                JobStoreWarning,
                stacklevel=1,
            )

    def save_later(
        self,
        record: JobRecord | Callable[[], JobRecord],
        current: Callable[[], bool] | None = None,
        describe: str | None = None,
        shown: JobRecord | None = None,
    ) -> None:
        """Hand a job over for saving (to the writer process, else the background thread);
        failures become JobStoreWarnings.

        Args:
            record: the job to write, or a function that makes it in the background thread
                (only if it is still ``current`` by then), which then hands it over.
            current: if given, the record is written only if this still returns True when the
                writer reaches it (a queued or running state the job has since left is skipped).
            describe: how to name the job in a warning (default: by its id).
            shown: what listings in this process show of a ``record`` given as a function
                until it is written (default: nothing until the function made it).
        """
        if describe is None:
            describe = f"Aer job {getattr(record, 'job_id', '')}".rstrip()
        if callable(record) or current is not None:
            entry = self.overlay.add(shown if callable(record) else record)

            def task() -> None:
                try:
                    if current is None or current():
                        made = record() if callable(record) else record
                        self.hand_over("save", made, describe=describe, here=True)
                finally:
                    self.overlay.done(entry, written=False)  # (a hand-over shows its own)

            WRITER.submit(task, describe)
            return
        self.hand_over("save", record, describe=describe)

    def hand_over(self, op: str, *args: Any, describe: str, here: bool = False) -> None:
        """Hand one save (``op``, see :meth:`run_save`) to the writer process; if it cannot
        take it, run it in the background thread (``here``: on this thread, which is it).
        Until it is written, listings in this process show the job (``overlay``)."""
        entry = None if op == "piece" else self.overlay.add(args[0], ranked=op == "save")

        def run_here() -> None:
            try:
                self.run_save(op, *args)
            finally:
                self.overlay.done(entry)

        written = None if entry is None else (lambda: self.overlay.done(entry))
        # a finished job may wait for a quiet moment; pieces and running states go at once
        may_wait = op == "save" and args[0].status not in ACTIVE_STATUSES
        try:
            message = (str(self.path), str(self.key_path), op, wire_args(args))
            simulated = simulated_seconds(args[0].result) if may_wait else None
            if WRITER_PROCESS.send(message, run_here, describe, WRITER.submit, may_wait=may_wait,
                                   simulated=simulated, pushed=lambda: push.PUSHER.notify(self),
                                   folder=self._folder(), written=written):
                return
        except BaseException:  # e.g. a broken setting: the job is not on its way, not listed
            self.overlay.done(entry)
            raise
        if here:
            run_here()
        else:
            WRITER.submit(run_here, describe)

    def _folder(self) -> Path | None:
        """The store's folder, made if missing (once: the writer process's entry goes in it),
        or None if it cannot be."""
        if self._made is None:
            try:
                self.blobs.ensure()
                self._made = self.path
            except (OSError, JobStoreError):
                return None
        return self._made

    def run_save(self, op: str, *args: Any) -> None:
        """Carry out one save handed over: ``save`` (a JobRecord), ``sweep`` (a split job's
        record; its pieces go once it is DONE) or ``piece`` (one piece of a split job)."""
        if op == "save":
            (record,) = args
            if record.status in ACTIVE_STATUSES and self._ended(record.job_id):
                return  # a queued or running state that arrived after the job's end
            self.save_now(record)
            if record.status not in ACTIVE_STATUSES:
                self._ended_ids[record.job_id] = None
                while len(self._ended_ids) > ENDED_MEMORY:
                    self._ended_ids.popitem(last=False)
        elif op == "sweep":
            (record,) = args
            self.save(record)
            if record.status == "DONE":
                delete_pieces(self.path, record.job_id)
        elif op == "piece":
            save_piece(self, *args)
        else:
            raise JobStoreError(f"Unknown save {op!r}.")

    def _ended(self, job_id: str) -> bool:
        # the ids written here first: an index row may lag its archive (a locked index)
        if job_id in self._ended_ids:
            return True
        row = self.index.get(job_id)
        return row is not None and row.get("status") not in ACTIVE_STATUSES

    # -- reading -----------------------------------------------------------------------
    def refresh(self, flush: bool = True) -> None:
        """Bring the index in line with the archives (``flush``: this process's saves first),
        and settle jobs left ``QUEUED`` or ``RUNNING`` by a process that died."""
        super().refresh(flush)
        if not self.read_only:
            lifecycle.settle_interrupted(self)

    def row(self, job_id: str) -> dict[str, Any]:
        """A job's index row, as written: if this process's save of the job is on its way,
        once it is written (see ``StoreCore.row``)."""
        if self.overlay.has(validate_job_id(job_id)):
            self.flush()
        return super().row(job_id)

    def get(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """A ``StoredAerJob`` for ``job_id`` (its payload is read when first needed); a job
        this process handed over for saving, once it is written (this waits for it).

        Args:
            job_id: the job's id.
            backend: the backend to report as the job's.
            trusted: False to read the job from its portable copies only, never unpickling
                (jobs not signed by this store's key are always read that way).
        """
        return _stored_job().from_row(self.row(job_id), self, backend, trusted=trusted)

    def resolve(self, prefix: str) -> str:
        """The id of the one stored job whose id is, or starts with, ``prefix`` (as git
        resolves a shortened commit id).

        Raises:
            InvalidJobIdError: ``prefix`` is not well formed.
            AmbiguousJobIdError: several jobs' ids start with it (listed in ``matches``).
            JobNotFoundError: no job's id starts with it.
        """
        matches = self.overlay.ids_matching(self.index, prefix)
        if not matches:
            self.refresh(flush=False)
            matches = self.overlay.ids_matching(self.index, prefix)
        found = only_match(prefix, matches, f"the job store {self.path}")
        if found is None:
            self.row(prefix)  # raises: a damaged archive's error, or not found
        return found  # type: ignore[return-value]

    def list(self, backend: Any = None, **filters: Any) -> JobList:
        """Stored jobs matching ``filters`` (see :class:`~.index.JobFilter`), newest first.
        Built from the index alone: no archive is opened. The list shows as a table in Jupyter."""
        stored_job = _stored_job()
        return JobList(stored_job.from_row(row, self, backend) for row in self.rows(**filters))

    def rows(self, **filters: Any) -> list[dict[str, Any]]:
        """The index rows of the stored jobs matching ``filters`` (see ``list``), newest first:
        ``job_id``, ``manifest`` (JSON text), ``archive``, ``size``. Builds no job. Jobs this
        process handed over for saving are there without waiting for the writer, as they
        were handed over (``pending`` True, ``size`` None until written)."""
        flt = JobFilter.from_kwargs(**filters)
        self.refresh(flush=False)
        return self.overlay.rows(self.index, flt)

    def count(self, **filters: Any) -> int:
        """How many jobs ``filters`` select, this process's saves on their way included
        (paging filters are ignored)."""
        flt = JobFilter.from_kwargs(**{k: v for k, v in filters.items()
                                        if k not in ("limit", "skip")})
        self.refresh(flush=False)
        return self.overlay.count(self.index, flt)

    def summaries(self, **filters: Any) -> list[dict[str, Any]]:
        """The summary rows (as ``aer-jobs list`` and ``JobList.to_dataframe`` show them) of
        the stored jobs matching ``filters`` (see ``list``): from the index alone, importing
        no Qiskit."""
        return [row_summary(row) for row in self.rows(**filters)]

    def to_dataframe(self, **filters: Any) -> Any:
        """Stored jobs matching ``filters`` (all of them unless ``limit`` is given) as a pandas
        DataFrame indexed by job id (needs the ``pandas`` extra)."""
        filters.setdefault("limit", None)
        return self.list(**filters).to_dataframe()

    def update_manifest(self, job_id: str, **changes: Any) -> dict[str, Any]:
        """Change manifest fields of a stored job (its name, tags): the archive is rewritten
        atomically with the same payload bytes and a new signature, then its index row.

        Returns:
            The new manifest.

        Raises:
            JobStoreIntegrityError: the archive does not verify (it is not re-signed).
            JobStoreReadOnlyError: the store cannot be written.
        """
        return self.rewrite_manifest(self.row(job_id)["archive"], changes)

    # -- moving jobs between stores ----------------------------------------------------
    def import_archive(self, path: str | Path, trust: bool = False) -> StoredAerJob:
        """Copy a job archive (a colleague's, or an export) into this store.

        Args:
            path: the archive file.
            trust: False (default): keep its author's signature; the job is then read from
                its portable copies only, never unpickled. True: re-sign it with this store's
                key, so it is read whole (pickle included). Only trust archives whose author
                you trust. Importing an already imported archive with ``trust=True`` re-signs
                it in place (the store's own copy, ``job.archive_path``, can be given).

        Returns:
            StoredAerJob: the imported job.

        Raises:
            JobArchiveError: the file is not a readable job archive.
            JobStoreIntegrityError: a member does not match the manifest, or (untrusted) the
                archive has no portable copies or claims this store's key but was altered.
            JobStoreError: the store holds a different job with the same id.
        """
        return self.get(transfer.import_archive(self, path, trust=trust))

    def export_archive(self, job_id: str, path: str | Path) -> Path:
        """Copy a job's archive to ``path`` (a file, or a folder to put it in) to share it.

        Returns:
            The path written.
        """
        return transfer.export_archive(self, job_id, path)

    # -- looking after the store -------------------------------------------------------
    def check(
        self, fix: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> health.Problems:
        """Look for problems: archives that do not open or verify, temp files left by killed
        writers, index rows whose archive is gone. Nothing is unpickled. An archive signed with
        another key (or unsigned) whose portable copies verify, such as an untrusted import,
        is not a problem: its job id is listed in the result's ``untrusted`` instead.

        Args:
            fix: also remove the stale temp files and bring the index in line with the folder
                (damaged archives are reported, never deleted).
            progress: called with ``(archives checked, archives in all)`` after each archive.

        Returns:
            Problems: a list of ``(file name, reason)`` for each problem found, empty if the
            store is healthy; its ``untrusted`` attribute lists the ids of the jobs read from
            their portable copies only.
        """
        return health.check(self, fix=fix, progress=progress)

    def prune(
        self,
        older_than: Any = None,
        keep_last: int | None = None,
        max_bytes: int | str | None = None,
        dry_run: bool = False,
    ) -> list[str]:
        """Delete jobs by age, count or total size; each rule given removes the jobs it names.

        Args:
            older_than: a ``datetime.timedelta`` or seconds: delete jobs created longer ago.
            keep_last: delete all but the newest ``keep_last`` jobs.
            max_bytes: then delete the oldest jobs left until the store holds at most this
                many bytes (an int or a size such as ``"500MB"``).
            dry_run: only say which jobs would go.

        Returns:
            The ids of the deleted jobs, oldest first.

        Raises:
            JobStoreError: no rule given, or a bad value.
        """
        return retention.prune(self, older_than, keep_last, max_bytes, dry_run)

    # -- the team store ----------------------------------------------------------------
    def push(self, all_jobs: bool = False) -> PushResult:
        """Deliver the jobs queued for the team store (those whose automatic push failed, or
        all saved jobs with ``push_jobs = manual``).

        Args:
            all_jobs: queue every local job first (after a lost outbox; jobs the team store
                already has are not uploaded again).

        Returns:
            PushResult: what was pushed and what stays queued.

        Raises:
            JobStoreSettingsError: no team store is configured.
            JobStoreUnavailableError: the team store cannot be reached (jobs stay queued).
        """
        team = require_remote()
        self.refresh()
        if all_jobs:
            self.index.outbox_add_all()
        result = push.deliver(self, team)
        if result.error is not None:
            raise JobStoreUnavailableError(f"{result.remaining} job(s) stay queued: {result.error}")
        return result

    def queued(self) -> list[str]:
        """Ids of the jobs waiting to be pushed to the team store, oldest first."""
        self.flush()
        return [job_id for job_id, _, _ in self.index.outbox()]

    def pull(self, job_id: str, backend: Any = None, trusted: bool = True) -> StoredAerJob:
        """Copy a job from the team store into this store. The download is checked against
        its team index row (size, SHA-256, job id) before it is kept; an archive not signed
        with the team key is kept as an untrusted import: read through its portable copies
        only, never unpickled (see ``import_archive``).

        Raises:
            JobNotFoundError: the team store has no such job.
            JobStoreIntegrityError: the download does not match its row, or claims the team
                key but was altered, or is foreign and has no portable copies.
        """
        team = require_remote()
        name, data = team.fetch(validate_job_id(job_id), verify=False)
        transfer.import_bytes(self, data, team.blobs.path(name))
        job = self.get(job_id, backend, trusted=trusted)
        job.location = "both"
        return job



def _stored_job() -> type[StoredAerJob]:
    # Qiskit's import (StoredAerJob is a JobV1) is paid only when a job is made, not to list
    from .job import StoredAerJob

    return StoredAerJob
