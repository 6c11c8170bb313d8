"""Build job archives by hand (valid, damaged, signed with any key) and plant them in a store."""

from __future__ import annotations

import datetime as dt
import io
import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

from qiskit_aer_jobstore.archive import write_archive
from qiskit_aer_jobstore.manifest import MANIFEST, PAYLOAD, SIGNATURE, archive_name

CREATED = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


class CreatesFile:
    """A pickle that creates ``path`` when it is loaded: proof that something was unpickled."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def manifest(job_id: str = "planted-1", **changes: Any) -> dict[str, Any]:
    base = {
        "job_id": job_id,
        "backend_name": "aer_simulator",
        "status": "DONE",
        "creation_date": CREATED.isoformat(),
        "job_tags": [],
        "circuit_names": [],
    }
    base.update(changes)
    return base


def archive(key: bytes, job_id: str = "planted-1", payload: Any = None, **changes: Any) -> bytes:
    """A well-formed archive signed with ``key`` (its payload a pickle of ``payload``)."""
    out = io.BytesIO()
    data = pickle.dumps(payload if payload is not None else {"job_id": job_id})
    write_archive(out, manifest(job_id, **changes), {PAYLOAD: data}, key)
    return out.getvalue()


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def rezip(items: dict[str, bytes]) -> bytes:
    """A zip holding ``items`` verbatim (names are not checked: they may be paths)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in items.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def resign(items: dict[str, bytes], key: bytes, manifest_bytes: bytes) -> dict[str, bytes]:
    """``items`` with ``manifest_bytes`` as manifest, signed correctly with ``key``."""
    from qiskit_aer_jobstore import signing

    signature = {
        "algorithm": signing.ALGORITHM,
        "key_id": signing.key_id(key),
        "mac": signing.sign(key, manifest_bytes),
    }
    return {**items, MANIFEST: manifest_bytes, SIGNATURE: json.dumps(signature).encode()}


def declare_size(data: bytes, member: str, size: int) -> bytes:
    """Patch the central directory so that ``member`` declares ``size`` uncompressed bytes."""
    head = b"PK\x01\x02"
    pos = data.find(head)
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + name_len] == member.encode():
            return data[: pos + 24] + struct.pack("<I", size) + data[pos + 28 :]
        pos = data.find(head, pos + 4)
    raise KeyError(member)


def plant(folder: Path, data: bytes, job_id: str = "planted-1") -> Path:
    """Put archive bytes in a store folder under the name the store would give them."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / archive_name(CREATED, job_id)
    path.write_bytes(data)
    return path
