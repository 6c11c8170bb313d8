"""The store's pickler: plain pickle, with fixes for Qiskit objects that do not round-trip.

Qiskit's ``CASE_DEFAULT`` (the default case of a ``switch``) is a singleton compared by
identity. Plain pickle rebuilds it as a new object, and loading the circuit then fails with
``ValueError: invalid case specifier``. Pickled here by reference to the module-level singleton,
it loads back as itself, with any unpickler and without this package installed.
"""

from __future__ import annotations

import copyreg
import functools
import io
import pickle
from typing import Any

PROTOCOL = 5


def _by_name(name: str):
    """A reducer pickling a module-level singleton as a reference to its global name."""
    return lambda obj: name


def reducers() -> dict[type, Any]:
    """type -> reducer, for objects whose plain pickle does not load back as the same thing."""
    # Qiskit here, not at the top: only writing a job needs it, and listings stay quick
    from qiskit.circuit.controlflow.switch_case import CASE_DEFAULT

    return {type(CASE_DEFAULT): _by_name("CASE_DEFAULT")}


@functools.cache
def store_pickler() -> type[pickle.Pickler]:
    """``pickle.Pickler`` with :func:`reducers` added to the standard dispatch table."""

    class StorePickler(pickle.Pickler):
        dispatch_table = {**copyreg.dispatch_table, **reducers()}

    return StorePickler


def dumps(obj: Any, buffer_callback: Any = None) -> bytes:
    """Pickle ``obj`` (protocol 5) so that it loads back equal with plain ``pickle.loads``.

    Args:
        obj: what to pickle.
        buffer_callback: as in ``pickle.dumps``: receives out-of-band buffers.
    """
    buffer = io.BytesIO()
    store_pickler()(buffer, protocol=PROTOCOL, buffer_callback=buffer_callback).dump(obj)
    return buffer.getvalue()
