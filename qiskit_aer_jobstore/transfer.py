"""Moving jobs between stores: export an archive, import a colleague's.

An imported archive keeps its author's signature unless the user trusts it: until then it is
read through its portable copies only (QPY, JSON, ``.npy``), never unpickled. Trusting it
re-signs its unchanged manifest with this store's key.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path

from . import signing
from .archive import ArchiveReader, adopt_payload, resign
from .core import StoreCore
from .exceptions import JobArchiveError, JobStoreError, JobStoreIntegrityError
from .index import IndexEntry
from .manifest import archive_name, validate_job_id
from .portable import has_portable
from .times import parse_time


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise JobStoreError(f"No archive to import at {path}.") from None
    except IsADirectoryError:
        raise JobStoreError(f"{path} is a folder: give the path of one job archive.") from None
    except OSError as exc:
        raise JobArchiveError(f"Cannot read {path}: {exc}.") from exc


def import_archive(store: StoreCore, path: str | Path, trust: bool = False) -> str:
    """Copy the job archive at ``path`` into ``store``; see :meth:`JobStore.import_archive`.
    Returns the job's id."""
    path = Path(path).expanduser()
    return import_bytes(store, _read_file(path), str(path), trust)


def import_bytes(store: StoreCore, data: bytes, label: str, trust: bool = False) -> str:
    """Copy a job archive held in memory (read from ``label``: a path or a URL) into
    ``store``; see :meth:`JobStore.import_archive`. Returns the job's id."""
    key = store.key
    with ArchiveReader(io.BytesIO(data), label) as reader:
        manifest = reader.manifest()
        job_id = validate_job_id(manifest["job_id"])
        for name in manifest["members"]:  # every member present and matching its checksum
            reader.check_member(name)
        signed_here = reader.is_signed_by(key)
        if not (trust or signed_here):
            _check_untrusted(reader, key)
        store.refresh()
        existing = store.index.get(job_id)
        if existing is not None:
            with store.reader(existing["archive"]) as current:
                same = current.manifest_bytes() == reader.manifest_bytes()
                current_signed = current.is_signed_by(key)
            if not same:
                raise JobStoreError(
                    f"Cannot import {label}: the store already holds a different job with id "
                    f"{job_id!r} ({store.blobs.path(existing['archive'])}). Delete that one "
                    "first (`JobStore.delete(job_id)`) if the archive should replace it."
                )
            if current_signed or not (trust or signed_here):
                return job_id
        name = archive_name(parse_time(manifest["creation_date"]), job_id)
        index = store.index
        before = store.blobs.version()
        if trust and not signed_here:
            size = store.blobs.put(name, lambda out: resign(reader, out, key))
        else:
            size = store.blobs.put_bytes(name, data)
        after = store.blobs.version()
    replaced = index.upsert(IndexEntry.from_manifest(manifest, name, size), before, after)
    if replaced is not None:
        store.blobs.delete(replaced)
    return job_id


def _check_untrusted(reader: ArchiveReader, key: bytes) -> None:
    """Refuse untrusted archives that could not be read at all, or were altered."""
    label = reader.label
    if not has_portable(reader.manifest()):
        raise JobStoreIntegrityError(
            f"Cannot import {label} untrusted: it has no portable copies (it was saved by an "
            "older qiskit-aer-jobstore), so it could only be read by unpickling. Import it with "
            "trust=True if you trust its author."
        )
    try:
        claimed = reader.signature().get("key_id")
    except JobArchiveError:
        return  # unsigned: readable through its portable copies
    if claimed == signing.key_id(key):
        raise JobStoreIntegrityError(
            f"Cannot import {label}: it claims this store's key but its signature does not "
            "match, so it was altered after it was saved."
        )


def export_archive(store: StoreCore, job_id: str, path: str | Path) -> Path:
    """Copy a job's archive to ``path``; see :meth:`JobStore.export_archive`."""
    row = store.row(job_id)
    target = Path(path).expanduser()
    if target.is_dir():
        target = target / row["archive"]
    try:
        data = store.blobs.get(row["archive"])
        if row.get("payload_in"):  # a reuse: exported whole, with the payload it reads
            source = store.blobs.get(store.row(row["payload_in"])["archive"])
            out = io.BytesIO()
            adopt_payload(io.BytesIO(data), io.BytesIO(source), out, store.key, str(target))
            data = out.getvalue()
    except FileNotFoundError:
        raise JobStoreError(f"The archive of job {job_id!r} was removed from the store.") from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise JobStoreError(f"Cannot export job {job_id!r} to {target}: {exc}.") from exc
    return target
