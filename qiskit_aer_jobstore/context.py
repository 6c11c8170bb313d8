"""Names, tags and sessions for every job run in a block, whoever runs it: ``job_context``.

Libraries call ``estimator.run(pubs)`` with no keywords, so a name or tags given to them can
never reach the store. Inside ``with job_context(job_name=..., job_tags=[...]) as ctx:`` every
job stored by this thread (and by asyncio tasks and primitive jobs started in it: the values
are ``contextvars``) gets that name and those tags, and ``ctx.session_id``. Nested blocks add
their tags; the innermost name and session win.

Also here: whether saving is suppressed, for the backend jobs a primitive job runs underneath
(it is stored once, as itself), carried the same way into the threads primitives run in.
"""

from __future__ import annotations

import contextlib
import contextvars
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .exceptions import JobStoreError
from .manifest import tag_list


@dataclass(frozen=True)
class JobContext:
    """What ``job_context`` gives the jobs stored inside it.

    Attributes:
        job_name: the name of every job in the block (None: the job's own, if any).
        job_tags: tags added to every job in the block.
        session_id: an id shared by the block's jobs (``jobs(session_id=...)`` finds them).
        reuse_results: serve the block's jobs from identical stored ones (True,
            False, ``"unseeded"``; None: as the backend or the settings say).
    """

    job_name: str | None = None
    job_tags: tuple[str, ...] = ()
    session_id: str | None = None
    reuse_results: bool | str | None = None


_EMPTY = JobContext()
_current: contextvars.ContextVar[JobContext | None] = contextvars.ContextVar(
    "qiskit_aer_jobstore_context", default=None
)
_rerun_of: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "qiskit_aer_jobstore_rerun_of", default=None
)
_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "qiskit_aer_jobstore_suppressed", default=False
)


def check_name(job_name: object) -> str | None:
    """``job_name`` if it is a string or None, else a JobStoreError."""
    if job_name is not None and not isinstance(job_name, str):
        raise JobStoreError(f"job_name must be a string, not {type(job_name).__name__}.")
    return job_name


def check_tags(job_tags: object) -> list[str]:
    """``job_tags`` as a list of strings (one string is one tag), else a JobStoreError."""
    return tag_list(job_tags)


@contextlib.contextmanager
def job_context(
    job_name: str | None = None,
    job_tags: Iterable[str] | None = None,
    session_id: str | None = None,
    reuse_results: bool | str | None = None,
) -> Iterator[JobContext]:
    """Name, tag and group every job stored inside the block (any backend, primitive or
    library).

    Args:
        job_name: the name of the block's jobs (a name given to ``run`` itself wins).
        job_tags: tags added to the block's jobs (to their own and the enclosing blocks').
        session_id: the block's session id (default: a fresh one).
        reuse_results: True to serve the block's seeded jobs (backend and primitive jobs,
            pieces of split jobs, ``resume()``) from identical stored ones, ``"unseeded"``
            for unseeded ones too, False to never (None: the enclosing block's, else the
            backend's or primitive's, else the settings').

    Yields:
        JobContext: with the ``session_id`` recorded on every job of the block.
    """
    if session_id is not None and not isinstance(session_id, str):
        raise JobStoreError(f"session_id must be a string, not {type(session_id).__name__}.")
    outer = current()
    ctx = JobContext(
        job_name=check_name(job_name) if job_name is not None else outer.job_name,
        job_tags=tuple(dict.fromkeys([*outer.job_tags, *check_tags(job_tags)])),
        session_id=session_id if session_id is not None else str(uuid.uuid4()),
        reuse_results=reuse_results if reuse_results is not None else outer.reuse_results,
    )
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def current() -> JobContext:
    """The context of the running code (empty outside any ``job_context``)."""
    return _current.get() or _EMPTY


@contextlib.contextmanager
def in_context(ctx: JobContext) -> Iterator[JobContext]:
    """Run the block with ``ctx`` as the current context (a session given by a client)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def names_for(job_name: object = None, job_tags: object = None) -> tuple[str | None, list[str],
                                                                      str | None]:
    """The name, tags and session id of a job given ``job_name`` / ``job_tags`` of its own,
    inside the current context."""
    ctx = current()
    name = check_name(job_name)
    tags = list(dict.fromkeys([*ctx.job_tags, *check_tags(job_tags)]))
    return (name if name is not None else ctx.job_name), tags, ctx.session_id


@contextlib.contextmanager
def rerunning(job_id: str) -> Iterator[None]:
    """Jobs submitted inside the block are reruns of ``job_id``: their manifests say so
    (``rerun_of``)."""
    token = _rerun_of.set(job_id)
    try:
        yield
    finally:
        _rerun_of.reset(token)


def provenance() -> dict[str, str]:
    """Manifest fields a job submitted here gets from the block it runs in: ``rerun_of``
    inside ``rerunning()``, else nothing. Read when the job is submitted, in its caller."""
    origin = _rerun_of.get()
    return {"rerun_of": origin} if origin else {}


@contextlib.contextmanager
def saving_suppressed() -> Iterator[None]:
    """Backend jobs run inside the block (in this thread, and in primitive jobs it starts) are
    not saved: a primitive job saves itself once, not the backend jobs it runs underneath."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def suppressed() -> bool:
    """Whether saving is suppressed here (inside ``saving_suppressed()``)."""
    return _suppressed.get()
