"""Portable copies of a job: readable without pickle, and after an upgrade of Qiskit.

Every archive carries, beside ``payload.pkl``:

``circuits.qpy``
    The circuits in QPY. If QPY cannot serialise them, the manifest's ``portable`` entry says
    why (``circuits_error``) and the save carries on.
``result.json``
    ``{"format": 2, "result": ..., "error": ..., "run_options": ..., "backend_options": ...,
    "parameter_binds": ...}``: the ``Result`` (its ``to_dict()``) or ``PrimitiveResult``
    encoded by :mod:`.portable_json`, every array replaced by a reference to an
    ``arrays/<n>.npy`` member (a large array) or to its bytes in ``arrays/packed.npy`` (all
    the others, so that a job of any number of arrays fits in an archive a reader accepts).
``payload_buffers.json``
    Large arrays are stored once: ``payload.pkl`` refers to their ``.npy`` members (pickle
    protocol 5 out-of-band buffers), named in order here (a member name, or
    ``["arrays/packed.npy", offset, size]`` for a large array packed past the member budget).

All of them are listed with their size and SHA-256 in the signed manifest. A job whose archive
is not signed by this store's key (a colleague's, an untrusted import) or that is retrieved
with ``trusted=False`` is read from these members only: nothing is unpickled.
"""

from __future__ import annotations

import io
import json
import pickle
from typing import Any

from . import pickling, signing
from .archive import ArchiveReader
from .exceptions import JobArchiveError, JobStoreIntegrityError
from .manifest import MAX_MEMBERS, PAYLOAD, PAYLOAD_BUFFERS

FORMAT = 2  # 2: small arrays packed into one member (1: one member per array, still read)
# Arrays of their own member at most: the rest of MAX_MEMBERS is room for the fixed members.
OWN_ARRAY_MEMBERS = MAX_MEMBERS - 64
CIRCUITS = "circuits.qpy"
RESULT = "result.json"


def _qpy_bytes(circuits: list[Any]) -> bytes:
    if len(circuits) == 1:  # one circuit's QPY is the QPY of the list holding it
        known = pickling.qpy_of(circuits[0])
        if known is not None:
            return known
    # QPY costs import time; only writing and reading circuits need it
    from qiskit import qpy

    buffer = io.BytesIO()
    qpy.dump(circuits, buffer)
    return buffer.getvalue()


def archive_members(payload: dict[str, Any]) -> tuple[dict[str, bytes], dict]:
    """The members of a job's archive, ``payload.pkl`` and the portable copies, and the
    manifest's ``portable`` entry.

    Arrays are stored once: the pickle refers to the ``.npy`` members of the portable copy
    for its large contiguous arrays (pickle protocol 5 out-of-band buffers, their member names
    listed in order in ``payload_buffers.json``) instead of holding a second copy. Small
    arrays are packed into one member: an archive never holds more members than
    ``MAX_MEMBERS``, however many arrays the job has.
    Never raises for content it cannot convert: that is recorded in the entry instead.
    """
    members: dict[str, bytes] = {}
    info: dict[str, Any] = {"format": FORMAT, "circuits": None, "circuits_error": None}
    circuits = payload.get("circuits") or []
    try:
        members[CIRCUITS] = _qpy_bytes(circuits)
        info["circuits"] = CIRCUITS
    except Exception as exc:  # QPY cannot hold every circuit; the pickle still does
        info["circuits_error"] = f"{type(exc).__name__}: {exc}"[:500]
    from .portable_json import Encoder  # imports Qiskit: writing needs it, listing not

    encoder = Encoder(own_members=OWN_ARRAY_MEMBERS)
    document = {
        "format": FORMAT,
        "result": encoder.encode(payload.get("result")),
        "error": payload.get("error"),
        "run_options": encoder.encode(payload.get("run_options") or {}),
        "backend_options": encoder.encode(payload.get("backend_options") or {}),
        "parameter_binds": encoder.encode(payload.get("parameter_binds")),
    }
    members[RESULT] = json.dumps(document, separators=(",", ":")).encode("utf-8")
    members[PAYLOAD], shared = _pickle_sharing(payload, encoder.buffers)
    if shared:  # a member, not a manifest field: the payload must not depend on write order
        members[PAYLOAD_BUFFERS] = json.dumps(shared).encode("utf-8")
    members.update(encoder.array_members())
    info["result"] = RESULT
    info["arrays"] = encoder.count
    info["unsupported_types"] = sorted(encoder.unsupported)
    return members, info


def _pickle_sharing(payload: dict[str, Any], stored: dict[int, Any]) -> tuple[bytes, list]:
    """Pickle ``payload``, leaving out the buffers of the arrays whose bytes are stored in
    the portable copy (``stored``: id of the array -> ``payload_buffers.json`` entry)."""
    shared: list = []

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            with buffer.raw() as view:
                entry = stored.get(id(view.obj))
        except (BufferError, ValueError):
            entry = None
        if entry is None:
            return True  # kept in the pickle
        shared.append(entry)
        return False

    return pickling.dumps(payload, buffer_callback=out_of_band), shared


def has_portable(manifest: dict[str, Any]) -> bool:
    """Whether the archive carries portable copies of its result."""
    members = manifest.get("members")
    return isinstance(members, dict) and RESULT in members


def use_pickle(reader: ArchiveReader, key: bytes) -> bool:
    """Whether to read the pickled payload (whose check then raises if it fails) rather than
    the portable copies: yes if the archive is signed by ``key``, or claims to be (then it
    was altered), or has no portable copies to fall back on."""
    if reader.is_signed_by(key) or not has_portable(reader.manifest()):
        return True
    try:
        claimed = reader.signature().get("key_id")
    except JobArchiveError:
        return False  # unsigned
    return claimed == signing.key_id(key)


def read_job(reader: ArchiveReader, key: bytes, trusted: bool = True) -> dict[str, Any]:
    """An archive's payload, the one way every store reads a job: unpickled if ``trusted``
    and signed by ``key`` (or claiming to be: then its check raises), else built from its
    portable copies only (``payload["portable"]`` is then True)."""
    if trusted and use_pickle(reader, key):
        return reader.payload(key)
    return read_portable(reader)


def read_portable(reader: ArchiveReader) -> dict[str, Any]:
    """A payload-like dict built only from the portable members (nothing is unpickled).

    Each member is checked against the manifest's SHA-256 (which catches damage; the manifest
    itself is not verified with this store's key, which is why nothing here runs code).

    Raises:
        JobArchiveError: the archive has no portable copies, or they cannot be read.
        JobStoreIntegrityError: a member does not match the manifest.
    """
    manifest = reader.manifest()
    if not has_portable(manifest):
        raise JobStoreIntegrityError(
            f"{reader.label} is not signed by this store's key and has no portable copies "
            "(it was saved by an older qiskit-aer-jobstore); it was not unpickled. Import it "
            "with `JobStore.import_archive(path, trust=True)` if you trust its author."
        )
    from .portable_json import Decoder  # imports Qiskit: reading needs it, listing not

    decoder = Decoder(reader.unverified_member)
    try:
        document = json.loads(reader.unverified_member(RESULT))
        if not isinstance(document, dict):
            raise ValueError("result.json is not a JSON object")
        payload = {
            key: decoder.decode(document.get(key))
            for key in ("result", "run_options", "backend_options", "parameter_binds")
        }
    except (JobArchiveError, JobStoreIntegrityError):
        raise
    except Exception as exc:  # anything malformed in untrusted JSON or .npy data
        raise JobArchiveError(
            f"{reader.label}: the portable copy of the result cannot be read "
            f"({type(exc).__name__}: {exc})."
        ) from exc
    payload["job_id"] = manifest["job_id"]
    payload["error"] = document.get("error") if isinstance(document.get("error"), str) else None
    payload["run_options"] = (
        payload["run_options"] if isinstance(payload["run_options"], dict) else {}
    )
    payload["backend_options"] = (
        payload["backend_options"] if isinstance(payload["backend_options"], dict) else {}
    )
    payload["portable"] = True
    manifest_info = manifest.get("portable") if isinstance(manifest.get("portable"), dict) else {}
    if CIRCUITS in manifest["members"]:  # checked against the manifest now, parsed when asked
        return PortablePayload(payload, reader.unverified_member(CIRCUITS), reader.label)
    why = manifest_info.get("circuits_error") or "the archive has no QPY copy"
    payload["circuits"] = None
    payload["circuits_error"] = f"{reader.label}: the circuits were not saved as QPY ({why})."
    return payload


class PortablePayload(dict):
    """A payload read from portable copies whose circuits are loaded from QPY only when
    first asked for (``payload["circuits"]``): reading a result never parses QPY, the most
    exposed decoder of an untrusted archive (see SECURITY.md)."""

    _LAZY = ("circuits", "circuits_error")

    def __init__(self, payload: dict[str, Any], qpy_bytes: bytes, label: str):
        super().__init__(payload)
        self._qpy_bytes = qpy_bytes
        self._label = label

    @property
    def qpy_bytes(self) -> bytes:
        """The QPY copy of the circuits, checked against the manifest but not parsed (for a
        reader that parses it where a crash costs nothing: ``aer-jobs ui``'s child process)."""
        return self._qpy_bytes

    def __missing__(self, key: str) -> Any:
        if key not in self._LAZY:
            raise KeyError(key)
        self._load()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._LAZY and not dict.__contains__(self, key):
            self._load()
        return super().get(key, default)

    def _load(self) -> None:
        # QPY costs import time; only reading circuits needs it
        from qiskit import qpy

        try:
            circuits, error = list(qpy.load(io.BytesIO(self._qpy_bytes))), None
        except Exception as exc:  # a newer QPY version or damaged data: say so, keep the rest
            circuits, error = None, (
                f"{self._label}: the QPY copy of the circuits cannot be loaded with the "
                f"installed Qiskit ({type(exc).__name__}: {exc})."
            )
        self.update(circuits=circuits, circuits_error=error)
