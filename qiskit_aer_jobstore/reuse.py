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
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

from . import context, settings, stages
from .contentkey import content_key, effective_options, is_seeded
from .exceptions import JobStoreError, JobStoreWarning
from .job import StoredAerJob
from .manifest import device_name
from .record import JobRecord
from .team import remote_store
from .writer import WRITER


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
    ``result()`` the stored one, ``reused_from`` the id of the job it came from."""

    def backend(self) -> Any:
        """The backend the job was run on."""
        return self._backend


def serve(backend: Any, ctx: stages.SaveContext, circuits: Any, parameter_binds: Any,
          run_options: Mapping[str, Any]) -> ReusedAerJob | None:
    """The reused job for this run, or None to run it (reuse off, no seed, no stored match).

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
    found = lookup(ctx.store, record.content_key)
    if found is None:
        return None
    source, payload = found
    result = _as_run(payload["result"], payload.get("circuits"), record.circuits, record.job_id)
    job = ReusedAerJob(backend, record.job_id, ctx.store, keep(ctx.store, record, source, result))
    job._payload = {**payload, "job_id": record.job_id, "result": result}
    stages.advance(ctx, stages.FINAL)
    return job


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


def keep(store: Any, record: JobRecord, source: str, result: Any) -> dict[str, Any]:
    """Store ``record`` (manifest only, ``DONE``) as a reuse of job ``source`` whose result is
    ``result``, through the background writer; its manifest as the caller sees it now."""
    record.result = result
    record.extra_manifest.update(reused_from=source, payload_in=source)
    manifest = record.manifest()  # before the writer may change the record
    store.save_later(lambda: _kept(store, record, source), describe=(
        f"{record.primitive or 'Aer'} job {record.job_id} (reused from {source})"))
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
    if found is None and WRITER.pending():  # a job of this process that just ended, maybe
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
