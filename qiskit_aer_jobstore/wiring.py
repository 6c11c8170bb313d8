"""How the model reaches the execution layer above it without importing it: the package face
registers here how to load the ``job.Runner`` (``reproduce``), and a stored job loads it the
first time it reruns, resumes or rebuilds its simulator. Importing the package then costs no
Qiskit import, which a listing never needs."""

from __future__ import annotations

from collections.abc import Callable

_loaders: list[Callable[[], object]] = []


def register_runner_loader(load: Callable[[], object]) -> None:
    """Say how to load the module that provides the ``job.Runner`` (done by the package)."""
    _loaders[:] = [load]


def load_runner() -> None:
    """Load the module that provides the ``job.Runner``, if the package said how."""
    for load in list(_loaders):
        load()
