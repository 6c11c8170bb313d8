"""The writer process: ``python -m qiskit_aer_jobstore.saver FD``, started by ``handoff``.

It reads saves from the socket ``FD`` (a thread reads them as they come, so the caller never
waits for a slow disk), carries each out in order with ``JobStore.run_save`` and acknowledges
it, with the JobStoreWarnings it raised. Saves that arrive together (a burst) are written
together and made durable by one sync of the filesystem before any of them is answered, so
``durability = full`` costs one sync a burst rather than two fsyncs a job. When the socket
closes (the caller exited, or died) it carries out what it holds and exits. While it holds
saves for a store whose caller is gone, a file in the store's ``.writers`` folder says so, and
any process that reads the store waits for it (``handoff.wait_for_orphaned_writers``): the
next process sees every job.
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time
import warnings
from typing import Any

from . import handoff, push, wire
from .blobs import sync_folder
from .exceptions import JobStoreError, JobStoreWarning
from .indexbatch import IndexBatch
from .store import JobStore

# At most this many saves waiting together are written, synced once, then answered.
BATCH = 64
# Saves that may wait are held while the caller keeps sending (see ``_gather``).
QUIET_S = 0.05
QUIET_ENV = "QISKIT_AER_JOBS_WRITER_QUIET_S"  # the tests' way to make "quiet" never come
HOLD_S = 5.0
HOLD_BYTES = 256 * 1024**2
HOLD_COUNT = 4096


def _reader(sock: socket.socket, frames: queue.SimpleQueue) -> None:
    def read_exactly(size: int) -> bytearray | None:
        buffer = bytearray(size)
        view, got = memoryview(buffer), 0
        while got < size:
            count = sock.recv_into(view[got:])
            if count == 0:
                return None
            got += count
        return buffer

    try:
        while (frame := wire.read_frame(read_exactly)) is not None:
            frames.put(frame)
    except Exception as exc:  # noqa: BLE001 - a broken stream ends the input like EOF
        print(f"qiskit-aer-jobstore writer: input ended: {exc}", file=sys.stderr)
    frames.put(None)


def _apply_env(env: dict[str, str]) -> None:
    for name in [name for name in os.environ if name not in env]:
        del os.environ[name]
    os.environ.update(env)
    os.environ[handoff.NO_WRITER_ENV] = "1"


pushed: list[Any] = []  # stores whose queue for the team store a save added to


def _save(stores: dict[tuple[str, str], JobStore], message: Any) -> list[str]:
    """Carry out one save; the texts of its warnings (``E`` + why it failed, ``W`` + text)."""
    path, key_path, op, args = message
    store = stores.get((path, key_path))
    texts: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JobStoreWarning)
        try:
            if store is None:
                # its caller checked the caps when it made the store; one broken since then
                # costs only their enforcement (a warning), as in the caller
                store = stores[(path, key_path)] = JobStore(path, key_path, check_settings=False)
            pushed.clear()
            store.run_save(op, *args)
            texts += ["P"] if pushed else []
        except JobStoreError as exc:
            texts.append(f"E{exc}")
        except Exception as exc:  # noqa: BLE001 - one bad job never stops the writer
            texts.append(f"E{type(exc).__name__}: {exc}")
    texts += [f"W{w.message}" for w in caught if issubclass(w.category, JobStoreWarning)]
    return texts


def _carry_out(stores: dict[tuple[str, str], JobStore], frame: tuple) -> list[str]:
    _, body, buffers, flags = frame
    if flags & wire.FLUSH:
        return []  # what came before it is written: its answer says so
    try:
        message = wire.decode(body, buffers)
    except Exception as exc:  # noqa: BLE001 - e.g. a class of the caller's __main__
        return [f"R{type(exc).__name__}: {exc}"]  # the caller saves this one itself
    if message[0] == "env":
        _apply_env(message[1])
        return []
    return _save(stores, message)


def _burst(stores: dict[tuple[str, str], JobStore], batch: list[tuple]) -> list:
    """Carry out the saves of a burst (group commit): their archives are synced together,
    once, and their index rows written in one transaction, before any of them is answered."""
    durable = [s for s in stores.values() if s.blobs.fsync]
    for store in durable:
        store.blobs.fsync = False
    rows: list[IndexBatch] = []
    answers: list[tuple[int, list[str]]] = []
    try:
        for frame in batch:
            for store in stores.values():  # stores made by this frame get theirs next burst
                if store.rows_later is None:
                    store.rows_later = IndexBatch(store)
                    rows.append(store.rows_later)
                store.rows_later.tag = len(answers)
            answers.append((frame[0], _carry_out(stores, frame)))
    finally:
        for store in durable:
            store.blobs.fsync = True
            sync_folder(store.path)  # before the rows: a row never names a lost archive
        for batch_rows in rows:
            batch_rows.store.rows_later = None
            for tag, text in batch_rows.write() + _cap(batch_rows):
                if tag < len(answers):
                    answers[tag][1].append(f"W{text}")
    return answers


def _cap(rows: IndexBatch) -> list[tuple[Any, str]]:
    """Keep the store of a burst under ``max_store_bytes`` once its rows are in the index
    (the index is what the cap counts); the warnings go to the burst's last save."""
    if rows.last is None:
        return []
    tag, job_id = rows.last
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", JobStoreWarning)
        rows.store.enforce_cap(job_id)
    return [(tag, str(w.message)) for w in caught if issubclass(w.category, JobStoreWarning)]


def _gather(frames: queue.SimpleQueue, first: tuple) -> tuple[list[tuple], bool]:
    """``first`` and the frames after it to write together; True if the input ended.

    Saves that may wait (``wire.WAIT``: a finished job, see ``settings.writer_pace``) are held
    while the caller keeps sending: on a machine with few cores, writing beside a loop of
    simulations slows each of them as much as the writing costs. They are written once the
    caller is quiet for QUIET_S, when the first of them waited HOLD_S, past HOLD_BYTES or
    HOLD_COUNT, or when a save that may not wait (a flush request, a piece of a split job, a
    running state) comes. The caller's death ends the input: everything held is written.
    """
    held, size, prompt = [first], _size(first), not first[3] & wire.WAIT
    quiet = float(os.environ.get(QUIET_ENV) or QUIET_S)
    deadline = time.monotonic() + max(HOLD_S, quiet)
    while True:
        if not prompt and size < HOLD_BYTES and len(held) < HOLD_COUNT:
            wait = min(quiet, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                frame = frames.get(timeout=wait)
            except queue.Empty:
                break  # the caller is quiet
        elif len(held) % BATCH:
            try:  # write now, with those waiting already
                frame = frames.get_nowait()
            except queue.Empty:
                break
        else:
            break
        if frame is None:
            return held, True
        held.append(frame)
        size += _size(frame)
        prompt = prompt or not frame[3] & wire.WAIT
    return held, False


def _size(frame: tuple) -> int:
    return len(frame[1]) + sum(len(buffer) for buffer in frame[2])


def _write(stores: dict[tuple[str, str], JobStore], held: list[tuple]) -> list:
    """Carry out ``held`` in bursts of at most BATCH; their answers."""
    answers = []
    for start in range(0, len(held), BATCH):
        batch = held[start:start + BATCH]
        answers += _burst(stores, batch) if len(batch) > 1 else [
            (batch[0][0], _carry_out(stores, batch[0]))]
    return answers


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[1]))
    handoff.lower_own_priority()
    frames: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_reader, args=(sock, frames), daemon=True).start()
    stores: dict[tuple[str, str], JobStore] = {}
    push.notify = pushed.append  # the caller pushes: its warnings are its user's
    replies, ended = True, False
    while not ended and (frame := frames.get()) is not None:
        held, ended = _gather(frames, frame)
        for seq, texts in _write(stores, held):
            if not replies:
                break
            text = "\0".join(texts).encode("utf-8", "replace")
            try:
                sock.sendall(wire.ACK.pack(seq, len(text)) + text)
            except OSError:
                replies = False  # the caller is gone: save the rest all the same
    for store in stores.values():
        store.flush()
        handoff.unregister_writer(store.path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
