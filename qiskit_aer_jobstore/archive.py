"""One job <-> one zip archive: writing it, and reading it back without trust.

An archive holds ``manifest.json`` (plain JSON: the job's fields and every member's size and
SHA-256), ``signature.json`` (an HMAC-SHA256 of the manifest's bytes with the store's key),
``payload.pkl`` and the portable copies. A reader checks the MAC, then a member's SHA-256,
and only then unpickles. The whole format: ``docs/FORMAT.md``.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import zipfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from . import pickling, settings, signing
from .exceptions import JobArchiveError, JobStoreError, JobStoreIntegrityError
from .manifest import (
    MANIFEST,
    MAX_MEMBER_BYTES,
    PAYLOAD,
    PAYLOAD_BUFFERS,
    SCHEMA_VERSION,
    SIGNATURE,
    check_member_names,
    check_members,
    declared_size,
    parse_manifest,
)
from .settings import human

MAX_MANIFEST_BYTES = 16 * 1024**2
_CHUNK = 1024**2

# Members that are large and barely compressible are stored, middle-sized ones deflated, and
# small ones stored too: a deflater costs ~150 us to set up (zlib allocates its window), more
# than the few hundred bytes it would save are worth.
_DEFLATE_BELOW = 1024**2
_DEFLATE_FROM = 16 * 1024



def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dump_payload(payload: dict[str, Any]) -> bytes:
    """Pickle a payload (protocol 5, with the fixes of :mod:`.pickling`)."""
    return pickling.dumps(payload)


def write_archive(
    out: BinaryIO,
    manifest: dict[str, Any],
    members: dict[str, bytes],
    key: bytes,
) -> dict[str, Any]:
    """Write one archive to ``out``.

    Args:
        out: a writable binary file.
        manifest: the manifest fields; ``members`` and ``schema_version`` are filled in here.
        members: member name -> bytes (at least ``payload.pkl``).
        key: the signing key.

    Returns:
        The manifest as written.
    """
    manifest = dict(manifest)
    manifest["schema_version"] = SCHEMA_VERSION
    manifest["members"] = {
        name: {"size": len(data), "sha256": sha256_hex(data)} for name, data in members.items()
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, default=str).encode("utf-8")
    _write_zip(out, manifest_bytes, members, key)
    return manifest


def _write_zip(out: BinaryIO, manifest_bytes: bytes, members: dict[str, bytes],
               key: bytes) -> None:
    """The zip itself: manifest, its signature with ``key``, then the members."""
    signature = {
        "algorithm": signing.ALGORITHM,
        "key_id": signing.key_id(key),
        "mac": signing.sign(key, manifest_bytes),
    }
    # a small archive is zipped in memory and written at once: zipfile seeks back over each
    # member's header, which on a file flushes its buffer every time (syscalls per member)
    small = sum(len(data) for data in members.values()) < _DEFLATE_BELOW
    target = io.BytesIO() if small else out
    with zipfile.ZipFile(target, "w") as zf:
        zf.writestr(MANIFEST, manifest_bytes, compress_type=_method(manifest_bytes))
        zf.writestr(SIGNATURE, json.dumps(signature))
        for name, data in members.items():
            zf.writestr(name, data, compress_type=_method(data), compresslevel=1)
    if small:
        out.write(target.getbuffer())


def _method(data: bytes) -> int:
    if _DEFLATE_FROM <= len(data) < _DEFLATE_BELOW:
        return zipfile.ZIP_DEFLATED
    return zipfile.ZIP_STORED


def rewrite_archive(
    source: Any, out: BinaryIO, key: bytes, changes: dict[str, Any], label: str
) -> dict[str, Any]:
    """Copy a verified archive to ``out`` with manifest fields changed, signed anew.

    Member bytes are copied unchanged (so their checksums hold); only an archive that
    verifies with ``key`` is re-signed, so a tampered one is never laundered.

    Args:
        source: the archive (a path or a readable, seekable binary file).
        out: a writable binary file.
        key: the signing key (checks the old signature and makes the new one).
        changes: manifest fields to set (``members`` and ``schema_version`` are refused).
        label: how to name the archive in errors.

    Returns:
        The manifest as written.
    """
    if {"members", "schema_version"} & changes.keys():
        raise JobArchiveError("members and schema_version are set by the archive, not changed.")
    with ArchiveReader(source, label) as reader:
        reader.verify(key)
        manifest = dict(reader.manifest())
        members = {name: reader.member(name, key) for name in manifest["members"]}
    manifest.update(changes)
    return write_archive(out, manifest, members, key)


def adopt_payload(reuse: Any, source: Any, out: BinaryIO, key: bytes, label: str) -> dict[str, Any]:
    """Write to ``out`` the archive of a reuse (``reuse_results``) holding the members of the
    archive its payload was in (``source``), before that one is deleted. Both must verify with
    ``key``; the reuse's manifest is kept, without ``payload_in``."""
    with ArchiveReader(reuse, label) as mine, ArchiveReader(source, label) as theirs:
        mine.verify(key)
        manifest = dict(mine.manifest())
        given = theirs.manifest()
        members = {name: theirs.member(name, key) for name in given["members"]}
    manifest.pop("payload_in", None)
    for field in ("portable", "result_bytes"):
        if field in given:
            manifest[field] = given[field]
    return write_archive(out, manifest, members, key)


class ArchiveReader:
    """Reads one archive: the manifest without trust, members only after verification.

    Until the manifest is verified with this store's key, its member sizes are not trusted:
    members that declare more than ``max_job_bytes`` in all are refused before decompressing.

    Args:
        source: a path or a readable, seekable binary file.
        label: how to name the archive in errors (its path or blob name).
    """

    def __init__(self, source: Any, label: str):
        self.label = label
        self._verified = False  # the manifest's MAC verified with this store's key
        self._sizes_checked = False
        try:
            self._zip = zipfile.ZipFile(source)
        except Exception as exc:  # BadZipFile, EOFError, struct/unicode errors of a damaged file
            raise JobArchiveError(
                f"{label} is not a readable job archive ({type(exc).__name__}: {exc}). Run "
                "`JobStore.check()` to list damaged archives; move this one away or restore it "
                "from a copy."
            ) from exc
        try:
            check_member_names(self._zip.namelist(), label)
        except JobArchiveError:
            self._zip.close()
            raise
        self._manifest_bytes: bytes | None = None
        self._manifest: dict[str, Any] | None = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def _chunks(self, name: str, limit: int) -> Iterator[bytes]:
        """A member's bytes, decompressed a chunk at a time and never more than ``limit + 1``:
        refused before decompressing if its zip entry declares more than ``limit``, and as soon
        as more than ``limit`` bytes come out."""
        try:
            info = self._zip.getinfo(name)
        except KeyError:
            raise JobArchiveError(
                f"{self.label} has no member {name!r}: it is incomplete."
            ) from None
        if info.file_size > limit:
            raise JobArchiveError(
                f"{self.label}: member {name!r} declares {info.file_size} bytes, over the "
                f"limit of {limit}; refused before decompressing."
            )
        size = 0
        try:
            with self._zip.open(info) as handle:
                while chunk := handle.read(min(_CHUNK, limit + 1 - size)):
                    size += len(chunk)
                    if size > limit:
                        raise JobArchiveError(
                            f"{self.label}: member {name!r} is larger than it declares."
                        )
                    yield chunk
        except JobStoreError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError,
                NotImplementedError, zipfile.LargeZipFile) as exc:
            raise JobArchiveError(f"{self.label}: member {name!r} cannot be read ({exc}).") from exc
        except Exception as exc:  # zlib.error and friends from a corrupt stream
            raise JobArchiveError(f"{self.label}: member {name!r} is corrupt ({exc}).") from exc

    def _raw(self, name: str, limit: int) -> bytes:
        out = io.BytesIO()  # getvalue() hands over its buffer: one copy of the data in memory
        for chunk in self._chunks(name, limit):
            out.write(chunk)
        return out.getvalue()

    def manifest(self) -> dict[str, Any]:
        """The manifest, type-checked but not verified (it is plain JSON: safe to read)."""
        if self._manifest is None:
            raw = self._raw(MANIFEST, MAX_MANIFEST_BYTES)
            manifest = parse_manifest(raw, self.label)
            check_members(manifest, self._zip.namelist(), self.label)
            self._manifest = manifest
            self._manifest_bytes = raw
        return self._manifest

    def manifest_bytes(self) -> bytes:
        """The exact bytes of ``manifest.json`` (what the signature covers)."""
        self.manifest()
        return self._manifest_bytes or b""

    def signature(self) -> dict[str, Any]:
        raw = self._raw(SIGNATURE, 4096)
        try:
            sig = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise JobStoreIntegrityError(f"{self.label}: the signature is unreadable.") from exc
        if not isinstance(sig, dict):
            raise JobStoreIntegrityError(f"{self.label}: the signature is malformed.")
        return sig

    def is_signed_by(self, key: bytes) -> bool:
        """Whether the manifest's MAC verifies with ``key`` (no exception on a mismatch)."""
        self.manifest()
        try:
            sig = self.signature()
        except JobArchiveError:
            return False
        signed = signing.verify(key, self._manifest_bytes or b"", sig.get("mac"))
        self._verified = self._verified or signed
        return signed

    def verify(self, key: bytes) -> None:
        """Check the manifest's MAC with ``key``.

        Raises:
            JobStoreIntegrityError: unsigned, signed with another key, or altered.
        """
        self.manifest()
        try:
            sig = self.signature()
        except JobArchiveError as exc:
            raise JobStoreIntegrityError(
                f"{self.label} is unsigned ({exc}); it was not unpickled. Import it with "
                "`JobStore.import_archive(path, trust=True)` only if you trust where it came from."
            ) from exc
        if signing.verify(key, self._manifest_bytes or b"", sig.get("mac")):
            self._verified = True
            return
        if sig.get("key_id") != signing.key_id(key):
            raise JobStoreIntegrityError(
                f"{self.label} was signed with another key (key id {sig.get('key_id')!r}, this "
                f"store's is {signing.key_id(key)!r}); it was not unpickled. If you trust its "
                "author, import it with `JobStore.import_archive(path, trust=True)`."
            )
        raise JobStoreIntegrityError(
            f"{self.label} was altered after it was saved (its signature does not match); it "
            "was not unpickled. Restore it from a copy or delete it."
        )

    def member(self, name: str, key: bytes) -> bytes:
        """A member's bytes, after the signature and its SHA-256 are checked."""
        self.verify(key)
        return self.unverified_member(name)

    def unverified_member(self, name: str) -> bytes:
        """A member's bytes, checked against the manifest's size and SHA-256 but not against
        the signature: for data that is never unpickled (the portable copies)."""
        entry, size = self._declared(name)
        data = self._raw(name, size)
        if len(data) != size or sha256_hex(data) != entry.get("sha256"):
            self._mismatch(name)
        return data

    def check_member(self, name: str) -> None:
        """Check a member against the manifest's size and SHA-256, streamed: its bytes are
        hashed as they are decompressed, never held whole."""
        entry, size = self._declared(name)
        digest, done = hashlib.sha256(), 0
        for chunk in self._chunks(name, size):
            digest.update(chunk)
            done += len(chunk)
        if done != size or digest.hexdigest() != entry.get("sha256"):
            self._mismatch(name)

    def _declared(self, name: str) -> tuple[dict[str, Any], int]:
        """A member's manifest entry and size, once the sizes of an unverified manifest
        are known to be within ``max_job_bytes``."""
        entry = self.manifest()["members"].get(name)
        if not isinstance(entry, dict):
            raise JobArchiveError(f"{self.label}: the manifest lists no member {name!r}.")
        size = declared_size(entry)
        if size is None:
            raise JobArchiveError(f"{self.label}: member {name!r} has an invalid size.")
        if not self._verified:
            self._check_unverified_sizes()
        return entry, size

    def _check_unverified_sizes(self) -> None:
        """Refuse an archive whose unverified manifest declares members over ``max_job_bytes``
        in all: its sizes could be anything, so nothing of it is decompressed."""
        if self._sizes_checked:
            return
        total = sum(declared_size(e) or 0 for e in self.manifest()["members"].values())
        limit = settings.max_job_bytes() or MAX_MEMBER_BYTES
        if total > limit:
            raise JobArchiveError(
                f"{self.label} is not signed with this store's key and its members declare "
                f"{human(total)}, over max_job_bytes ({human(limit)}); it was refused before "
                "decompressing. If you expect a job this large from its author, raise "
                "max_job_bytes (QISKIT_AER_MAX_JOB_BYTES, or in [aer] of settings.conf)."
            )
        self._sizes_checked = True

    def _mismatch(self, name: str) -> None:
        raise JobStoreIntegrityError(
            f"{self.label}: member {name!r} does not match its signed checksum; it was not "
            "unpickled. Restore the archive from a copy or delete it."
        )

    def payload_buffers(self, key: bytes) -> list[Any]:
        """The out-of-band buffers the payload pickle refers to, verified with ``key``: named
        in order by ``payload_buffers.json``, each a whole ``.npy`` member's array or a byte
        range ``[member, offset, size]`` of a 1-D ``uint8`` one (``arrays/packed.npy``)."""
        if PAYLOAD_BUFFERS not in self.manifest()["members"]:
            return []
        try:
            entries = json.loads(self.member(PAYLOAD_BUFFERS, key))
        except ValueError:
            entries = None
        if not isinstance(entries, list) or not all(map(_is_buffer_entry, entries)):
            raise JobArchiveError(f"{self.label}: {PAYLOAD_BUFFERS} is malformed.")
        import numpy as np  # here, not at the top: only unpickling needs it, listing not

        def load(name: str) -> Any:
            return np.load(io.BytesIO(self.member(name, key)), allow_pickle=False)

        packed: dict[str, Any] = {}  # one load of a packed member for all its ranges
        buffers = []
        try:
            for entry in entries:
                if isinstance(entry, str):
                    buffers.append(np.ascontiguousarray(load(entry)))
                    continue
                name, at, size = entry
                data = packed[name] = packed[name] if name in packed else load(name)
                if data.dtype != np.uint8 or data.ndim != 1 or at + size > data.size:
                    raise ValueError(f"{entry} is not a byte range of a packed member")
                buffers.append(data[at : at + size])
        except (JobArchiveError, JobStoreIntegrityError):
            raise
        except Exception as exc:
            raise JobArchiveError(
                f"{self.label}: an array member cannot be read ({exc})."
            ) from exc
        return buffers

    def payload(self, key: bytes) -> dict[str, Any]:
        """The unpickled payload; verified first, never unpickled otherwise."""
        data = self.member(PAYLOAD, key)
        buffers = self.payload_buffers(key)  # arrays kept once, in the portable copy
        try:
            payload = pickle.loads(data, buffers=buffers)
        except Exception as exc:
            raise JobArchiveError(
                f"{self.label}: the payload verified but cannot be unpickled with the installed "
                f"packages ({type(exc).__name__}: {exc}). It may need the Qiskit version it was "
                "saved with (see its manifest's versions)."
            ) from exc
        if not isinstance(payload, dict):
            raise JobArchiveError(f"{self.label}: the payload is not a job payload.")
        return payload


def _is_buffer_entry(entry: Any) -> bool:
    """A ``payload_buffers.json`` entry: a member name, or ``[member, offset, size]``."""
    if isinstance(entry, str):
        return True
    return (
        isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in entry[1:])
    )


def resign(reader: ArchiveReader, out: BinaryIO, key: bytes) -> dict[str, Any]:
    """Copy an archive to ``out`` with its manifest signed by ``key`` (for importing an archive
    the user trusts). Every member is checked against the manifest first; the manifest bytes
    are kept exactly, so the new signature covers the same content.

    Returns:
        The manifest.
    """
    manifest = reader.manifest()
    members = {name: reader.unverified_member(name) for name in manifest["members"]}
    _write_zip(out, reader.manifest_bytes(), members, key)
    return manifest


def read_manifest_bytes(data: bytes, label: str) -> dict[str, Any]:
    """The manifest of an archive given as bytes."""
    with ArchiveReader(io.BytesIO(data), label) as reader:
        return reader.manifest()


def count_foreign(blobs: Any, names: list[str], key: bytes) -> int:
    """How many of the archives ``names`` in ``blobs`` another key than ``key`` signed
    (unreadable ones are not counted)."""
    mine, foreign = signing.key_id(key), 0
    for name in names:
        try:
            with blobs.open(name) as handle, ArchiveReader(handle, name) as reader:
                foreign += reader.signature().get("key_id") != mine
        except (OSError, JobStoreError):
            continue
    return foreign
