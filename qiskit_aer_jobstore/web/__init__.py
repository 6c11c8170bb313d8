"""``aer-jobs ui``: the job store in a browser (the ``[ui]`` extra: Starlette, Jinja2,
uvicorn). ``create_app()`` builds the ASGI app; the CLI command serves it on loopback.

Nothing is imported here until asked: the child process that parses untrusted circuits
(:mod:`.isolate`) runs without the web framework.
"""

from __future__ import annotations

from typing import Any


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The web app: see :func:`qiskit_aer_jobstore.web.app.create_app`."""
    from .app import create_app as make  # the web framework loads only for the app

    return make(*args, **kwargs)


__all__ = ["create_app"]
