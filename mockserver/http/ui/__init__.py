"""The dashboard at ``/__admin/ui/``: static files shipped in the package (no build step, no CDN).

The page holds no data: it reads everything from the admin API with the token the user gives it
(kept in the tab's sessionStorage, sent as a header, never put in a URL), so the files themselves
are served without the admin token. ``GET /`` from a browser (Accept: text/html) leads here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "timeline.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# Everything comes from this server; the page runs no inline script and loads nothing from elsewhere.
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


@cache
def read(name: str) -> bytes:
    """One of the dashboard's files, as shipped."""
    return resources.files(__package__).joinpath(name).read_bytes()


def _file(name: str):
    async def serve(request: Request) -> Response:
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
        return Response(read(name), media_type=FILES[name], headers=headers)

    return serve


def routes(prefix: str) -> list[Route]:
    base = f"{prefix}/ui/"

    async def to_index(request: Request) -> Response:
        return RedirectResponse(base, status_code=307)

    return [
        Route(base.rstrip("/"), to_index, methods=["GET", "HEAD"]),
        Route(base, _file("index.html"), methods=["GET", "HEAD"]),
        *(Route(base + name, _file(name), methods=["GET", "HEAD"]) for name in FILES if name != "index.html"),
    ]


def wants_html(request: Request) -> bool:
    """A browser's navigation (Accept: text/html), not an API client."""
    return "text/html" in request.headers.get("accept", "")
