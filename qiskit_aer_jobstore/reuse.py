"""``reuse_results``: never simulate the same job twice.

With reuse on, ``backend.run`` first looks in the local store for a ``DONE`` job with the same
content key (``contentkey``: circuits, binds, options, noise model, simulator, versions and
seed). If one is found whose archive verifies with this store's key and which kept its result,
the caller gets a job that is ``DONE`` at once with that result; nothing is simulated. The
reuse is stored as its own job (its own id, name, tags and session) whose archive holds only
its manifest: ``reused_from`` says where the result came from, ``payload_in`` where it is read
(``handover`` copies it over before that job is deleted).

Jobs without a seed are never reused unless reuse is ``"unseeded"``: an unseeded job would
draw other samples if it ran again.
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from . import context, settings, stages
from .contentkey import content_key, effective_options, is_seeded
from .exceptions import JobStoreError, JobStoreWarning
from .handoff import saves_pending
from .job import StoredAerJob
from .manifest import device_name
from .record import JobRecord
from .team import remote_store


def mode(backend: Any, run_value: Any) -> str | None:
    """Whether a run reuses results (None: no; ``"seeded"`` or ``"unseeded"``): the run
    option, else the backend's option, else the enclosing ``job_context``, else the settings."""
    for value, where in (
        (run_value, "the run option reuse_results"),
        (getattr(backend, "_jobstore_reuse_results", None), "the backend option reuse_results"),
        (context.current().reuse_results, "job_context(reuse_results=...)"),
    ):
        if value is not None:
            return settings.parse_reuse(value, where)
    return settings.reuse_results_default()


class ReusedAerJob(StoredAerJob):
    """The job ``run`` returns when it reused a stored result: ``DONE`` at once, its
    ``result()`` the stored one, ``reused_from`` the id of the job it came from.

    The stored result is read and verified when first asked for (``result()``, ...); if it
    does not verify then (its archive was damaged or altered since), the job runs for real
    under the same id, with a JobStoreWarning, and ``reused_from`` becomes None.
    """

    _pending: tuple[JobRecord, str, str, Callable[[str], Any]] | None = None
    _settling = threading.Lock()

    def backend(self) -> Any:
        """The backend the job was run on."""
        return self._backend

    def _data(self) -> dict[str, Any]:
        if self._pending is not None:
            with self._settling:
                if self._pending is not None:
                    self._payload = self._settle(*self._pending)
                    self._pending = None
        return super()._data()

    def _settle(self, record: JobRecord, source: str, archive: str,
                run_instead: Callable[[str], Any]) -> dict[str, Any]:
        try:
            payload, result = _verified(self._store, archive, record)
        except (JobStoreError, OSError) as exc:
            warnings.warn(
                f"Aer job {self._job_id} was to reuse the result of job {source}, which does "
                f"not verify ({exc}): the job runs instead.", JobStoreWarning, stacklevel=5)
            self._manifest = {k: v for k, v in self._manifest.items() if k != "payload_in"}
            self._manifest["reused_from"] = None
            try:
                result = run_instead(self._job_id)  # stored under this id, as a job that ran
            except Exception as failed:
                self._manifest.update(status="ERROR", error=f"{type(failed).__name__}: {failed}")
                raise
            return {**record.payload(), "result": result}
        return {**payload, "job_id": self._job_id, "result": result}


def serve(backend: Any, ctx: stages.SaveContext, circuits: Any, parameter_binds: Any,
          run_options: Mapping[str, Any],
          run_instead: Callable[[str], Any]) -> ReusedAerJob | None:
    """The reused job for this run, or None to run it (reuse off, no seed, no stored match).
    The stored job's signature is checked now, its payload when the result is asked for;
    ``run_instead(job_id)`` runs the job for real if that payload does not verify then.

    Sets ``ctx.content_key`` when it looks the job up, so a job that runs is stored with it.
    """
    if ctx.reuse is None:
        return None
    backend_options = dict(backend.options.__dict__)
    if ctx.reuse != settings.REUSE_UNSEEDED and not is_seeded(
            effective_options(run_options, backend_options)):
        return None
    record = JobRecord.from_backend(
        backend, job_id=str(uuid.uuid4()), circuits=list(circuits),
        parameter_binds=parameter_binds, run_options=dict(run_options), status="DONE",
        creation_date=ctx.creation_date, job_name=ctx.job_name, job_tags=ctx.job_tags,
        session_id=ctx.session_id, manifest_only=True)
    record.backend_options = backend_options
    record.content_key = ctx.content_key = content_key(
        record.circuits, parameter_binds, run_options, backend_options, record.backend_class,
        record.backend_name)
    row = _signed_row(ctx.store, record.content_key)
    if row is not None:  # the payload is read when the result is asked for (or by the writer)
        source = row["job_id"]
        for name in _FROM_SOURCE:  # what the manifest would take from the result
            record.extra_manifest[name] = _manifest(row).get(name)
        job = ReusedAerJob(backend, record.job_id, ctx.store,
                           keep(ctx.store, record, source, None, row["archive"]))
        job._pending = (record, source, row["archive"], run_instead)
        job._settling = threading.Lock()
    else:
        found = _from_team(ctx.store, record.content_key) if settings.remote_configured() \
            else None
        if found is None:
            return None
        source, payload = found
        result = _as_run(payload["result"], payload.get("circuits"), record.circuits,
                         record.job_id)
        job = ReusedAerJob(backend, record.job_id, ctx.store,
                           keep(ctx.store, record, source, result))
        job._payload = {**payload, "job_id": record.job_id, "result": result}
    stages.advance(ctx, stages.FINAL)
    return job


# Manifest fields a reuse takes from the job it reuses (a manifest takes them from the result).
_FROM_SOURCE = ("shots", "method", "seed_simulator", "success", "time_taken")


def _verified(store: Any, archive: str, record: JobRecord) -> tuple[dict[str, Any], Any]:
    """The verified payload of ``archive`` and its result as ``record``'s run's (the record's
    result is set to it too, so the writer need not read it again)."""
    payload = store.read_payload(archive)  # signature and checksums first
    result = payload.get("result")
    if result is None or not getattr(result, "success", True):
        raise JobStoreError("it holds no successful result")
    result = _as_run(result, payload.get("circuits"), record.circuits, record.job_id)
    record.result = result
    return payload, result


def _signed_row(store: Any, key: str) -> dict[str, Any] | None:
    """The index row of the newest local job that can serve ``key`` and whose manifest is
    signed by this store's key (its payload is not read)."""
    for attempt in range(2):
        for row in store.index.reusable(key):
            if _manifest(row).get("result_dropped"):
                continue
            try:
                if store.signed_here(row["archive"]):
                    return row
            except (JobStoreError, OSError):
                continue  # damaged or gone
        if attempt or not saves_pending():  # a job of this process that just ended, maybe
            return None
        store.flush()  # (only then: a hit does not wait for the writer's backlog)
    return None


def piece_result(store: Any, backend: Any, circuits: list[Any], parameter_binds: Any,
                 run_options: Mapping[str, Any], job_id: str,
                 unset: tuple[str, ...] = ()) -> tuple[str, Any] | None:
    """``(job id, result as this run's)`` of a stored job identical to one piece of a split
    job (its circuits, binds and options, the piece's seed and shots included, run on
    ``backend`` with its options ``unset`` set to None, as pieces are), or None."""
    backend_options = {k: None if k in unset else v for k, v in backend.options.__dict__.items()}
    key = content_key(circuits, parameter_binds, run_options, backend_options,
                      f"{type(backend).__module__}.{type(backend).__qualname__}",
                      device_name(backend))
    found = lookup(store, key)
    if found is None:
        return None
    source, payload = found
    return source, _as_run(payload["result"], payload.get("circuits"), list(circuits), job_id)


def keep(store: Any, record: JobRecord, source: str, result: Any,
         archive: str | None = None) -> dict[str, Any]:
    """Store ``record`` (manifest only, ``DONE``) as a reuse of job ``source`` whose result is
    ``result``, through the background writer; its manifest as the caller sees it now. With
    ``result`` None, the writer reads it from ``archive`` first, and stores nothing if that
    does not verify (the job then runs for real when its result is asked for)."""
    record.result = result
    record.extra_manifest.update(reused_from=source, payload_in=source)
    manifest = record.manifest()  # before the writer may change the record

    def verifies() -> bool:
        if record.result is not None:  # read already (the caller asked for the result)
            return True
        try:
            _verified(store, archive, record)
        except (JobStoreError, OSError):
            return False
        return True

    store.save_later(lambda: _kept(store, record, source),
                     current=None if result is not None else verifies, shown=record,
                     describe=f"{record.primitive or 'Aer'} job {record.job_id} "
                              f"(reused from {source})")
    return manifest


def _kept(store: Any, record: JobRecord, source: str) -> JobRecord:
    """In the writer: the reuse's record, holding its payload itself if the job it reads
    was deleted since (its hand-over found no reuse to copy the payload into)."""
    if store.index.get(source) is None:
        record.manifest_only = False
        record.extra_manifest.pop("payload_in", None)
    return record


def _as_run(result: Any, stored: Any, circuits: list[Any], job_id: str) -> Any:
    """A copy of a stored result as this run's: its job id, and the names of this run's
    circuits in the headers (unnamed circuits are named anew in every process)."""
    result = copy.copy(result)
    result.job_id = job_id
    names = {a.name: b.name for a, b in zip(stored or [], circuits) if a.name != b.name}
    if names:
        experiments = []
        for experiment in result.results:
            header = getattr(experiment, "header", None)
            if isinstance(header, dict) and header.get("name") in names:
                experiment = copy.copy(experiment)
                experiment.header = {**header, "name": names[header["name"]]}
            experiments.append(experiment)
        result.results = experiments
    return result


def lookup(store: Any, key: str | None) -> tuple[str, dict[str, Any]] | None:
    """``(job id, verified payload)`` of the newest stored job that can serve ``key``."""
    if key is None:
        return None
    found = _usable(store, key)
    # a job of this process that just ended, maybe
    if found is None and saves_pending():
        store.flush()  # (only then: a hit does not wait for the writer's backlog)
        found = _usable(store, key)
    if found is None and settings.remote_configured():
        found = _from_team(store, key)
    return found


def _from_team(store: Any, key: str) -> tuple[str, dict[str, Any]] | None:
    """After a local miss: a teammate's identical ``DONE`` job, pulled into the local store
    (as ``retrieve_job`` does) and served if it verifies with the team key; a team store
    that cannot be reached is a warning, never a failed run."""
    try:
        team = remote_store()
        for row in team.index.reusable(key) if team is not None else []:
            if store.index.get(row["job_id"]) is not None:
                continue  # here already, and refused above (another key, damaged, ...)
            if _manifest(row).get("result_dropped"):
                continue
            try:
                store.pull(row["job_id"])
            except JobStoreError:
                continue  # tampered, or no longer there
            found = _usable(store, key)
            if found is not None:
                return found
    except JobStoreError as exc:
        warnings.warn(f"The team store was not searched for a result to reuse: {exc}",
                      JobStoreWarning, stacklevel=5)
    return None


def _manifest(row: Mapping[str, Any]) -> dict[str, Any]:
    manifest = row["manifest"]
    return json.loads(manifest) if isinstance(manifest, (str, bytes)) else dict(manifest)


def _usable(store: Any, key: str) -> tuple[str, dict[str, Any]] | None:
    for row in store.index.reusable(key):
        if _manifest(row).get("result_dropped"):
            continue
        try:
            payload = store.read_payload(row["archive"])  # signature and checksums first
        except JobStoreError:
            continue  # another key (an untrusted import), tampered, damaged or gone
        result = payload.get("result")  # a Result says if it succeeded; a PrimitiveResult
        if result is not None and getattr(result, "success", True):  # is stored only if so
            return row["job_id"], payload
    return None
