"""A job archive's names and manifest: what a valid job id, archive name and manifest are.

The whole format is specified in ``docs/FORMAT.md``. Everything here reads untrusted input
(file names, JSON) without running code: it is what listing and indexing rely on.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Iterable
from typing import Any

from .exceptions import InvalidJobIdError, JobArchiveError, JobStoreError
from .times import parse_time

# 2: small arrays packed into one member (portable.py); archives of version 1 are still read
SCHEMA_VERSION = 2
MANIFEST = "manifest.json"
PAYLOAD = "payload.pkl"
PAYLOAD_BUFFERS = "payload_buffers.json"
SIGNATURE = "signature.json"
SUFFIX = ".zip"
MAX_MEMBER_BYTES = 64 * 1024**3
# A reader's limit against zip bombs; the writer packs arrays to stay well within it.
MAX_MEMBERS = 1024
# \Z, not $: "$" also matches before a trailing newline
_NAME_RE = re.compile(r"^(\d{8}T\d{12}Z)_(.+)\.zip\Z")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}\Z")
# The names of qiskit.providers.JobStatus (a manifest's "status"), known without importing
# Qiskit: commands that only list jobs never import it (tests/test_cli_quick.py keeps it equal).
JOB_STATUSES = ("INITIALIZING", "QUEUED", "VALIDATING", "RUNNING", "CANCELLED", "DONE", "ERROR")

_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "job_id": str,
    "backend_name": str,
    "status": str,
    "creation_date": str,
    "members": dict,
}


_FROM_BACKEND = re.compile(r"aer_simulator_from\((.+)\)\Z")


def device_name(backend: Any) -> str:
    """The name jobs are stored under: the device a simulator stands for, else its own name.

    ``AerSimulator.from_backend(FakeManilaV2())`` (named ``aer_simulator_from(fake_manila)`` by
    Aer) and a job of qiskit-ibm-runtime's local mode on ``FakeManilaV2()`` are both
    ``fake_manila``; a plain simulator is ``aer_simulator`` (or ``aer_simulator_statevector``,
    ...). Takes a backend or a name; the one convention for saving, filters and listings.
    """
    name = backend if isinstance(backend, str) else backend.name
    match = _FROM_BACKEND.match(name)
    return match.group(1) if match else name


def tag_list(job_tags: Any) -> list[str]:
    """``job_tags`` as a list of strings, in order (one string is one tag; None is none).

    Raises:
        JobStoreError: anything else.
    """
    if job_tags is None:
        return []
    tags = [job_tags] if isinstance(job_tags, str) else job_tags
    if not isinstance(tags, Iterable) or not all(isinstance(t, str) for t in tags):
        raise JobStoreError(f"Invalid job_tags {job_tags!r}: give a list of strings.")
    return list(tags)


def is_job_id(job_id: Any) -> bool:
    """Whether ``job_id`` can name one job and nothing else (no paths, globs or ``..``)."""
    return isinstance(job_id, str) and bool(JOB_ID_RE.match(job_id)) and ".." not in job_id


def validate_job_id(job_id: Any) -> str:
    """Refuse ids that could name anything but one job (paths, globs, empty, non-strings).

    Raises:
        InvalidJobIdError: saying what a job id looks like.
    """
    if not isinstance(job_id, str):
        raise InvalidJobIdError(
            f"A job id must be a string, not {type(job_id).__name__}: e.g. job.job_id()."
        )
    if not is_job_id(job_id):
        raise InvalidJobIdError(
            f"Invalid job id {job_id!r}: ids are 1-128 letters, digits, '-', '_' and '.', as "
            "returned by job.job_id()."
        )
    return job_id


def archive_name(created: _dt.datetime, job_id: str) -> str:
    """The archive's file name: UTC creation time, then the job id."""
    stamp = created.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}_{job_id}{SUFFIX}"


def job_id_from_name(name: Any) -> str | None:
    """The job id in an archive name, or None if the name is not an archive's."""
    match = _NAME_RE.match(name) if isinstance(name, str) else None
    if not match or not is_job_id(match.group(2)):
        return None
    return match.group(2)


def parse_manifest(raw: bytes, label: str) -> dict[str, Any]:
    """Parse and type-check manifest bytes."""
    try:
        manifest = json.loads(raw.decode("utf-8"))
        if b"\\ud" in raw.lower():  # a lone surrogate escape parses but cannot be stored
            json.dumps(manifest, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise JobArchiveError(
            f"{label}: manifest.json is not valid JSON ({type(exc).__name__}: {exc})."
        ) from exc
    if not isinstance(manifest, dict):
        raise JobArchiveError(f"{label}: manifest.json is not a JSON object.")
    for field, kind in _MANIFEST_TYPES.items():
        if not isinstance(manifest.get(field), kind) or isinstance(manifest.get(field), bool):
            raise JobArchiveError(
                f"{label}: manifest field {field!r} is missing or not of type "
                f"{getattr(kind, '__name__', kind)}."
            )
    if manifest["schema_version"] > SCHEMA_VERSION:
        raise JobArchiveError(
            f"{label} has manifest schema_version {manifest['schema_version']}, newer than this "
            f"qiskit-aer-jobstore understands ({SCHEMA_VERSION}). Upgrade qiskit-aer-jobstore."
        )
    if not is_job_id(manifest["job_id"]):
        raise JobArchiveError(f"{label}: manifest job_id {manifest['job_id']!r} is not valid.")
    try:
        parse_time(manifest["creation_date"]).timestamp()
    except (ValueError, OverflowError) as exc:
        raise JobArchiveError(f"{label}: creation_date is not an ISO 8601 time.") from exc
    return manifest


def check_member_names(names: list[str], label: str) -> None:
    """Refuse member names that are paths out of the archive, repeated, or too many.

    Raises:
        JobArchiveError: naming the offending member.
    """
    if len(names) > MAX_MEMBERS:
        raise JobArchiveError(f"{label} has {len(names)} members, over the limit of {MAX_MEMBERS}.")
    seen: set[str] = set()
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\0" in name:
            raise JobArchiveError(
                f"{label} has a member named {name!r}, a path outside the archive: it is not a "
                "job archive written by qiskit-aer-jobstore and was not read."
            )
        if name in seen:
            raise JobArchiveError(f"{label} holds the member {name!r} twice; it was not read.")
        seen.add(name)


def check_members(manifest: dict[str, Any], names: list[str], label: str) -> None:
    """The archive must hold exactly the manifest, the signature and the listed members."""
    listed = set(manifest["members"]) | {MANIFEST, SIGNATURE}
    missing = sorted(listed - {SIGNATURE} - set(names))
    extra = sorted(set(names) - listed)
    if missing:
        raise JobArchiveError(
            f"{label} is incomplete: the manifest lists {', '.join(missing)}, which the archive "
            "does not hold. Restore it from a copy or delete it."
        )
    if extra:
        raise JobArchiveError(
            f"{label} holds members its manifest does not list ({', '.join(extra)}): it was "
            "changed after it was saved and was not read."
        )


def declared_size(entry: Any) -> int | None:
    """The size a manifest entry declares, or None if it is not a sane one."""
    size = entry.get("size") if isinstance(entry, dict) else None
    if isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= MAX_MEMBER_BYTES:
        return size
    return None
