"""``aer-jobs ui``: serve the web app (the ``[ui]`` extra) on loopback."""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser
from pathlib import Path

import click

from ..store import JobStore
from .base import cli

_MISSING = (
    'aer-jobs ui needs the [ui] extra (Starlette, Jinja2, uvicorn): '
    'pip install "qiskit-aer-jobstore[ui]"'
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str, port: int) -> int:
    """``port`` if it can be bound on ``host`` (0: a free one), else a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise click.ClickException(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}): give another --port."
            ) from None
        return sock.getsockname()[1]


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on (loopback only unless you mean otherwise).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="The port (0: a free one).")
@click.option("--store", "store_dir", type=click.Path(exists=True, file_okay=False,
              path_type=Path), help="The store folder (default: aer-jobs --store, or settings).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser.")
@click.option("--write", is_flag=True,
              help="Allow deleting jobs and editing tags from the pages (CSRF-protected).")
def ui(host: str, port: int, store_dir: Path | None, no_browser: bool, write: bool) -> None:
    """Browse the store in a web browser: the job table, each job (circuits drawn, counts
    histograms), diffs of two jobs; every page also as JSON. Read-only unless --write."""
    try:
        # optional (the [ui] extra): only this command needs the web framework
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise click.ClickException(_MISSING) from None
    from ..web import create_app

    root = click.get_current_context().find_root().params.get("store_path")
    path = store_dir or root
    store = JobStore(path) if path is not None else JobStore.default()
    store.refresh()  # a damaged store says so now, not on the first page
    loopback = is_loopback(host)
    port = free_port(host, port)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"http://{shown}:{port}/"
    app = create_app(store, write=write, hosts=None if loopback else ["*"])
    if loopback:
        mode = "write mode (CSRF-protected)" if write else "read-only"
        click.echo(f"aer-jobs ui: {url} (listening on {host} only: no other machine can "
                   f"connect; {mode}). Ctrl+C stops it.")
    else:
        click.secho(
            f"aer-jobs ui: WARNING: listening on {host}, not loopback: anyone who can reach "
            f"this machine on port {port} can read every job of {store.path}"
            f"{' AND DELETE THEM' if write else ''}. Use --host 127.0.0.1 unless you mean it.",
            err=True, fg="red", bold=True,
        )
        click.echo(f"aer-jobs ui: {url}. Ctrl+C stops it.")
    if not no_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning")
