"""Grafting methods onto other libraries' classes (Aer's backends and primitives,
qiskit-ibm-runtime's local mode) for ``enable()``, and taking them back exactly."""

from __future__ import annotations

import threading
from typing import Any

_MISSING = object()


class Grafts:
    """Attributes set on classes, with what each held before, restored in reverse order."""

    def __init__(self) -> None:
        self._saved: list[tuple[type, str, Any]] = []
        self.lock = threading.RLock()

    def __bool__(self) -> bool:
        return bool(self._saved)

    def has(self, cls: type, name: str) -> bool:
        """Whether ``cls.name`` is grafted here."""
        return any(c is cls and n == name for c, n, _ in self._saved)

    def set(self, cls: type, name: str, value: Any) -> None:
        """Set ``cls.name = value``, remembering what it was (or that it was not there)."""
        self._saved.append((cls, name, cls.__dict__.get(name, _MISSING)))
        setattr(cls, name, value)

    def restore(self) -> None:
        """Put every grafted attribute back as it was."""
        for cls, name, value in reversed(self._saved):
            if value is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, value)
        self._saved.clear()
