"""``aer-jobs ui``: the job store in a browser (the ``[ui]`` extra: Starlette, Jinja2,
uvicorn). ``create_app()`` builds the ASGI app; the CLI command serves it on loopback."""

from .app import create_app

__all__ = ["create_app"]
