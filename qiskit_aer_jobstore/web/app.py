"""``aer-jobs ui``: a local web app over the job store (Starlette and Jinja2).

Every page has a JSON twin (``/api/...``, or ``?format=json``), as Datasette's do. Read-only
unless made with ``write=True``: then deleting a job and editing its tags are POSTs that carry
the server's CSRF token. Only the hosts of a loopback server are answered (a web page cannot
reach it through DNS rebinding), and Jinja2 escapes every value.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from jinja2 import Environment, PackageLoader
from qiskit.providers import JobStatus
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import settings
from ..exceptions import (
    AmbiguousJobIdError,
    InvalidJobIdError,
    JobNotFoundError,
    JobStoreError,
    JobStoreSettingsError,
)
from ..manifest import tag_list
from ..notebook import cell, header
from ..store import JobStore
from .jobview import circuit_drawing, diff_view, job_view
from .query import BadQuery, table_page

LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
SAFE_METHODS = ("GET", "HEAD")
REFRESH_S = 3
COLUMNS = ("job_id", "job_name", "backend_name", "status", "creation_date", "num_circuits",
           "num_qubits", "shots", "method", "job_tags", "size")
_SORT_OF = {"job_id": "job_id", "job_name": "job_name", "backend_name": "backend_name",
            "status": "status", "creation_date": "created", "num_circuits": "num_circuits",
            "num_qubits": "num_qubits", "shots": "shots", "size": "size"}
_PICTURES = ("histogram", "svg", "overlaid")


class ReadOnly:
    """ASGI middleware: refuse every request that is not a GET or HEAD (405), unless the app
    may write; then a POST must carry the CSRF token (checked by the route)."""

    def __init__(self, app: Any, write: bool):
        self.app = app
        self.write = write

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS and not (
            self.write and scope["method"] == "POST"
        ):
            message = ("aer-jobs ui is read-only: start it with --write to change the store."
                       if not self.write else "Only GET and POST are answered.")
            response = Response(message, 405, headers={"Allow": "GET, HEAD"},
                                media_type="text/plain")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ServerTiming:
    """ASGI middleware: a ``Server-Timing`` header with the time the app took to answer (the
    browser's developer tools show it; benchmarks/ui.py reads it)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()

        async def timed(message: dict) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - start) * 1e3
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={took:.2f}".encode())]
            await send(message)

        await self.app(scope, receive, timed)


class _Pages:
    """The routes, over one local store and (if configured) the team store."""

    def __init__(self, store: JobStore, team: Any, write: bool):
        self.store = store
        self._team = team
        self.write = write
        self.csrf_token = secrets.token_urlsafe(32)
        self.env = Environment(loader=PackageLoader("qiskit_aer_jobstore.web", "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(cell=cell)

    # -- helpers -------------------------------------------------------------------------
    def team_configured(self) -> bool:
        return self._team is not None or settings.remote_configured()

    def source(self, request: Request) -> Any:
        location = request.query_params.get("location", "local")
        if location == "local":
            return self.store
        if location != "remote":
            raise BadQuery(f"Invalid location {location!r}: use local or remote.")
        if self._team is None:
            from ..team import remote_store  # the team store's clients load only if asked

            self._team = remote_store()
        if self._team is None:
            raise JobStoreSettingsError(
                "No team store is configured: set remote_index and remote_blobs in [aer] of "
                "settings.conf (see README, 'A team store')."
            )
        return self._team

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        location = request.query_params.get("location", "local")
        query = dict(request.query_params)
        query["format"] = "json"
        context.update(
            request=request, root=request.scope.get("root_path", ""), write=self.write,
            csrf_token=self.csrf_token, location=location,
            location_query="?location=remote" if location == "remote" else "",
            team_configured=self.team_configured(), store_label=str(self.store.path),
            json_url=f"{request.url.path}?{urlencode(query)}",
        )
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status, headers=_HEADERS)

    def reply(self, request: Request, data: dict, template: str, api: bool, **context: Any):
        if api or request.query_params.get("format") == "json":
            return json_response(data)
        return self.render(request, template, **context)

    def failure(self, request: Request, exc: Exception, api: bool) -> Response:
        matches: list[str] = []
        if isinstance(exc, AmbiguousJobIdError):
            status, title, matches = 409, "Ambiguous job id", list(exc.matches)
        elif isinstance(exc, JobNotFoundError):
            status, title = 404, "No such job"
        elif isinstance(exc, (InvalidJobIdError, BadQuery, JobStoreSettingsError)):
            status, title = 400, "Bad request"
        else:
            status, title = 500, "The job cannot be shown"
        message = str(exc)
        if api or request.query_params.get("format") == "json":
            return json_response({"error": message, "matches": matches}, status)
        return self.render(request, "message.html", status, title=title, message=message,
                           matches=matches)

    # -- pages ---------------------------------------------------------------------------
    def table(self, request: Request, api: bool = False) -> Response:
        try:
            source = self.source(request)
            page = table_page(source, request.query_params)
        except JobStoreError as exc:
            return self.failure(request, exc, api)
        params = request.query_params

        def page_url(**cursor: str) -> str:  # no cursor: the first page
            items = [(k, v) for k, v in params.multi_items() if k not in ("after", "before")]
            items += list(cursor.items())
            return f"{request.url.path}?{urlencode(items)}"

        def sort_url(column: str) -> str:
            order = "asc" if page["sort"] == column and page["order"] == "desc" else "desc"
            query = [(k, v) for k, v in params.multi_items()
                     if k not in ("after", "before", "sort", "order")]
            return f"{request.url.path}?{urlencode(query + [('sort', column), ('order', order)])}"

        columns = [(f, header(f), _SORT_OF.get(f)) for f in COLUMNS]
        where = any(job["location"] != "local" for job in page["jobs"])
        if where:
            columns.append(("location", "where", None))
        rows = [table_row(job, where) for job in page["jobs"]]
        shown = {k: ", ".join(params.getlist(k)) for k in params.keys()}
        return self.reply(request, page, "table.html", api, page=page, columns=columns, rows=rows,
                          params=shown, statuses=list(JobStatus.__members__),
                          page_url=page_url, sort_url=sort_url)

    def job(self, request: Request, api: bool = False) -> Response:
        try:
            source = self.source(request)
            job_id = source.resolve(request.path_params["job_id"])
            data = job_view(source, job_id)
        except JobStoreError as exc:
            return self.failure(request, exc, api)
        keys = sorted({k for piece in data["sub_jobs"] for k in piece})
        return self.reply(request, data, "job.html", api, job=data, piece_keys=keys,
                          refresh=None if data["final"] else REFRESH_S)

    def circuit(self, request: Request) -> Response:
        try:
            source = self.source(request)
            job_id = source.resolve(request.path_params["job_id"])
            svg = circuit_drawing(source, job_id, request.path_params["index"])
        except JobStoreError as exc:
            return Response(str(exc), 404 if isinstance(exc, JobNotFoundError) else 422,
                            media_type="text/plain")
        if svg is None:  # too wide, or no matplotlib: the page's text drawing stands
            return Response("This circuit is not drawn as SVG: see its text drawing.", 404,
                            media_type="text/plain")
        return Response(svg, media_type="image/svg+xml", headers={
            **_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "Cache-Control": "private, max-age=3600"})

    def diff(self, request: Request, api: bool = False) -> Response:
        try:
            source = self.source(request)
            a, b = (source.resolve(request.path_params[k]) for k in ("a", "b"))
            view = diff_view(source, a, b)
        except JobStoreError as exc:
            return self.failure(request, exc, api)
        data = view["diff"] if view["diff"] is not None else {"error": view["error"]}
        return self.reply(request, data, "diff.html", api, view=view)

    def diff_pick(self, request: Request) -> Response:
        picked = request.query_params.getlist("job")
        if len(picked) != 2:
            return self.failure(request, BadQuery(
                f"Select exactly two jobs to diff ({len(picked)} selected)."), False)
        try:  # A is the older job, whatever the table's order
            source = self.source(request)
            picked = sorted(picked, key=lambda job_id: (source.row(job_id)["created"], job_id))
        except JobStoreError as exc:
            return self.failure(request, exc, False)
        where = "?location=remote" if request.query_params.get("location") == "remote" else ""
        url = request.url_for("diff", a=picked[0], b=picked[1])
        return RedirectResponse(f"{url}{where}", 303)

    # -- changes (write mode only) -------------------------------------------------------
    async def _form(self, request: Request) -> dict[str, str]:
        body = (await request.body()).decode("utf-8", errors="replace")
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        if not hmac.compare_digest(form.get("csrf_token", ""), self.csrf_token):
            raise PermissionError("The form's CSRF token is missing or wrong: reload the page.")
        return form

    async def job_delete(self, request: Request) -> Response:
        try:
            form = await self._form(request)
        except PermissionError as exc:
            return Response(str(exc), 403, media_type="text/plain")
        if form.get("confirm") != "on":  # the page's checkbox: no script asks "are you sure?"
            return Response("Tick 'yes, delete it' to delete the job.", 400,
                            media_type="text/plain")
        try:
            source = self.source(request)
            job_id = source.resolve(request.path_params["job_id"])
            source.delete(job_id)
        except JobStoreError as exc:
            return self.failure(request, exc, False)
        return RedirectResponse(str(request.url_for("table")), 303)

    async def job_tags(self, request: Request) -> Response:
        try:
            form = await self._form(request)
        except PermissionError as exc:
            return Response(str(exc), 403, media_type="text/plain")
        try:
            source = self.source(request)
            job_id = source.resolve(request.path_params["job_id"])
            tags = tag_list([t.strip() for t in form.get("job_tags", "").split(",") if t.strip()])
            source.update_manifest(job_id, job_tags=sorted(set(tags)))
        except JobStoreError as exc:
            return self.failure(request, exc, False)
        where = "?location=remote" if request.query_params.get("location") == "remote" else ""
        return RedirectResponse(f"{request.url_for('job', job_id=job_id)}{where}", 303)


# the columns before and after the status, in COLUMNS' order
_BEFORE = ("job_name", "backend_name")
_AFTER = ("creation_date", "num_circuits", "num_qubits", "shots", "method")


def table_row(job: dict[str, Any], where: bool) -> dict[str, Any]:
    """A job summary as the table's cells, formatted here (faster than in the template)."""
    return {
        "job_id": job["job_id"], "short": job["job_id"][:8], "status": job["status"].lower(),
        "before": [(f, cell(job, f)) for f in _BEFORE],
        "after": [(f, cell(job, f)) for f in _AFTER], "tags": job["job_tags"],
        "size": cell(job, "size"), "location": job["location"] if where else None,
    }


# pages are never framed by another site, and run no script but their own
_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; script-src 'none'",
    "Referrer-Policy": "no-referrer",
}


def without_pictures(data: Any) -> Any:
    """``data`` without its SVG drawings (the JSON twin gives the numbers they draw)."""
    if isinstance(data, dict):
        return {k: without_pictures(v) for k, v in data.items() if k not in _PICTURES}
    if isinstance(data, list):
        return [without_pictures(v) for v in data]
    return data


def json_response(data: Any, status: int = 200) -> Response:
    body = json.dumps(without_pictures(data), indent=2, default=str)
    return Response(body, status, media_type="application/json",
                    headers={"X-Content-Type-Options": "nosniff"})


def create_app(store: JobStore | None = None, team: Any = None, write: bool = False,
               hosts: list[str] | None = None) -> Starlette:
    """The ``aer-jobs ui`` web app.

    Args:
        store: the local store (default: the one the settings name).
        team: a ``TeamStore`` to show (default: the configured one, opened when first asked).
        write: allow deleting jobs and editing tags (POSTs with the CSRF token).
        hosts: the Host headers answered (default: loopback names only; ``["*"]`` for any).

    Returns:
        A Starlette ASGI app (serve it with uvicorn).
    """
    pages = _Pages(store if store is not None else JobStore.default(), team, write)
    routes = [
        Route("/", pages.table, name="table"),
        Route("/api/jobs", lambda r: pages.table(r, api=True), name="api_table"),
        Route("/jobs/{job_id}", pages.job, name="job"),
        Route("/api/jobs/{job_id}", lambda r: pages.job(r, api=True), name="api_job"),
        Route("/jobs/{job_id}/circuits/{index:int}.svg", pages.circuit, name="circuit"),
        Route("/diff", pages.diff_pick, name="diff_pick"),
        Route("/diff/{a}/{b}", pages.diff, name="diff"),
        Route("/api/diff/{a}/{b}", lambda r: pages.diff(r, api=True), name="api_diff"),
        Route("/jobs/{job_id}/delete", pages.job_delete, methods=["POST"], name="job_delete"),
        Route("/jobs/{job_id}/tags", pages.job_tags, methods=["POST"], name="job_tags"),
        Mount("/static", StaticFiles(packages=[("qiskit_aer_jobstore.web", "static")]),
              name="static"),
    ]
    middleware = [
        Middleware(ServerTiming),
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts or LOOPBACK_HOSTS),
        Middleware(ReadOnly, write=write),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.pages = pages
    return app
