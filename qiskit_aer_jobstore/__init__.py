"""qiskit-aer-jobstore: every Aer simulator job saved to disk, listed and reloaded later.

>>> from qiskit_aer_jobstore import AerSimulator, execute
>>> job = execute(circuit, AerSimulator())            # saved to ~/.qiskit/aer_jobs/
>>> AerSimulator().retrieve_job(job.job_id()).result()  # in any later session

The names below are loaded on first use (PEP 562): ``aer-jobs list`` and other commands that
read only the index import neither Qiskit nor Aer, whose imports take most of their time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import wiring as _wiring
from .version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see: the same names, imported eagerly
    from .backends import (
        AerSimulator,
        QasmSimulator,
        StatevectorSimulator,
        UnitarySimulator,
        execute,
    )
    from .clients import disable, enable
    from .context import job_context
    from .diff import JobDiff, diff_jobs
    from .exceptions import (
        AmbiguousJobIdError,
        InvalidJobIdError,
        JobArchiveError,
        JobNotFoundError,
        JobStoreError,
        JobStoreIntegrityError,
        JobStoreKeyError,
        JobStoreReadOnlyError,
        JobStoreSettingsError,
        JobStoreUnavailableError,
        JobStoreWarning,
    )
    from .index import JobFilter
    from .job import StoredAerJob
    from .mixin import JobStoreMixin
    from .push import PushResult
    from .record import JobRecord
    from .store import JobStore
    from .team import TeamStore

# public name -> the module that defines it
_HOMES = {
    "AerSimulator": "backends",
    "QasmSimulator": "backends",
    "StatevectorSimulator": "backends",
    "UnitarySimulator": "backends",
    "execute": "backends",
    "disable": "clients",
    "enable": "clients",
    "job_context": "context",
    **dict.fromkeys(
        [
            "AmbiguousJobIdError",
            "InvalidJobIdError",
            "JobArchiveError",
            "JobNotFoundError",
            "JobStoreError",
            "JobStoreIntegrityError",
            "JobStoreKeyError",
            "JobStoreReadOnlyError",
            "JobStoreSettingsError",
            "JobStoreUnavailableError",
            "JobStoreWarning",
        ],
        "exceptions",
    ),
    "JobFilter": "index",
    "JobDiff": "diff",
    "diff_jobs": "diff",
    "StoredAerJob": "job",
    "JobStoreMixin": "mixin",
    "PushResult": "push",
    "JobRecord": "record",
    "JobStore": "store",
    "TeamStore": "team",
}

__all__ = [
    "AerSimulator",
    "AmbiguousJobIdError",
    "InvalidJobIdError",
    "JobArchiveError",
    "JobDiff",
    "JobFilter",
    "JobNotFoundError",
    "JobRecord",
    "JobStore",
    "JobStoreError",
    "JobStoreIntegrityError",
    "JobStoreKeyError",
    "JobStoreReadOnlyError",
    "JobStoreMixin",
    "JobStoreSettingsError",
    "JobStoreUnavailableError",
    "JobStoreWarning",
    "PushResult",
    "QasmSimulator",
    "StatevectorSimulator",
    "StoredAerJob",
    "TeamStore",
    "UnitarySimulator",
    "__version__",
    "diff_jobs",
    "disable",
    "enable",
    "execute",
    "job_context",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # once: the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


def _load_runner() -> None:
    from . import reproduce  # noqa: F401  (installs the Runner stored jobs rerun through)


_wiring.register_runner_loader(_load_runner)
