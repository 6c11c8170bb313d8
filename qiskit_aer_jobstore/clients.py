"""``enable()`` / ``disable()``: the store for code that builds Aer's objects itself.

``enable()`` makes Aer's own simulators store-enabled (``backends``), Aer's own primitives
save each job as one (``primitives``), and, when qiskit-ibm-runtime is installed, its local
testing mode store its jobs under the ids it hands out (``runtime``). ``disable()`` undoes all
of it exactly.
"""

from __future__ import annotations

from . import backends, primitives, runtime


def enable() -> None:
    """Save the jobs of code that builds ``qiskit_aer.AerSimulator`` or Aer's primitives itself
    (other libraries), and of qiskit-ibm-runtime's local mode. ``disable()`` undoes it."""
    backends.enable()
    primitives.enable_aer_primitives()
    runtime.carry_context_into_primitive_jobs()
    runtime.enable_runtime()


def disable() -> None:
    """Restore Aer's, Qiskit's and qiskit-ibm-runtime's classes exactly as they were."""
    runtime.disable_runtime()
    primitives.disable_aer_primitives()
    backends.disable()
