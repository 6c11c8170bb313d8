"""Where archive bytes live: the ``Blobs`` seam. ``FolderBlobs`` keeps them as files in a
folder; the team store puts the same bytes in an S3 bucket (``s3blobs.S3Blobs``) behind the
same methods."""

from __future__ import annotations

import ctypes
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

from .exceptions import JobArchiveError, JobStoreReadOnlyError, JobStoreUnavailableError
from .manifest import SUFFIX

TEMP_PREFIX = ".tmp-"
TEMP_SUFFIX = ".part"


class Blobs(Protocol):
    """Named archive bytes: what every store's blobs offer (a folder, an S3 bucket)."""

    def put_bytes(self, name: str, data: bytes) -> int:
        """Store ``data`` under ``name`` atomically (whole or not at all); returns its size."""

    def get(self, name: str, max_bytes: int | None = None) -> bytes:
        """The bytes of ``name``, refusing more than ``max_bytes``. FileNotFoundError (local)
        or JobNotFoundError (remote) if it is gone."""

    def delete(self, name: str) -> bool:
        """Remove ``name``; False if it was already gone (where the backend can tell)."""

    def exists(self, name: str) -> bool:
        """Whether ``name`` is there."""

    def path(self, name: str) -> str:
        """Where ``name`` is, for messages: a file path or an ``s3://`` URL."""


class FolderBlobs:
    """Archives as files in one folder (mode 0700), each written to a temp file and renamed.

    Args:
        root: the folder.
        fsync: fsync each file and the folder before and after the rename (power-loss safe).
    """

    def __init__(self, root: Path, fsync: bool = True, read_only: bool = False):
        self.root = Path(root)
        self.fsync = fsync
        self.read_only = read_only

    def __repr__(self) -> str:
        return f"FolderBlobs({str(self.root)!r})"

    def ensure(self) -> None:
        """Create the folder (0700) if it is missing."""
        if self.read_only:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.root.is_dir():
                raise NotADirectoryError(f"{self.root} is not a folder")
        except FileExistsError as exc:
            raise JobStoreUnavailableError(
                f"The job store path {self.root} exists and is not a folder. Move it away or set "
                "QISKIT_AER_JOBS_DIR to another folder."
            ) from exc
        except OSError as exc:
            raise JobStoreUnavailableError(
                f"Cannot create the job store folder {self.root}: {exc}. Set QISKIT_AER_JOBS_DIR "
                "to a writable folder."
            ) from exc

    def put(self, name: str, write: Callable[[BinaryIO], None]) -> int:
        """Write a blob atomically: temp file in the same folder, (fsync), rename.

        Returns:
            The blob's size in bytes.
        """
        self.writable()
        self.ensure()
        tmp = self.root / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                write(handle)
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
                size = handle.tell()
            os.replace(tmp, self.root / name)
            if self.fsync:
                self._fsync_dir()
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return size

    def writable(self) -> None:
        """Raise JobStoreReadOnlyError if the folder is read-only (checked before a write)."""
        if self.read_only:
            raise JobStoreReadOnlyError(
                f"The job store {self.root} is read-only: jobs in it can be listed and read, "
                "but not saved, deleted, renamed or tagged. Set QISKIT_AER_JOBS_DIR to a "
                "writable folder to save jobs (import_archive copies jobs across)."
            )

    def put_bytes(self, name: str, data: bytes) -> int:
        return self.put(name, lambda handle: handle.write(data))

    def _fsync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def file(self, name: str) -> Path:
        return self.root / name

    def path(self, name: str) -> str:
        return str(self.root / name)

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def identity(self, name: str) -> tuple[int, int, int] | None:
        """Which file ``name`` is now (a replaced archive is another file), or None."""
        try:
            return file_identity(os.stat(self.root / name))
        except OSError:
            return None

    def open(self, name: str) -> BinaryIO:
        """Open a blob for reading. Raises FileNotFoundError if it is gone."""
        return open(self.root / name, "rb")

    def get(self, name: str, max_bytes: int | None = None) -> bytes:
        with self.open(name) as handle:
            data = handle.read(-1 if max_bytes is None else max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise JobArchiveError(f"{self.path(name)} is over the limit of {max_bytes} bytes.")
        return data

    def delete(self, name: str) -> bool:
        """Remove a blob; False if it was already gone."""
        self.writable()
        try:
            os.unlink(self.root / name)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._unusable(exc) from exc

    def names(self) -> list[str]:
        """Names of the archives in the folder (temp files excluded)."""
        try:
            with os.scandir(self.root) as entries:
                return [
                    e.name
                    for e in entries
                    if e.name.endswith(SUFFIX) and not e.name.startswith(".")
                ]
        except FileNotFoundError:
            return []
        except OSError as exc:  # a file in place of the folder, no permission
            raise self._unusable(exc) from exc

    def _unusable(self, exc: OSError) -> JobStoreUnavailableError:
        if self.root.exists() and not self.root.is_dir():
            return JobStoreUnavailableError(
                f"The job store path {self.root} exists and is not a folder. Move it away or set "
                "QISKIT_AER_JOBS_DIR to another folder."
            )
        return JobStoreUnavailableError(
            f"The job store folder {self.root} cannot be read ({exc}). Put the folder back or "
            "fix its permissions, or set QISKIT_AER_JOBS_DIR to another folder."
        )

    def size(self, name: str) -> int:
        return os.stat(self.root / name).st_size

    def version(self) -> int | None:
        """A token that changes whenever an archive is added or removed (the folder's mtime)."""
        try:
            return os.stat(self.root).st_mtime_ns
        except FileNotFoundError:
            return None

    def clean_temp(self, older_than: float = 3600.0) -> list[str]:
        """Remove temp files left by killed writers that are older than ``older_than`` s."""
        removed: list[str] = []
        if self.read_only:
            return removed
        now = time.time()
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return removed
        except OSError as exc:
            raise self._unusable(exc) from exc
        for entry in entries:
            if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                try:
                    if now - entry.stat().st_mtime > older_than:
                        os.unlink(entry.path)
                        removed.append(entry.name)
                except OSError:
                    pass
        return removed


def file_identity(stat: os.stat_result) -> tuple[int, int, int]:
    """A file's inode, modification time and size: changed by replacing it."""
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def sync_folder(path: Path) -> None:
    """Make everything written in the filesystem holding ``path`` durable: one ``syncfs``
    for a batch of archives (Linux), else ``os.sync``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    except (OSError, AttributeError):
        pass
    os.sync()
