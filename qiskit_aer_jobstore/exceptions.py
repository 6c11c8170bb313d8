"""Errors raised by the job store. Every one derives from :class:`JobStoreError`."""

from qiskit.exceptions import QiskitError


class JobStoreError(QiskitError):
    """Base class for every error of qiskit-aer-jobstore."""

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
