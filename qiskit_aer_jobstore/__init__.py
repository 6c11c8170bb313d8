"""qiskit-aer-jobstore: every Aer simulator job saved to disk, listed and reloaded later.

>>> from qiskit_aer_jobstore import AerSimulator, execute
>>> job = execute(circuit, AerSimulator())            # saved to ~/.qiskit/aer_jobs/
>>> AerSimulator().retrieve_job(job.job_id()).result()  # in any later session
"""

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
from .reproduce import RUNNER as _RUNNER  # noqa: F401  (stored jobs rerun through it)
from .store import JobStore
from .team import TeamStore
from .version import __version__

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
