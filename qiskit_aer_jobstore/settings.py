"""Settings, resolved in one place.

Each setting is looked up, in order, in an environment variable, in the ``[aer]`` section of
Qiskit's ``settings.conf`` (``~/.qiskit/settings.conf``, or the file named by
``QISKIT_SETTINGS``), then falls back to its documented default:

- save jobs: ``QISKIT_AER_SAVE_JOBS`` / ``save_jobs``, default ``true``;
- reuse results: ``QISKIT_AER_REUSE_RESULTS`` / ``reuse_results``, a yes/no or ``unseeded``,
  default ``false``;
- store folder: ``QISKIT_AER_JOBS_DIR`` / ``jobs_dir``, default ``~/.qiskit/aer_jobs``;
- signing key file: ``QISKIT_AER_JOBS_KEY`` / ``jobs_key``, default ``~/.qiskit/aer_jobs.key``;
- durability: ``QISKIT_AER_JOBS_DURABILITY`` / ``durability``, ``full`` or ``normal``, default
  ``full``;
- writer: ``QISKIT_AER_JOBS_WRITER`` / ``writer``, ``process`` or ``thread``, default
  ``process``;
- store size cap: ``QISKIT_AER_MAX_STORE_BYTES`` / ``max_store_bytes``, default ``2GiB``;
- job size cap: ``QISKIT_AER_MAX_JOB_BYTES`` / ``max_job_bytes``, default ``256MiB``;
- team index: ``QISKIT_AER_JOBS_REMOTE_INDEX`` / ``remote_index``, a ``postgresql://`` URL,
  default none;
- team archives: ``QISKIT_AER_JOBS_REMOTE_BLOBS`` / ``remote_blobs``, ``s3://bucket/prefix``,
  default none;
- pushing to the team store: ``QISKIT_AER_PUSH_JOBS`` / ``push_jobs``, ``auto`` or ``manual``,
  default ``auto``.
"""

from __future__ import annotations

import configparser
import datetime as _dt
import os
import re
from pathlib import Path

from .exceptions import JobStoreSettingsError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
DURABILITY_LEVELS = ("full", "normal")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

_conf_cache: dict[str, tuple[float, dict[str, str]]] = {}


def qiskit_dir() -> Path:
    """``~/.qiskit``: where Qiskit keeps its user files."""
    return Path(os.path.expanduser("~")) / ".qiskit"


def settings_file() -> Path:
    """The ``settings.conf`` Qiskit reads (``QISKIT_SETTINGS`` overrides the default)."""
    return Path(_settings_path())


def _settings_path() -> str:
    # A string, not a Path: _aer_section runs for every job on the caller's path.
    return os.getenv("QISKIT_SETTINGS") or os.path.join(
        os.path.expanduser("~"), ".qiskit", "settings.conf"
    )


def _aer_section() -> dict[str, str]:
    """The ``[aer]`` section of settings.conf, re-read only when the file changes."""
    path = _settings_path()
    try:
        mtime = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise JobStoreSettingsError(
            f"Cannot read the Qiskit settings file {path}: {exc}. Fix its permissions, or point "
            "QISKIT_SETTINGS at another file."
        ) from exc
    cached = _conf_cache.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    parser = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise JobStoreSettingsError(
            f"Cannot read the Qiskit settings file {path}: {exc}. Fix the file, or point "
            "QISKIT_SETTINGS at another one."
        ) from exc
    section = dict(parser["aer"]) if parser.has_section("aer") else {}
    _conf_cache[path] = (mtime, section)
    return section


def _lookup(env: str, key: str) -> tuple[str | None, str]:
    """Return ``(raw value, where it came from)`` for a setting, or ``(None, "")``."""
    value = os.getenv(env)
    if value is not None and value.strip() != "":
        return value.strip(), f"environment variable {env}"
    value = _aer_section().get(key)
    if value is not None and value.strip() != "":
        return value.strip(), f"'{key}' in [aer] of {settings_file()}"
    return None, ""


def _choice(env: str, key: str, choices: tuple[str, ...]) -> str:
    """A setting that is one of ``choices`` (the first is the default), case-insensitive."""
    value, where = _lookup(env, key)
    if value is None:
        return choices[0]
    if value.lower() not in choices:
        raise JobStoreSettingsError(
            f"Invalid value {value!r} for {where}: use one of {', '.join(choices)}."
        )
    return value.lower()


def parse_bool(value: str, where: str) -> bool:
    """Parse a yes/no setting, naming the setting in the error."""
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise JobStoreSettingsError(
        f"Invalid value {value!r} for {where}: use one of 1, 0, true, false, yes, no, on, off."
    )


def parse_size(value: str | int, where: str) -> int:
    """Parse a byte size such as ``2GiB``, ``500MB`` or ``1048576``."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise JobStoreSettingsError(f"Invalid size {value} for {where}: it must be >= 0.")
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise JobStoreSettingsError(
            f"Invalid size {value!r} for {where}: use a number of bytes, optionally with a unit "
            "(KB, MB, GB, KiB, MiB, GiB), e.g. 2GiB or 500MB."
        )
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def human(size: int) -> str:
    """A byte count for people: ``1.5 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | int | float | _dt.timedelta, where: str) -> _dt.timedelta:
    """Parse a duration such as ``30d``, ``12h``, ``2w``, ``90m``, ``45s`` or seconds."""
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(value).lower())
        if not match:
            raise JobStoreSettingsError(
                f"Invalid duration {value!r} for {where}: use a number with a unit s, m, h, d or "
                "w, e.g. 30d, 12h or 2w."
            )
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]
    if seconds < 0:
        raise JobStoreSettingsError(f"Invalid duration {value!r} for {where}: it must be >= 0.")
    return _dt.timedelta(seconds=seconds)


def save_jobs_default() -> bool:
    """Whether store-enabled backends save jobs when nothing more specific says so."""
    value, where = _lookup("QISKIT_AER_SAVE_JOBS", "save_jobs")
    return True if value is None else parse_bool(value, where)


REUSE_UNSEEDED = "unseeded"


def parse_reuse(value: object, where: str) -> str | None:
    """A ``reuse_results`` value: None (off), ``"seeded"`` (on, for seeded jobs only) or
    ``"unseeded"`` (on, for jobs without a seed too)."""
    if isinstance(value, str) and value.strip().lower() == REUSE_UNSEEDED:
        return REUSE_UNSEEDED
    if isinstance(value, str):
        value = parse_bool(value, where)
    if isinstance(value, bool):
        return "seeded" if value else None
    raise JobStoreSettingsError(
        f"Invalid value {value!r} for {where}: use True, False or \"unseeded\"."
    )


def reuse_results_default() -> str | None:
    """Whether store-enabled backends serve identical jobs from the store (see
    :func:`parse_reuse`) when nothing more specific says so; off by default."""
    value, where = _lookup("QISKIT_AER_REUSE_RESULTS", "reuse_results")
    return None if value is None else parse_reuse(value, where)


def jobs_dir() -> Path:
    """The local store folder."""
    value, _ = _lookup("QISKIT_AER_JOBS_DIR", "jobs_dir")
    return Path(os.path.expanduser(value)) if value else qiskit_dir() / "aer_jobs"


def key_file() -> Path:
    """The file holding the store's HMAC signing key (kept outside the store folder)."""
    value, _ = _lookup("QISKIT_AER_JOBS_KEY", "jobs_key")
    return Path(os.path.expanduser(value)) if value else qiskit_dir() / "aer_jobs.key"


def store_names() -> tuple[str | None, str | None, str | None]:
    """What names the store as set (folder, key, home), unexpanded: a cheap cache key for the
    store the settings name, looked up at every run."""
    return (_lookup("QISKIT_AER_JOBS_DIR", "jobs_dir")[0],
            _lookup("QISKIT_AER_JOBS_KEY", "jobs_key")[0], os.environ.get("HOME"))


def durability() -> str:
    """``full``: fsync every archive before it is renamed into place (survives power loss);
    ``normal``: atomic rename without fsync (survives a killed process, may lose the last
    seconds of jobs on power loss). Both happen off the caller's path."""
    return _choice("QISKIT_AER_JOBS_DURABILITY", "durability", DURABILITY_LEVELS)


WRITERS = ("process", "thread")


def writer() -> str:
    """Where archives are written: ``process`` (default), a writer process this process
    starts, so the caller pays only for handing the job over and a job survives the caller's
    death once ``result()`` has returned; ``thread``, a background thread of this process."""
    return _choice("QISKIT_AER_JOBS_WRITER", "writer", WRITERS)


PACES = ("auto", "idle", "eager")


def writer_pace() -> str:
    """When the writer process writes a finished job it was handed (the job is safe from the
    caller's death either way). ``idle``: once the caller has handed nothing over for 50 ms,
    after 5 s at most, or at a flush, so a loop of simulations does not share the cores with
    the writing. ``eager``: at once (other processes list each job sooner). ``auto`` (default):
    ``idle`` while the caller spends most of its time simulating (a tight loop of Aer jobs),
    ``eager`` when it does work of its own between jobs (an optimizer around an estimator),
    where the writer keeps up beside it. Read, like ``writer``, when the environment changes."""
    return _choice("QISKIT_AER_JOBS_WRITER_PACE", "writer_pace", PACES)


def max_store_bytes() -> int:
    """Cap on the whole local store; the oldest jobs are removed past it (0: no cap)."""
    value, where = _lookup("QISKIT_AER_MAX_STORE_BYTES", "max_store_bytes")
    return 2 * 1024**3 if value is None else parse_size(value, where)


def max_job_bytes() -> int:
    """Cap on one job's archive; a bigger job keeps manifest and circuits only (0: no cap)."""
    value, where = _lookup("QISKIT_AER_MAX_JOB_BYTES", "max_job_bytes")
    return 256 * 1024**2 if value is None else parse_size(value, where)


PUSH_MODES = ("auto", "manual")


def remote_index() -> str | None:
    """The team store's PostgreSQL URL (``postgresql://user:password@host/db``), or None."""
    return _lookup("QISKIT_AER_JOBS_REMOTE_INDEX", "remote_index")[0]


def remote_blobs() -> str | None:
    """Where the team store keeps archives (``s3://bucket/prefix``), or None."""
    return _lookup("QISKIT_AER_JOBS_REMOTE_BLOBS", "remote_blobs")[0]


def remote_configured() -> bool:
    """Whether a team store is configured (both its index and its archives)."""
    return remote_index() is not None and remote_blobs() is not None


def push_jobs() -> str:
    """``auto``: every saved job is also pushed to the team store in the background;
    ``manual``: jobs are queued and go out on ``JobStore().push()``."""
    return _choice("QISKIT_AER_PUSH_JOBS", "push_jobs", PUSH_MODES)
