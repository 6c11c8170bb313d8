"""qiskit-aer-jobstore: every Aer simulator job saved to disk, listed and reloaded later.

>>> from qiskit_aer_jobstore import AerSimulator, execute
>>> job = execute(circuit, AerSimulator())            # saved to ~/.qiskit/aer_jobs/
>>> AerSimulator().retrieve_job(job.job_id()).result()  # in any later session
"""

__version__ = "0.1.0"

from .backends import (  # noqa: E402
    AerSimulator,
    QasmSimulator,
    StatevectorSimulator,
    UnitarySimulator,
    disable,
    enable,
    execute,
)
from .exceptions import (  # noqa: E402
    InvalidJobIdError,
    JobArchiveError,
    JobNotFoundError,
    JobStoreError,
    JobStoreIntegrityError,
    JobStoreKeyError,
    JobStoreSettingsError,
    JobStoreUnavailableError,
)
from .index import JobFilter  # noqa: E402
from .job import StoredAerJob  # noqa: E402
from .mixin import JobStoreMixin  # noqa: E402
from .push import PushResult  # noqa: E402
from .record import JobRecord  # noqa: E402
from .store import JobStore  # noqa: E402
from .team import TeamStore  # noqa: E402
from .writer import JobStoreWarning  # noqa: E402

__all__ = [
    "AerSimulator",
    "InvalidJobIdError",
    "JobArchiveError",
    "JobFilter",
    "JobNotFoundError",
    "JobRecord",
    "JobStore",
    "JobStoreError",
    "JobStoreIntegrityError",
    "JobStoreKeyError",
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
    "disable",
    "enable",
    "execute",
]
