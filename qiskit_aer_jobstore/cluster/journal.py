"""Each finished piece of a split job, saved the moment it lands.

Pieces live beside the store's archives, in ``<store>/pieces/<job id>/<index>.zip``: signed
archives of the same format (manifest, payload, signature), invisible to ``jobs()``. They are
what ``resume()`` reads back; they are deleted once the parent job is saved ``DONE`` with the
merged result, and with the parent by ``JobStore.delete``.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

from ..archive import PAYLOAD, ArchiveReader, dump_payload, write_archive
from ..blobs import FolderBlobs
from ..exceptions import JobStoreError
from ..record import iso, utcnow
from ..writer import JobStoreWarning
from .plan import Piece

PIECES_DIR = "pieces"


def pieces_dir(store: Any, job_id: str) -> Path:
    return Path(store.path) / PIECES_DIR / job_id


def _blobs(store: Any, job_id: str) -> FolderBlobs:
    return FolderBlobs(pieces_dir(store, job_id), fsync=getattr(store.blobs, "fsync", True))


def save_piece(
    store: Any,
    job_id: str,
    backend_name: str,
    piece: Piece,
    info: dict[str, Any],
    result: Any = None,
) -> None:
    """Write one piece's archive (atomically); ``info`` holds status, worker, times, error."""
    manifest = {
        "job_id": f"{job_id}.p{piece.index:05d}",
        "parent_job_id": job_id,
        "backend_name": backend_name,
        "status": info.get("status", "DONE"),
        "error": info.get("error"),
        "creation_date": iso(utcnow()),
        "piece": piece.to_json(),
        "info": info,
    }
    members = {PAYLOAD: dump_payload({"result": result, "error": info.get("error")})}
    key = store.key
    _blobs(store, job_id).put(
        f"{piece.index:05d}.zip", lambda handle: write_archive(handle, manifest, members, key)
    )


def read_pieces(store: Any, job_id: str, results: bool = True) -> dict[int, dict[str, Any]]:
    """The saved pieces of ``job_id``: ``{index: {"info": ..., "result": Result or None}}``.

    A piece whose archive does not verify is left out (it will be run again), with a warning.
    """
    blobs = _blobs(store, job_id)
    found: dict[int, dict[str, Any]] = {}
    key = store.key if results else None
    for name in sorted(blobs.names()):
        label = str(blobs.path(name))
        try:
            with blobs.open(name) as handle, ArchiveReader(handle, label) as reader:
                manifest = reader.manifest()
                piece = Piece.from_json(manifest["piece"])
                entry = {"info": dict(manifest.get("info") or {}), "result": None}
                if results and manifest.get("status") == "DONE":
                    entry["result"] = reader.payload(key)["result"]
        except FileNotFoundError:
            continue
        except (JobStoreError, KeyError, TypeError) as exc:
            warnings.warn(f"Ignored piece {label}: {exc}", JobStoreWarning, stacklevel=2)
            continue
        found[piece.index] = entry
    return found


def delete_pieces(store: Any, job_id: str) -> None:
    shutil.rmtree(pieces_dir(store, job_id), ignore_errors=True)
