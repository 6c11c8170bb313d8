"""The piece journal: each finished piece of a split job, saved the moment it lands.

Pieces live beside the store's archives, in ``<store>/pieces/<job id>/<index>.zip``: signed
archives of the same format (manifest, payload, signature), invisible to ``jobs()``. They are
what ``progress()`` counts and ``resume()`` reads back; they are deleted once the parent job
is saved ``DONE`` with the merged result, and with the parent when it is deleted or pruned.
A piece is described by its plan's JSON (``{"index": ..., ...}``); planning is the cluster's.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any, NamedTuple

from .archive import ArchiveReader, dump_payload, write_archive
from .blobs import FolderBlobs
from .exceptions import JobStoreError, JobStoreWarning
from .manifest import PAYLOAD
from .times import iso, utcnow

PIECES_DIR = "pieces"


class Progress(NamedTuple):
    """Pieces of a job: finished, in all, failed."""

    done: int
    total: int
    failed: int = 0

    def __str__(self) -> str:
        return f"{self.done}/{self.total} done" + (f", {self.failed} failed" if self.failed else "")


def pieces_dir(store_path: Path | str, job_id: str) -> Path:
    """The folder of a job's pieces in the store folder ``store_path``."""
    return Path(store_path) / PIECES_DIR / job_id


def _blobs(store: Any, job_id: str) -> FolderBlobs:
    blobs = store.blobs
    return FolderBlobs(pieces_dir(store.path, job_id), fsync=getattr(blobs, "fsync", True),
                       read_only=getattr(blobs, "read_only", False))


def save_piece(
    store: Any,
    job_id: str,
    backend_name: str,
    piece: dict[str, Any],
    info: dict[str, Any],
    result: Any = None,
) -> None:
    """Write one piece's archive (atomically); ``piece`` is its plan entry as JSON (with its
    ``index``), ``info`` holds status, worker, times, error."""
    index = piece["index"]
    manifest = {
        "job_id": f"{job_id}.p{index:05d}",
        "parent_job_id": job_id,
        "backend_name": backend_name,
        "status": info.get("status", "DONE"),
        "error": info.get("error"),
        "creation_date": iso(utcnow()),
        "piece": piece,
        "info": info,
    }
    members = {PAYLOAD: dump_payload({"result": result, "error": info.get("error")})}
    key = store.key
    _blobs(store, job_id).put(
        f"{index:05d}.zip", lambda handle: write_archive(handle, manifest, members, key)
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
                index = manifest["piece"]["index"]
                if isinstance(index, bool) or not isinstance(index, int):
                    raise TypeError(f"piece index {index!r} is not an int")
                entry = {"info": dict(manifest.get("info") or {}), "result": None}
                if results and manifest.get("status") == "DONE":
                    entry["result"] = reader.payload(key)["result"]
        except FileNotFoundError:
            continue
        except (JobStoreError, KeyError, TypeError) as exc:
            warnings.warn(f"Ignored piece {label}: {exc}", JobStoreWarning, stacklevel=2)
            continue
        found[index] = entry
    return found


def delete_pieces(store_path: Path | str, job_id: str) -> None:
    shutil.rmtree(pieces_dir(store_path, job_id), ignore_errors=True)


def sub_jobs(store: Any, job_id: str, manifest: dict[str, Any], status: str) -> list[dict]:
    """A stored job's pieces as last saved in its manifest, updated with the pieces saved
    since unless its ``status`` is ``DONE`` (a job not split has none)."""
    sweep = manifest.get("sweep")
    pieces = [dict(p) for p in sweep.get("pieces") or []] if isinstance(sweep, dict) else []
    if status != "DONE" and pieces:
        saved = read_pieces(store, job_id, results=False)
        for entry in pieces:
            if entry["index"] in saved:
                entry.update(saved[entry["index"]]["info"])
    return pieces


def progress(store: Any, job_id: str, manifest: dict[str, Any], status: str) -> Progress:
    """``Progress(done, total, failed)`` of a stored job (a job not split is one piece)."""
    pieces = sub_jobs(store, job_id, manifest, status)
    if not pieces:
        return Progress(int(status == "DONE"), 1, int(status == "ERROR"))
    states = [p.get("status") for p in pieces]
    return Progress(states.count("DONE"), len(pieces), states.count("ERROR"))
