"""Errors raised by the job store. Every one derives from :class:`JobStoreError`.

``JobStoreError`` is a ``QiskitError`` in every process that can name ``QiskitError``, without
this module importing Qiskit (whose import takes most of a listing's time): until
``qiskit.exceptions`` is loaded, a stand-in with ``QiskitError``'s constructor takes its place
as the base, and the moment Qiskit loads it (imported before or after this module),
``QiskitError`` becomes the base.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

QISKIT_ERRORS = "qiskit.exceptions"


class _QiskitErrorStandIn(Exception):
    """``QiskitError``'s place until Qiskit is loaded: the same constructor and ``message``."""

    def __init__(self, *message: str):
        super().__init__(" ".join(message))
        self.message = " ".join(message)


class JobStoreError(_QiskitErrorStandIn):
    """Base class for every error of qiskit-aer-jobstore (a ``QiskitError``; see above)."""

    def __str__(self) -> str:
        # QiskitError shows repr(message): quotes and escapes in warnings built from it
        return self.message


class JobNotFoundError(JobStoreError):
    """No stored job has the requested id."""


class InvalidJobIdError(JobStoreError, ValueError):
    """A job id that is not well formed (path separators, glob characters, empty, not a string)."""


class AmbiguousJobIdError(InvalidJobIdError):
    """A job id prefix that several stored jobs start with; ``matches`` holds their ids."""

    def __init__(self, message: str, matches: list[str]):
        super().__init__(message)
        self.matches = matches


class JobStoreIntegrityError(JobStoreError):
    """An archive's signature or checksums do not verify: it was not unpickled."""


class JobArchiveError(JobStoreError):
    """An archive is damaged or not a job archive (truncated, not a zip, bad manifest, ...)."""


class JobStoreSettingsError(JobStoreError, ValueError):
    """A setting (environment variable or ``settings.conf``) has an invalid value."""


class JobStoreKeyError(JobStoreError):
    """The signing key cannot be created, read, or is unsafe (readable by others)."""


class JobStoreUnavailableError(JobStoreError):
    """The store folder or its index cannot be used (not writable, locked, disk full, ...)."""


class JobStoreReadOnlyError(JobStoreUnavailableError):
    """The store folder cannot be written (a read-only mount, a colleague's folder): it can
    be listed and read, but jobs cannot be saved, deleted, renamed or tagged in it."""


class JobStoreWarning(UserWarning):
    """A job was not saved (or not fully), or the store needs attention. Says why."""


def _adopt_qiskit_error(module: ModuleType) -> None:
    """Make ``QiskitError`` (of the loaded ``qiskit.exceptions``) the base of JobStoreError."""
    if JobStoreError.__bases__ == (_QiskitErrorStandIn,):
        JobStoreError.__bases__ = (module.QiskitError,)


class _LoaderThenAdopt:  # an importlib Loader (not its ABC: importlib.abc is slow to import)
    """``qiskit.exceptions``'s own loader, then :func:`_adopt_qiskit_error`."""

    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _adopt_qiskit_error(module)

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename, ... of the real one
        return getattr(self._loader, name)


class _WatchForQiskitErrors:  # a meta path finder (sys.meta_path)
    """Finds nothing itself: wraps the loader of ``qiskit.exceptions`` when Qiskit loads it."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != QISKIT_ERRORS:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # once: the other finders find the real module
        for finder in sys.meta_path:
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _LoaderThenAdopt(spec.loader)
                return spec
        return None


if QISKIT_ERRORS in sys.modules:
    _adopt_qiskit_error(sys.modules[QISKIT_ERRORS])
else:
    sys.meta_path.insert(0, _WatchForQiskitErrors())
