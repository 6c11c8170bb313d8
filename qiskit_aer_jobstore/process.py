"""Which process wrote a job, and whether it is still alive: one check for every caller.

A manifest names its writer by ``host``, ``pid`` and ``process_start`` (the start time, so that
a reused pid is not mistaken for the writer). ``process_alive`` is the one pid check of the
package: it never calls ``os.kill`` on Windows, where ``os.kill(pid, 0)`` sends CTRL_C_EVENT.
"""

from __future__ import annotations

import os
import socket
from typing import Any

_own_start: str | None = None


def start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
        return stat[stat.rindex(")") + 2 :].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def process_identity() -> dict[str, Any]:
    """Manifest fields naming this process: ``host``, ``pid`` and ``process_start``."""
    global _own_start
    if _own_start is None:
        _own_start = start_time(os.getpid()) or ""
    return {"host": socket.gethostname(), "pid": os.getpid(), "process_start": _own_start or None}


def process_alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` is a running process (of any user); with ``started``, whether it is
    still the process that started then (not a reused pid)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT on Windows
        try:
            # optional: Windows only, where os.kill cannot ask
            import psutil
        except ImportError:
            return True  # cannot tell: never call a live job dead
        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OverflowError, ValueError):
        return False  # not a pid at all
    except OSError:
        return True  # exists, owned by someone else
    now = start_time(pid)
    return not (started and now and now != started)


def is_this_host(host: Any) -> bool:
    """Whether a manifest's ``host`` is this machine (only here can its pids be checked)."""
    return host == socket.gethostname()
