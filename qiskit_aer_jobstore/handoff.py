"""Saving in a writer process: the caller hands each save over and returns.

Aer holds the GIL while it simulates, so Python work of ours in the caller's process (pickling,
portable copies, zip, signing) lands on the caller's path even in a background thread. Here
the caller only pickles the job's record (circuits as QPY when exact: see ``wire``) and sends
it over a socket pair to a writer process it started (``python -m qiskit_aer_jobstore.saver``),
which does the rest and acknowledges each save. The writer runs in its own session: when the
caller dies (SIGKILL, OOM, a crash), the writer still holds every save it was sent, drains them
and exits, so a job is saved once ``result()`` has returned. Until a save is acknowledged the
caller keeps a reference to its record: if the writer dies or cannot start, those records are
saved in this process instead (the thread writer), with one warning.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import settings, wire
from .exceptions import JobStoreWarning
from .process import process_alive, start_time
from .writer import WRITER, WRITER_NICE

# Set by the tests and by a writer process itself: never start a writer from there.
NO_WRITER_ENV = "QISKIT_AER_JOBS_IN_WRITER"
_SEND_BUFFER = 4 * 1024 * 1024
# Under writer_pace = auto, a process is "simulating" if its last job's simulation took at
# least this share of the time since the job before it. Measured (benchmarks/writer.py): a
# tight loop of 5-qubit jobs ~0.55-0.9 (the gap holds our own hand-over too), an optimizer
# around Aer's EstimatorV2 ~0.05; at 0.5 the loop's noisier jobs fell below and were written
# beside the next ones.
BUSY_SHARE = 0.25
# The caller reads the writer's answers (freeing the records they answer) every this many saves
ACK_EVERY = 16


class WriterProcess:
    """The writer process of this process, started on the first save."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # sending, starting, stopping
        self._acks = threading.Lock()  # reading acknowledgements
        self._pid = os.getpid()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None
        self._seq = 0
        self._pending: dict[int, tuple[str, Callable[[], None], Any]] = {}
        self._env: dict[Any, Any] | None = None
        self._failed: str | None = None  # why saving went back into this process
        self._fallback: Callable[[Callable[[], None], str], None] | None = None
        self._partial = b""
        self._registered: set[Path] = set()  # store folders holding this writer's entry
        self._pace = "auto"  # settings.writer_pace()
        self._last_send = time.perf_counter()  # when the last finished job was handed over
        self._want = False  # whether saves go to a writer process (settings.writer)
        self._read_for: dict[Any, Any] | None = None  # the environment those were read in
        self._asked = 0  # the last flush request sent (none again until a save follows it)
        self._written: dict[int, Callable[[], None]] = {}  # called when a save is answered

    # -- the caller's side ---------------------------------------------------------------
    def send(self, message: Any, run_here: Callable[[], None], describe: str,
             fallback: Callable[[Callable[[], None], str], None],
             pushed: Callable[[], None] | None = None, folder: Path | None = None,
             may_wait: bool = False, simulated: float | None = None,
             written: Callable[[], None] | None = None) -> bool:
        """Hand ``message`` to the writer process; False if it cannot take it (then the
        caller runs ``run_here`` itself). ``run_here`` is kept until the writer acknowledges
        the save, and run through ``fallback`` if the writer dies first; ``pushed`` is called
        when the writer says the save was queued for the team store (the caller pushes);
        ``written`` when it answers the save (written, or failed there) unless ``run_here``
        runs instead; ``folder``, the store's folder, gets the writer's entry in ``.writers``
        first; ``may_wait``: the writer may hold it until the caller is quiet (``writer_pace``),
        ``simulated``: the seconds the job spent simulating, if known (``auto`` pace)."""
        if self._pid != os.getpid():  # a forked child: the parent's writer is not ours
            self.__init__()
        env = os.environ._data  # type: ignore[attr-defined]  # compared in C: microseconds
        if env != self._read_for:  # the settings: read again when the environment changes
            self._want = _wanted()
            self._pace = settings.writer_pace() if self._want else "eager"
            self._read_for = dict(env)
        if self._failed is not None or not self._want:
            return False
        self._fallback = fallback
        with self._lock:
            if self._sock is None and not self._start():
                return False
            env_changed = env != self._env
            seq = self._seq + 1 + env_changed
            try:
                parts = wire.encode(seq, message, self._flags(may_wait, simulated))
            except Exception:  # noqa: BLE001 - cannot be pickled: the thread writer reports it
                return False
            if env_changed:  # the writer reads the settings as this process sees them
                self._env = dict(env)
                self._pending[seq - 1] = ("The settings", lambda: None, None)
                parts = wire.encode(seq - 1, ("env", dict(os.environ))) + parts
            if folder is not None and folder not in self._registered:
                register_writer(folder, self._proc.pid)  # before its first save is sent
                self._registered.add(folder)
            self._seq = seq
            self._pending[self._seq] = (describe, run_here, pushed)
            if written is not None:
                self._written[self._seq] = written
            try:
                _send_all(self._sock, parts)
            except OSError as exc:
                self._lost(f"the writer process could not be reached ({exc})")
                return True  # run_here is run by the fallback, in order
        if not self._seq % ACK_EVERY:  # answers wait in the socket; reading them costs a call
            self._read_acks(block=False)
        return True

    def _flags(self, may_wait: bool, simulated: float | None) -> int:
        """WAIT if the writer may hold this save: under ``auto``, only while this process
        spends most of its time simulating (the job's simulation against the time since the
        last finished job; unknown counts as simulating)."""
        if not may_wait or self._pace == "eager":
            return 0
        now = time.perf_counter()
        since, self._last_send = now - self._last_send, now
        if self._pace == "auto" and simulated is not None and simulated < BUSY_SHARE * since:
            return 0
        return wire.WAIT

    def pending(self) -> int:
        return len(self._pending) if self._pid == os.getpid() else 0

    def take_answers(self) -> None:
        """Take the answers the writer sent so far, without waiting for more."""
        if self._pid == os.getpid() and self._pending:
            self._read_acks(block=False)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the writer acknowledged every save sent so far."""
        if self._pid != os.getpid():
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        self._ask_to_write()
        while self._pending and self._sock is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._read_acks(block=True, timeout=left)
        return True

    def _ask_to_write(self) -> None:
        """Ask the writer to write what it holds now (saves that may wait included)."""
        with self._lock:
            if not self._pending or self._sock is None or self._asked == self._seq:
                return
            self._seq += 1
            self._asked = self._seq
            self._pending[self._seq] = ("A flush", lambda: None, None)
            try:
                _send_all(self._sock, wire.encode(self._seq, None, wire.FLUSH))
            except OSError as exc:
                self._lost(f"the writer process could not be reached ({exc})")

    def close(self, timeout: float | None = None) -> None:
        """Flush, then let the writer process end (it exits once its input is closed)."""
        self.flush(timeout)
        with self._lock:
            sock, self._sock = self._sock, None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                sock.close()

    # -- inside ----------------------------------------------------------------------------
    def _start(self) -> bool:
        parent, child = socket.socketpair()
        try:
            with contextlib.suppress(OSError):
                parent.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SEND_BUFFER)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "qiskit_aer_jobstore.saver", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the caller's group does not stop it
                env={**os.environ, NO_WRITER_ENV: "1"},
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            parent.close()
            self._failed = f"the writer process could not be started ({exc})"
            _warn(f"Aer jobs are saved in this process: {self._failed}.")
            return False
        finally:
            child.close()
        self._sock = parent
        self._env = None
        self._registered = set()
        return True

    def warm(self) -> None:
        """Start the writer process now (a run is about to save): it loads Qiskit while the
        first job simulates, not after."""
        if self._sock is None and self._failed is None and self._pid == os.getpid() and \
                _wanted():
            with self._lock:
                if self._sock is None:
                    self._start()

    def _read_acks(self, block: bool, timeout: float | None = None) -> None:
        if not self._acks.acquire(blocking=block):
            return
        try:
            sock = self._sock
            if sock is None:
                return
            if block and not _readable(sock, timeout):
                return
            try:
                data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                data, why = b"", str(exc)
            else:
                why = "it ended"
            if not data:
                code = self._proc.poll() if self._proc is not None else None
                self._lost(f"the writer process stopped ({why}; exit code {code})")
                return
            self._take_acks(self._partial + data)
        finally:
            self._acks.release()

    def _take_acks(self, data: bytes) -> None:
        size = wire.ACK.size
        while len(data) >= size:
            seq, length = wire.ACK.unpack_from(data)
            if len(data) < size + length:
                break
            text = data[size:size + length].decode("utf-8", "replace")
            data = data[size + length:]
            describe, run_here, pushed = self._pending.pop(seq, ("An Aer job", None, None))
            written = self._written.pop(seq, None)
            lines = text.split("\0") if text else []
            if written is not None and not any(line.startswith("R") for line in lines):
                written()  # (a save read back here: its run_here says when it is written)
            for line in lines:
                if line == "P":
                    if pushed is not None:
                        pushed()
                elif line.startswith("R"):  # the writer could not read it: save it here
                    if self._fallback is not None and run_here is not None:
                        self._fallback(run_here, describe)
                elif line.startswith("E"):
                    _warn(f"{describe} was not saved: {line[1:]}")
                else:
                    _warn(line[1:])
        self._partial = data

    def _lost(self, why: str) -> None:
        """The writer is gone: save what it had not acknowledged here, in order."""
        if self._failed is not None:
            return
        self._failed = why
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        left = [self._pending.pop(seq) for seq in sorted(self._pending)]
        self._written.clear()  # (each run_here says when its save is written)
        _warn(f"{why}: {len(left)} unsaved Aer job(s) and later ones are saved in this "
              "process instead.")
        fallback = self._fallback
        for describe, run_here, _ in left:
            if fallback is not None:
                fallback(run_here, describe)


# At most this many buffers a sendmsg (Linux refuses more than IOV_MAX, 1024, with EMSGSIZE).
_MAX_PARTS = 512


def _send_all(sock: socket.socket, parts: list) -> None:
    views = [memoryview(part).cast("B") for part in parts]
    while views:
        sent = sock.sendmsg(views[:_MAX_PARTS])
        while views and sent >= views[0].nbytes:
            sent -= views[0].nbytes
            views.pop(0)
        if views and sent:
            views[0] = views[0][sent:]


def _readable(sock: socket.socket, timeout: float | None) -> bool:
    """Whether ``sock`` has data within ``timeout`` seconds (poll: any fd number; select()
    refuses those over 1024, which a process with many files open reaches)."""
    if not hasattr(select, "poll"):
        return bool(select.select([sock], [], [], timeout)[0])
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000)) or 1))


def _wanted() -> bool:
    return (settings.writer() == "process" and not getattr(sys, "frozen", False)
            and not os.environ.get(NO_WRITER_ENV))


def _warn(text: str) -> None:
    warnings.warn(text, JobStoreWarning, stacklevel=2)


def lower_own_priority() -> None:
    """In the writer process: give the simulations the cores first (Linux nice levels)."""
    try:
        os.nice(WRITER_NICE)
    except (OSError, AttributeError):
        pass


# Writer processes holding saves for a store: ``<store>/.writers/<writer pid>``, holding
# "<caller pid> <caller start>". Written by the caller before its first save there, removed
# by the writer when it exits, read by every process that lists.
WRITERS_DIR = ".writers"


def register_writer(store_path: Path, writer_pid: int) -> None:
    """In the caller, before its first save to the store at ``store_path`` (whose folder
    exists): say that the writer process ``writer_pid`` holds saves of this process for it.
    The writer removes the entry when it exits."""
    me = os.getpid()
    try:
        folder = store_path / WRITERS_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(folder / str(writer_pid), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{me} {start_time(me) or ''}")
    except OSError:
        pass  # then a reader may list the store before this writer's last saves land


def unregister_writer(store_path: Path) -> None:
    with contextlib.suppress(OSError):
        (store_path / WRITERS_DIR / str(os.getpid())).unlink()


# How long a reader waits for the writer process of a caller that died to save its last jobs.
ORPHAN_WAIT_S = 60.0


def wait_for_orphaned_writers(store_path: Path, timeout: float = ORPHAN_WAIT_S) -> None:
    """Wait while a writer process whose caller died still saves jobs into this store (so a
    process started after a killed one sees every job the killed one got back)."""
    folder = store_path / WRITERS_DIR
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            parent, _, started = (folder / entry).read_text().partition(" ")
            parent_pid = int(parent)
        except (OSError, ValueError):
            continue
        if not process_alive(pid):
            with contextlib.suppress(OSError):
                (folder / entry).unlink()  # left by a writer that was killed
            continue
        if process_alive(parent_pid, started.strip() or None):
            continue  # its caller lives: jobs still on their way are its business
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)


WRITER_PROCESS = WriterProcess()


def flush_saves(timeout: float | None = None) -> bool:
    """Wait until this process's saves are written: the background thread's first (it hands
    jobs over to the writer process), then the writer process's. False if ``timeout`` ran out."""
    done = WRITER.flush(timeout)
    return WRITER_PROCESS.flush(timeout) and done


def saves_pending() -> bool:
    """Whether saves of this process are still on their way (thread or writer process)."""
    return bool(WRITER.pending() or WRITER_PROCESS.pending())


def _close_at_exit() -> None:
    WRITER_PROCESS.close(timeout=float(os.getenv("QISKIT_AER_JOBS_EXIT_TIMEOUT", "60")))


atexit.register(_close_at_exit)
